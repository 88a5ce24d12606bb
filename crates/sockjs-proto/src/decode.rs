//! Reading server frames back: `o`, `h`, `a[...]` and `c[code,"reason"]`,
//! as a client sees them.

use std::borrow::Cow;
use std::fmt;

use crate::payload::replace_lone_surrogates;

/// One decoded server frame, without its transport framing (the `\n` of
/// xhr, the WebSocket message). Messages and the close reason borrow from
/// the frame's text when they hold no JSON escape.
///
/// ```
/// use std::borrow::Cow;
/// use sockjs_proto::{decode, Decoded};
///
/// // What a transport does with each frame it reads.
/// fn handle(frame: &str, inbox: &mut Vec<String>) -> Option<(u16, String)> {
///     match decode(frame).ok()? {
///         Decoded::Open | Decoded::Heartbeat => None,
///         Decoded::Messages(messages) => {
///             inbox.extend(messages.into_iter().map(Cow::into_owned));
///             None
///         }
///         Decoded::Close { code, reason } => Some((code, reason.into_owned())),
///     }
/// }
/// let mut inbox = Vec::new();
/// assert_eq!(handle("o", &mut inbox), None);
/// assert_eq!(handle(r#"a["x","y"]"#, &mut inbox), None);
/// assert_eq!(handle(r#"c[1000,"Normal closure"]"#, &mut inbox), Some((1000, "Normal closure".into())));
/// assert_eq!(inbox, ["x", "y"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// `o`: the session is open.
    Open,
    /// `h`: a heartbeat.
    Heartbeat,
    /// `a[...]`: messages, in order.
    Messages(Vec<Cow<'a, str>>),
    /// `c[code,"reason"]`: the server closed the session.
    Close {
        /// The close code (1000, 1001, 2010, 3000–4999, ...; see
        /// [`close_code`](crate::close_code)).
        code: u16,
        /// The reason text.
        reason: Cow<'a, str>,
    },
}

impl Decoded<'_> {
    /// The frame with its text owned, so that it outlives the buffer it
    /// was decoded from.
    ///
    /// ```
    /// use sockjs_proto::{decode, Decoded};
    ///
    /// let frame: Decoded<'static> = {
    ///     let text = String::from(r#"a["kept"]"#);
    ///     decode(&text).unwrap().into_owned()
    /// };
    /// assert_eq!(frame, Decoded::Messages(vec!["kept".into()]));
    /// ```
    pub fn into_owned(self) -> Decoded<'static> {
        match self {
            Decoded::Open => Decoded::Open,
            Decoded::Heartbeat => Decoded::Heartbeat,
            Decoded::Messages(messages) => Decoded::Messages(
                messages
                    .into_iter()
                    .map(|m| Cow::Owned(m.into_owned()))
                    .collect(),
            ),
            Decoded::Close { code, reason } => Decoded::Close {
                code,
                reason: Cow::Owned(reason.into_owned()),
            },
        }
    }
}

/// What was wrong with a frame that [`decode`] refused.
///
/// ```
/// use sockjs_proto::{decode, DecodeErrorKind};
///
/// assert_eq!(decode("x").unwrap_err().kind(), DecodeErrorKind::NotAFrame);
/// assert_eq!(decode("a[1]").unwrap_err().kind(), DecodeErrorKind::BadMessages);
/// assert_eq!(decode("c[1]").unwrap_err().kind(), DecodeErrorKind::BadClose);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// Not `o`, `h`, nor starting with `a` or `c`.
    NotAFrame,
    /// An `a` frame whose rest is not a JSON array of strings.
    BadMessages,
    /// A `c` frame whose rest is not a JSON `[code, "reason"]` pair.
    BadClose,
}

/// A frame that is not SockJS; the text says what was wrong.
///
/// ```
/// use sockjs_proto::decode;
///
/// let error = decode("hello").unwrap_err();
/// assert_eq!(error.to_string(), r#"not a SockJS frame: "hello""#);
/// assert!(decode("a[1]").unwrap_err().to_string().starts_with("bad message frame"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    /// The JSON error, for `a` and `c` frames.
    detail: String,
    frame: String,
}

impl DecodeError {
    /// What kind of frame was refused.
    ///
    /// ```
    /// use sockjs_proto::{decode, DecodeErrorKind};
    ///
    /// assert_eq!(decode("oo").unwrap_err().kind(), DecodeErrorKind::NotAFrame);
    /// ```
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// Why the JSON of an `a` or `c` frame was refused (serde_json's
    /// message); empty for [`DecodeErrorKind::NotAFrame`].
    ///
    /// ```
    /// use sockjs_proto::decode;
    ///
    /// assert!(decode("a[1]").unwrap_err().detail().contains("expected a string"));
    /// assert_eq!(decode("x").unwrap_err().detail(), "");
    /// ```
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frame = &self.frame;
        match self.kind {
            DecodeErrorKind::NotAFrame => write!(f, "not a SockJS frame: {frame:?}"),
            DecodeErrorKind::BadMessages => {
                write!(f, "bad message frame {frame:?}: {}", self.detail)
            }
            DecodeErrorKind::BadClose => write!(f, "bad close frame {frame:?}: {}", self.detail),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one frame: `o` and `h` stand alone, `a` carries a JSON array of
/// strings, `c` a `[code, reason]` pair; anything else is an error.
///
/// JSON string escapes are decoded in full, surrogate pairs included. A
/// lone surrogate escape (which a JavaScript server can send but no Rust
/// string can hold) becomes U+FFFD, as a browser would render it. When no
/// message needs unescaping (the common case), the messages borrow from
/// `frame`.
///
/// ```
/// use std::borrow::Cow;
/// use sockjs_proto::{decode, Decoded};
///
/// assert_eq!(decode("o"), Ok(Decoded::Open));
/// assert_eq!(decode("h"), Ok(Decoded::Heartbeat));
/// assert_eq!(decode(r#"a["caf\u00e9"]"#), Ok(Decoded::Messages(vec!["café".into()])));
/// // A lone surrogate, as sockjs-node may send it:
/// assert_eq!(decode(r#"a["\ud800!"]"#), Ok(Decoded::Messages(vec!["\u{fffd}!".into()])));
/// assert!(decode("oh").is_err());
/// // No escape: borrowed.
/// let Ok(Decoded::Messages(m)) = decode(r#"a["plain"]"#) else { panic!() };
/// assert!(matches!(m[0], Cow::Borrowed("plain")));
/// ```
pub fn decode(frame: &str) -> Result<Decoded<'_>, DecodeError> {
    let bad = |kind: DecodeErrorKind, detail: String| DecodeError {
        kind,
        detail,
        frame: frame.to_owned(),
    };
    match frame.as_bytes().first() {
        Some(b'o') if frame.len() == 1 => Ok(Decoded::Open),
        Some(b'h') if frame.len() == 1 => Ok(Decoded::Heartbeat),
        Some(b'a') => decode_messages(&frame[1..])
            .map(Decoded::Messages)
            .map_err(|e| bad(DecodeErrorKind::BadMessages, e.to_string())),
        Some(b'c') => decode_close(&frame[1..])
            .map(|(code, reason)| Decoded::Close { code, reason })
            .map_err(|e| bad(DecodeErrorKind::BadClose, e.to_string())),
        _ => Err(bad(DecodeErrorKind::NotAFrame, String::new())),
    }
}

/// The JSON array of strings of an `a` frame.
fn decode_messages(json: &str) -> Result<Vec<Cow<'_, str>>, serde_json::Error> {
    // Succeeds exactly when every string is free of escapes.
    if let Ok(borrowed) = serde_json::from_str::<Vec<&str>>(json) {
        return Ok(borrowed.into_iter().map(Cow::Borrowed).collect());
    }
    with_lone_surrogates_replaced(json, |json| serde_json::from_slice::<Vec<String>>(json))
        .map(|owned| owned.into_iter().map(Cow::Owned).collect())
}

/// The `[code, "reason"]` pair of a `c` frame.
fn decode_close(json: &str) -> Result<(u16, Cow<'_, str>), serde_json::Error> {
    if let Ok((code, reason)) = serde_json::from_str::<(u16, &str)>(json) {
        return Ok((code, Cow::Borrowed(reason)));
    }
    with_lone_surrogates_replaced(json, |json| serde_json::from_slice::<(u16, String)>(json))
        .map(|(code, reason)| (code, Cow::Owned(reason)))
}

/// `parse(json)`, retried once with lone surrogate escapes replaced by
/// `\ufffd` when it failed and `json` has any (serde_json refuses them as
/// a syntax error; a retry of another error fails again the same way, as
/// the replacement keeps every position).
fn with_lone_surrogates_replaced<T>(
    json: &str,
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<T, serde_json::Error> {
    parse(json.as_bytes()).or_else(|e| match replace_lone_surrogates(json.as_bytes()) {
        Some(fixed) => parse(&fixed),
        None => Err(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_payload;

    fn messages(v: &[&str]) -> Decoded<'static> {
        Decoded::Messages(v.iter().map(|s| Cow::Owned(s.to_string())).collect())
    }

    #[test]
    fn frames() {
        let close = |code, reason: &'static str| Decoded::Close {
            code,
            reason: reason.into(),
        };
        let cases: Vec<(&str, Decoded<'_>)> = vec![
            ("o", Decoded::Open),
            ("h", Decoded::Heartbeat),
            ("a[]", messages(&[])),
            (r#"a["a","b"]"#, messages(&["a", "b"])),
            (r#"a["\ud83d\ude00"]"#, messages(&["😀"])),
            ("a[\"😀\"]", messages(&["😀"])),
            (
                r#"a["\u2028\u0000\ufff0\n\"\\\/"]"#,
                messages(&["\u{2028}\0\u{fff0}\n\"\\/"]),
            ),
            (r#"a["\ud800x"]"#, messages(&["\u{fffd}x"])),
            (
                r#"a["\udc00","\ud83d\u0041"]"#,
                messages(&["\u{fffd}", "\u{fffd}A"]),
            ),
            (r#"a["\\ud800"]"#, messages(&["\\ud800"])),
            (r#"a["x", "a\"b"]"#, messages(&["x", "a\"b"])),
            (r#"c[3000,"Go away!"]"#, close(3000, "Go away!")),
            (r#"c[1000,"q\"\ud800"]"#, close(1000, "q\"\u{fffd}")),
            (
                r#"c[2010,"Another connection still open"]"#,
                close(2010, "Another connection still open"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input), Ok(expected), "{input}");
        }
        for bad in [
            "",
            "oo",
            "x",
            "a",
            "a[1]",
            "a[\"x\"",
            "a[\"x\"]]",
            "c[\"x\"]",
            "c[3000]",
            "h\n",
            "c[70000,\"x\"]",
            "a[\"\\ud800",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn borrows_unescaped_messages() {
        let Ok(Decoded::Messages(m)) = decode(r#"a["x","y z"]"#) else {
            panic!("not decoded")
        };
        assert!(m.iter().all(|m| matches!(m, Cow::Borrowed(_))));
        let Ok(Decoded::Close { reason, .. }) = decode(r#"c[3000,"Go away!"]"#) else {
            panic!("not decoded")
        };
        assert!(matches!(reason, Cow::Borrowed("Go away!")));
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            decode("hello").unwrap_err().to_string(),
            r#"not a SockJS frame: "hello""#
        );
        let e = decode("c[1]").unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::BadClose);
        assert!(e.to_string().starts_with(r#"bad close frame "c[1]": "#));
    }

    #[test]
    fn every_character_round_trips() {
        let all: String = (0u32..=0x10FFFF).filter_map(char::from_u32).collect();
        let body = encode_payload(&[all.as_str(), ""]);
        assert_eq!(decode(&format!("a{body}")), Ok(messages(&[&all, ""])));
        // Through the server's encoding too.
        let frame = crate::Frame::messages([all.as_str(), ""]);
        assert_eq!(decode(frame.as_str()), Ok(messages(&[&all, ""])));
        // The escaped form of a JavaScript server: every \uXXXX, astral
        // characters as surrogate pairs.
        let mut escaped = String::from("a[\"");
        for unit in all.encode_utf16() {
            escaped.push_str(&format!("\\u{unit:04x}"));
        }
        escaped.push_str("\"]");
        assert_eq!(decode(&escaped), Ok(messages(&[&all])));
    }
}
