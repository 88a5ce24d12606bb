//! Client-to-server payloads: a JSON array of strings (every transport) or
//! a single JSON string (WebSocket only).

use std::fmt;

/// Why a client payload was refused. The `Display` text is the body
/// sockjs-node answers with (`Payload expected.`, `Broken JSON encoding.`).
///
/// ```
/// use sockjs_proto::{parse_payload, PayloadError};
///
/// let error = parse_payload(b"not json").unwrap_err();
/// assert_eq!(error, PayloadError::BrokenJson);
/// assert_eq!(error.to_string(), "Broken JSON encoding.");
/// assert_eq!(parse_payload(br#"{"a":1}"#), Err(PayloadError::Expected));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// The body was empty, or valid JSON that is not an array of strings.
    Expected,
    /// The body is not JSON.
    BrokenJson,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadError::Expected => "Payload expected.",
            PayloadError::BrokenJson => "Broken JSON encoding.",
        })
    }
}

impl std::error::Error for PayloadError {}

/// Parses an HTTP send body: a JSON array of strings.
///
/// Refused, as sockjs-node refuses it: an empty body, or JSON that is not
/// an array of strings, with [`PayloadError::Expected`]; anything that is
/// not JSON (`JSON.parse` would throw), a blank body included, with
/// [`PayloadError::BrokenJson`].
///
/// ```
/// use sockjs_proto::{parse_payload, PayloadError};
/// assert_eq!(parse_payload(br#"["a","\ud83d\ude00"]"#), Ok(vec!["a".into(), "😀".into()]));
/// assert_eq!(parse_payload(b""), Err(PayloadError::Expected));
/// assert_eq!(parse_payload(b"[\"a"), Err(PayloadError::BrokenJson));
/// assert_eq!(parse_payload(b"{}"), Err(PayloadError::Expected));
/// ```
pub fn parse_payload(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    if body.is_empty() {
        return Err(PayloadError::Expected);
    }
    if let Some(message) = single_plain(body).and_then(|m| std::str::from_utf8(m).ok()) {
        return Ok(vec![message.to_owned()]);
    }
    parse_json(body, |json| serde_json::from_slice::<Vec<String>>(json))
}

/// The one message of `["..."]` when it takes no unescaping: nothing
/// between the quotes is a `"`, a `\` or a control character, so the JSON
/// string is its bytes as they are. Most messages a client sends are this
/// (one message, plain text), and reading them so costs a scan instead of
/// a JSON parse; anything else (whitespace, escapes, several messages, not
/// JSON at all) goes to the parser.
fn single_plain(json: &[u8]) -> Option<&[u8]> {
    let inner = json.strip_prefix(b"[\"")?.strip_suffix(b"\"]")?;
    let plain = inner.iter().all(|&b| b != b'"' && b != b'\\' && b >= 0x20);
    plain.then_some(inner)
}

/// Parses `json` as a `T`. When that fails, the document decides the
/// error: not JSON at all is [`PayloadError::BrokenJson`], JSON of another
/// shape is [`PayloadError::Expected`] (serde's own error category cannot
/// tell: it stops at the first value of the wrong type, before the syntax
/// error behind it). A failure caused by lone surrogate escapes (which
/// JavaScript strings may hold and `JSON.stringify` writes as `\udXXX`) is
/// retried with each of them replaced by U+FFFD, as a browser does when it
/// encodes such a string to UTF-8.
///
/// `parse` is `serde_json::from_slice` for the `T` wanted (a closure, so
/// that this crate needs no direct serde dependency).
#[inline]
fn parse_json<T>(
    json: &[u8],
    parse: impl Fn(&[u8]) -> serde_json::Result<T>,
) -> Result<T, PayloadError> {
    match parse(json) {
        Ok(value) => Ok(value),
        Err(_) if !is_json(json) => Err(PayloadError::BrokenJson),
        Err(_) => match replace_lone_surrogates(json) {
            Some(fixed) => parse(&fixed).map_err(|_| PayloadError::Expected),
            None => Err(PayloadError::Expected),
        },
    }
}

/// Whether `json` is one JSON text as `JSON.parse` reads it: UTF-8,
/// optional whitespace, one value, optional whitespace. Any nesting depth
/// (no recursion), any number (`1e400` is JSON), any `\uXXXX` escape.
fn is_json(json: &[u8]) -> bool {
    if std::str::from_utf8(json).is_err() {
        return false;
    }
    let mut s = Scanner { json, at: 0 };
    // The containers open around the current position: `[` or `{`.
    let mut open: Vec<u8> = Vec::new();
    s.skip_ws();
    loop {
        // A value.
        let ok = match s.peek() {
            Some(b'[') => {
                s.at += 1;
                s.skip_ws();
                if !s.eat(b']') {
                    open.push(b'[');
                    continue;
                }
                true
            }
            Some(b'{') => {
                s.at += 1;
                s.skip_ws();
                if !s.eat(b'}') {
                    open.push(b'{');
                    if !s.key() {
                        return false;
                    }
                    continue;
                }
                true
            }
            Some(b'"') => s.string(),
            Some(b't') => s.literal(b"true"),
            Some(b'f') => s.literal(b"false"),
            Some(b'n') => s.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => s.number(),
            _ => false,
        };
        if !ok {
            return false;
        }
        // What follows a value: the end, a separator, or closing brackets.
        loop {
            s.skip_ws();
            match open.last() {
                None => return s.at == json.len(),
                Some(b'[') if s.eat(b',') => {
                    s.skip_ws();
                    break;
                }
                Some(b'{') if s.eat(b',') => {
                    s.skip_ws();
                    if !s.key() {
                        return false;
                    }
                    break;
                }
                Some(b'[') if s.eat(b']') => {
                    open.pop();
                }
                Some(b'{') if s.eat(b'}') => {
                    open.pop();
                }
                Some(_) => return false,
            }
        }
    }
}

/// A cursor over JSON text for [`is_json`].
struct Scanner<'a> {
    json: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.at += 1;
        }
        found
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let found = self.json[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    fn digits(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at > start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> bool {
        self.eat(b'-');
        let integer = self.eat(b'0') || matches!(self.peek(), Some(b'1'..=b'9')) && self.digits();
        if !integer {
            return false;
        }
        if self.eat(b'.') && !self.digits() {
            return false;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            if !self.digits() {
                return false;
            }
        }
        true
    }

    /// A string literal; raw control characters are not allowed in it.
    fn string(&mut self) -> bool {
        if !self.eat(b'"') {
            return false;
        }
        loop {
            match self.peek() {
                None | Some(0x00..=0x1f) => return false,
                Some(b'"') => {
                    self.at += 1;
                    return true;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            let hex = self.json.get(self.at + 1..self.at + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return false;
                            }
                            self.at += 5;
                        }
                        _ => return false,
                    }
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> bool {
        if !self.string() {
            return false;
        }
        self.skip_ws();
        let colon = self.eat(b':');
        self.skip_ws();
        colon
    }
}

/// `json` with every lone surrogate escape replaced by `\ufffd`, or `None`
/// when there is none.
pub(crate) fn replace_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    let escape_at = |i: usize| -> Option<u16> {
        let hex = json.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()
    };
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'\\' {
            if let Some(out) = &mut out {
                out.push(json[i]);
            }
            i += 1;
            continue;
        }
        let (len, lone) = match escape_at(i) {
            Some(0xD800..=0xDBFF) if matches!(escape_at(i + 6), Some(0xDC00..=0xDFFF)) => {
                (12, false)
            }
            Some(0xD800..=0xDFFF) => (6, true),
            Some(_) => (6, false),
            None => (2.min(json.len() - i), false),
        };
        if lone {
            out.get_or_insert_with(|| json[..i].to_vec())
                .extend_from_slice(b"\\ufffd");
        } else if let Some(out) = &mut out {
            out.extend_from_slice(&json[i..i + len]);
        }
        i += len;
    }
    out
}

/// Parses one incoming SockJS-framed WebSocket message: a JSON array of
/// strings when it starts with `[`, else a single JSON string, as
/// sockjs-node reads it. An empty message carries nothing; a blank one is
/// not JSON.
///
/// ```
/// use sockjs_proto::parse_websocket_message;
/// assert_eq!(parse_websocket_message(r#"["a","b"]"#).unwrap(), vec!["a", "b"]);
/// assert_eq!(parse_websocket_message(r#""a""#).unwrap(), vec!["a"]);
/// assert!(parse_websocket_message("").unwrap().is_empty());
/// assert!(parse_websocket_message("[\"a").is_err());
/// assert!(parse_websocket_message(" ").is_err());
/// ```
pub fn parse_websocket_message(text: &str) -> Result<Vec<String>, PayloadError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(message) = single_plain(text.as_bytes()) {
        // Cut at ASCII bytes, so still UTF-8.
        let message = &text[2..2 + message.len()];
        return Ok(vec![message.to_owned()]);
    }
    if text.starts_with('[') {
        return parse_json(text.as_bytes(), |json| {
            serde_json::from_slice::<Vec<String>>(json)
        });
    }
    parse_json(text.as_bytes(), |json| {
        serde_json::from_slice::<String>(json)
    })
    .map(|message| vec![message])
}

/// The body of a client's send (`xhr_send`) or SockJS-framed WebSocket
/// message: the messages as a JSON array of strings, each escaped only as
/// JSON requires (`"`, `\\` and control characters), as a client's
/// `JSON.stringify` writes it.
///
/// ```
/// use sockjs_proto::{encode_payload, parse_payload};
///
/// assert_eq!(encode_payload(&["hi", "line\nbreak"]), r#"["hi","line\nbreak"]"#);
/// assert_eq!(encode_payload::<&str>(&[]), "[]");
/// assert_eq!(parse_payload(encode_payload(&["a\u{2028}"]).as_bytes()).unwrap(), ["a\u{2028}"]);
/// ```
pub fn encode_payload<S: AsRef<str>>(messages: &[S]) -> String {
    let mut out =
        String::with_capacity(2 + messages.iter().map(|m| m.as_ref().len() + 3).sum::<usize>());
    out.push('[');
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing a `str` as JSON cannot fail.
        out.push_str(&serde_json::to_string(message.as_ref()).unwrap_or_default());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_json` against serde_json's own reading, on inputs without lone
    /// surrogates (where the two agree by definition): every branch of the
    /// scanner, taken and not taken.
    #[test]
    fn one_plain_message_is_read_without_the_parser() {
        for (json, plain) in [
            (&br#"["hello world"]"#[..], Some(&b"hello world"[..])),
            (br#"[""]"#, Some(b"")),
            (
                "[\"\u{7f} \u{e9}\u{2028}\"]".as_bytes(),
                Some("\u{7f} \u{e9}\u{2028}".as_bytes()),
            ),
            // Escapes, several messages, a raw control character, spaces
            // around, not an array: the parser's.
            (br#"["a\nb"]"#, None),
            (br#"["a","b"]"#, None),
            (b"[\"tab\there\"]", None),
            (br#"[ "a" ]"#, None),
            (br#""a""#, None),
            (br#"["a"#, None),
        ] {
            assert_eq!(
                single_plain(json),
                plain,
                "{:?}",
                String::from_utf8_lossy(json)
            );
        }
        // Both entry points take it, with the same answer as the parser.
        assert_eq!(
            parse_websocket_message(r#"["hi there"]"#).unwrap(),
            ["hi there"]
        );
        assert_eq!(parse_payload(br#"["hi there"]"#).unwrap(), ["hi there"]);
        assert_eq!(parse_payload(b"[\"\xff\"]"), Err(PayloadError::BrokenJson));
    }

    #[test]
    fn is_json_agrees_with_serde_json() {
        for case in [
            "[]",
            "{}",
            " [ ] ",
            "[1,2]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[[[]]]",
            "[[]",
            r#"{"a":1,"b":[true,false,null]}"#,
            r#"{"a":1,}"#,
            "{,}",
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":{"b":{}}}"#,
            r#"{"a":1]"#,
            r#"[1}"#,
            r#"{1:2}"#,
            "0",
            "-0",
            "01",
            "1.",
            "1.5",
            "1.5e+3",
            "1e-5",
            "1E-0",
            "1e",
            "1E5",
            "1e-",
            "-",
            "-a",
            "2",
            "true",
            "tru",
            "null",
            "nul",
            "false",
            "fals",
            r#""\/\b\f\n\r\t\"\\""#,
            r#""\x""#,
            r#""\u12g4""#,
            r#""\u1234""#,
            r#""\u12""#,
            "\"a\nb\"",
            "\"unterminated",
            r#" [ 1 , { "k" : "v" } ] "#,
            r#"["a"]x"#,
            "",
            " ",
            "[\"\u{e9}\"]",
        ] {
            let serde = serde_json::from_str::<serde_json::Value>(case).is_ok();
            assert_eq!(is_json(case.as_bytes()), serde, "{case:?}");
        }
    }

    /// A send whose only fault is a lone surrogate is retried with U+FFFD in
    /// its place, and nothing that merely looks like an escape is touched:
    /// an escaped quote or backslash followed by hex digits, late in the
    /// text; a trailing backslash is refused, never a panic.
    #[test]
    fn lone_surrogates_are_replaced_and_nothing_else() {
        assert_eq!(
            parse_payload(br#"["\"d800\ud800"]"#).unwrap(),
            ["\"d800\u{fffd}"]
        );
        assert_eq!(
            parse_payload(br#"["\ud800","\\ud800"]"#).unwrap(),
            ["\u{fffd}", "\\ud800"]
        );
        assert_eq!(
            parse_payload(br#"["\ud83d\ude00\udc00"]"#).unwrap(),
            ["\u{1f600}\u{fffd}"]
        );
        assert!(parse_payload(br#"["\ud800"]\"#).is_err());
        assert!(parse_payload(b"[\"\\ud800\\").is_err());
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_payload::<&str>(&[]), "[]");
        assert_eq!(encode_payload(&["x"]), r#"["x"]"#);
        assert_eq!(encode_payload(&["\n\u{1}", "é"]), "[\"\\n\\u0001\",\"é\"]");
    }

    #[test]
    fn http_payloads() {
        use PayloadError::*;
        type Case<'a> = (&'a [u8], Result<Vec<&'a str>, PayloadError>);
        let cases: &[Case<'_>] = &[
            (b"[]", Ok(vec![])),
            (b" [\"x\"] ", Ok(vec!["x"])),
            (br#"["a","b"]"#, Ok(vec!["a", "b"])),
            (br#"["\u2028\u0000"]"#, Ok(vec!["\u{2028}\u{0}"])),
            (b"", Err(Expected)),
            (b"  \n", Err(BrokenJson)),
            (b"[1,", Err(BrokenJson)),
            (b"{", Err(BrokenJson)),
            (b"{\"a\":", Err(BrokenJson)),
            (b"[\"a\",true", Err(BrokenJson)),
            (b"\"\\ud800", Err(BrokenJson)),
            (b"[1e400]", Err(Expected)),
            (b"[\"a\",1e400]", Err(Expected)),
            (b"{\"a\":[[[[1]]]]}", Err(Expected)),
            (b"[\"a", Err(BrokenJson)),
            (b"x", Err(BrokenJson)),
            (b"\xff\xfe", Err(BrokenJson)),
            (b"[\"\xff\"]", Err(BrokenJson)),
            (b"\"a\"", Err(Expected)),
            (b"1", Err(Expected)),
            (b"{}", Err(Expected)),
            (b"[1]", Err(Expected)),
            (b"[null]", Err(Expected)),
            (b"[\"a\"] x", Err(BrokenJson)),
            (br#"["\ud800"]"#, Ok(vec!["\u{fffd}"])),
            (
                br#"["a\udc00b","\ud83d\ude00"]"#,
                Ok(vec!["a\u{fffd}b", "😀"]),
            ),
            (br#"["\ud83d\u0041"]"#, Ok(vec!["\u{fffd}A"])),
            (br#"["\\ud800"]"#, Ok(vec!["\\ud800"])),
            (br#"["\ud800"#, Err(BrokenJson)),
            (br#"["\u12"]"#, Err(BrokenJson)),
            (b"[01]", Err(BrokenJson)),
            (b"[1.]", Err(BrokenJson)),
            (b"[-]", Err(BrokenJson)),
            (b"[\"\t\"]", Err(BrokenJson)),
            (b"[\"a\",]", Err(BrokenJson)),
            (b"{\"a\" 1}", Err(BrokenJson)),
            (b"[-0.5e+3, {\"a\": [null, true, false]}]", Err(Expected)),
        ];
        for (body, expected) in cases {
            let expected = expected
                .clone()
                .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(
                parse_payload(body),
                expected,
                "body {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn nesting_past_serde_json_depth_limit_is_classified_without_recursion() {
        let deep = |open: &str, close: &str, n: usize| {
            format!("[\"a\",{}1{}]", open.repeat(n), close.repeat(n)).into_bytes()
        };
        assert_eq!(
            parse_payload(&deep("[", "]", 100_000)),
            Err(PayloadError::Expected)
        );
        assert_eq!(
            parse_payload(&deep("{\"k\":", "}", 100_000)),
            Err(PayloadError::Expected)
        );
        assert_eq!(
            parse_payload(&deep("[", "", 100_000)),
            Err(PayloadError::BrokenJson)
        );
    }

    #[test]
    fn websocket_messages() {
        assert_eq!(parse_websocket_message("[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_websocket_message(" \"a\"").unwrap(), vec!["a"]);
        assert_eq!(
            parse_websocket_message("\"a"),
            Err(PayloadError::BrokenJson)
        );
        assert_eq!(parse_websocket_message("5"), Err(PayloadError::Expected));
        assert_eq!(
            parse_websocket_message(" \t"),
            Err(PayloadError::BrokenJson)
        );
        // Only a leading `[` makes a list; after whitespace the message is
        // one value, which must then be a string.
        assert_eq!(
            parse_websocket_message(" [\"a\"]"),
            Err(PayloadError::Expected)
        );
        assert_eq!(parse_websocket_message("[\"a\"] ").unwrap(), vec!["a"]);
    }
}
