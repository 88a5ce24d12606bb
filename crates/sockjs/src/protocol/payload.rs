//! Client-to-server payloads: a JSON array of strings (every transport) or
//! a single JSON string (WebSocket only).

use std::fmt;

/// Why a client payload was refused. The `Display` text is the body
/// sockjs-node answers with (`Payload expected.`, `Broken JSON encoding.`).
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
/// ```
/// use sockjs::protocol::{parse_payload, PayloadError};
/// assert_eq!(parse_payload(br#"["a","\ud83d\ude00"]"#), Ok(vec!["a".into(), "😀".into()]));
/// assert_eq!(parse_payload(b""), Err(PayloadError::Expected));
/// assert_eq!(parse_payload(b"[\"a"), Err(PayloadError::BrokenJson));
/// assert_eq!(parse_payload(b"{}"), Err(PayloadError::Expected));
/// ```
pub fn parse_payload(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(PayloadError::Expected);
    }
    parse_json(body)
}

/// Parses `json`; a failure caused by lone surrogate escapes (which
/// JavaScript strings may hold and `JSON.stringify` writes as `\udXXX`) is
/// retried with each of them replaced by U+FFFD, as a browser does when it
/// encodes such a string to UTF-8.
fn parse_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, PayloadError> {
    let classify = |e: serde_json::Error| {
        if e.is_data() {
            PayloadError::Expected
        } else {
            PayloadError::BrokenJson
        }
    };
    match serde_json::from_slice(json) {
        Ok(value) => Ok(value),
        Err(e) if e.is_syntax() => match replace_lone_surrogates(json) {
            Some(fixed) => serde_json::from_slice(&fixed).map_err(classify),
            None => Err(classify(e)),
        },
        Err(e) => Err(classify(e)),
    }
}

/// `json` with every lone surrogate escape replaced by `\ufffd`, or `None`
/// when there is none.
fn replace_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
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
/// strings or a single JSON string. An empty message carries nothing.
///
/// ```
/// use sockjs::protocol::parse_websocket_message;
/// assert_eq!(parse_websocket_message(r#"["a","b"]"#).unwrap(), vec!["a", "b"]);
/// assert_eq!(parse_websocket_message(r#""a""#).unwrap(), vec!["a"]);
/// assert!(parse_websocket_message("").unwrap().is_empty());
/// assert!(parse_websocket_message("[\"a").is_err());
/// ```
pub fn parse_websocket_message(text: &str) -> Result<Vec<String>, PayloadError> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.starts_with('[') {
        return parse_payload(text.as_bytes());
    }
    parse_json::<String>(text.as_bytes()).map(|message| vec![message])
}

#[cfg(test)]
mod tests {
    use super::*;

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
            (b"  \n", Err(Expected)),
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
    fn websocket_messages() {
        assert_eq!(parse_websocket_message("[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_websocket_message(" \"a\"").unwrap(), vec!["a"]);
        assert_eq!(
            parse_websocket_message("\"a"),
            Err(PayloadError::BrokenJson)
        );
        assert_eq!(parse_websocket_message("5"), Err(PayloadError::Expected));
    }
}
