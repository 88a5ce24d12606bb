//! The SockJS wire format as a client sees it, pure (no I/O): decoding the
//! server's frames, encoding what the client sends, splitting a streaming
//! body into frames, and reading `/info`.
//!
//! ```
//! use sockjs_client::protocol::{decode, encode_messages, Frame};
//!
//! assert_eq!(decode(r#"a["hi","\ud83d\ude00"]"#).unwrap(), Frame::Messages(vec!["hi".into(), "😀".into()]));
//! assert_eq!(
//!     decode(r#"c[3000,"Go away!"]"#).unwrap(),
//!     Frame::Close { code: 3000, reason: "Go away!".into() }
//! );
//! assert_eq!(encode_messages(&["a", "b\"c"]), r#"["a","b\"c"]"#);
//! ```

use std::borrow::Cow;
use std::fmt;

use sockjs_proto::Decoded;

/// One frame from the server, without its transport framing (the `\n` of
/// xhr, the WebSocket message).
///
/// ```
/// use sockjs_client::protocol::{decode, Frame};
///
/// // What a transport does with each frame it reads.
/// fn handle(frame: &str, inbox: &mut Vec<String>) -> Option<(u16, String)> {
///     match decode(frame).ok()? {
///         Frame::Open | Frame::Heartbeat => None,
///         Frame::Messages(messages) => {
///             inbox.extend(messages);
///             None
///         }
///         Frame::Close { code, reason } => Some((code, reason)),
///     }
/// }
/// let mut inbox = Vec::new();
/// assert_eq!(handle("o", &mut inbox), None);
/// assert_eq!(handle(r#"a["x","y"]"#, &mut inbox), None);
/// assert_eq!(handle(r#"c[1000,"Normal closure"]"#, &mut inbox), Some((1000, "Normal closure".into())));
/// assert_eq!(inbox, ["x", "y"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `o`: the session is open.
    Open,
    /// `h`: a heartbeat.
    Heartbeat,
    /// `a[...]`: one or more messages, in order.
    Messages(Vec<String>),
    /// `c[code,"reason"]`: the server closed the session.
    Close {
        /// The close code (1000, 1001, 2010, 3000–4999, ...).
        code: u16,
        /// The reason text.
        reason: String,
    },
}

/// A frame that is not SockJS; the text says what was wrong.
///
/// ```
/// use sockjs_client::protocol::decode;
///
/// let error = decode("hello").unwrap_err();
/// assert_eq!(error.to_string(), r#"not a SockJS frame: "hello""#);
/// assert!(decode("a[1]").unwrap_err().to_string().starts_with("bad message frame"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one frame: `o` and `h` stand alone, `a` carries a JSON array of
/// strings, `c` a `[code, reason]` pair; anything else is an error.
///
/// JSON string escapes are decoded in full, surrogate pairs included. A
/// lone surrogate escape (which a JavaScript server can send but no Rust
/// string can hold) becomes U+FFFD, as a browser would render it. The
/// decoder is `sockjs_proto::decode`, which borrows from the frame; this
/// one returns the frame owned.
///
/// ```
/// use sockjs_client::protocol::{decode, Frame};
///
/// assert_eq!(decode("o"), Ok(Frame::Open));
/// assert_eq!(decode("h"), Ok(Frame::Heartbeat));
/// assert_eq!(decode(r#"a["caf\u00e9"]"#), Ok(Frame::Messages(vec!["café".into()])));
/// // A lone surrogate, as sockjs-node may send it:
/// assert_eq!(decode(r#"a["\ud800!"]"#), Ok(Frame::Messages(vec!["\u{fffd}!".into()])));
/// assert!(decode("oh").is_err());
/// ```
pub fn decode(frame: &str) -> Result<Frame, DecodeError> {
    sockjs_proto::decode(frame)
        .map(Frame::from)
        .map_err(|e| DecodeError(e.to_string()))
}

impl From<Decoded<'_>> for Frame {
    fn from(frame: Decoded<'_>) -> Self {
        match frame {
            Decoded::Open => Frame::Open,
            Decoded::Heartbeat => Frame::Heartbeat,
            Decoded::Messages(messages) => {
                Frame::Messages(messages.into_iter().map(Cow::into_owned).collect())
            }
            Decoded::Close { code, reason } => Frame::Close {
                code,
                reason: reason.into_owned(),
            },
        }
    }
}

/// The body of a send (`xhr_send`) or a WebSocket message: the messages as
/// a JSON array of strings (`sockjs_proto::encode_payload`).
///
/// ```
/// use sockjs_client::protocol::encode_messages;
///
/// assert_eq!(encode_messages(&["hi", "line\nbreak"]), r#"["hi","line\nbreak"]"#);
/// assert_eq!(encode_messages::<&str>(&[]), "[]");
/// ```
pub fn encode_messages<S: AsRef<str>>(messages: &[S]) -> String {
    sockjs_proto::encode_payload(messages)
}

/// Splits a streaming xhr body into its `\n`-terminated lines, however the
/// bytes are chunked (a line, even one UTF-8 character, may span chunks).
#[derive(Debug, Default)]
pub(crate) struct Lines {
    buffer: Vec<u8>,
    /// Where the next line starts in `buffer`.
    start: usize,
}

impl Lines {
    /// Appends bytes from the body.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
        self.buffer.extend_from_slice(chunk);
    }

    /// The next complete line, without its `\n`.
    pub(crate) fn next_line(&mut self) -> Option<Result<String, DecodeError>> {
        let rest = &self.buffer[self.start..];
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&rest[..end])
            .map(str::to_owned)
            .map_err(|e| DecodeError(format!("a frame that is not UTF-8: {e}")));
        self.start += end + 1;
        if self.start > 64 * 1024 && self.start * 2 > self.buffer.len() {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        Some(line)
    }

    /// Whether bytes of an unfinished line are left.
    pub(crate) fn has_partial(&self) -> bool {
        self.start < self.buffer.len()
    }
}

/// Whether a line of an xhr body is a heartbeat or the xhr-streaming
/// prelude (2048 `h`).
pub(crate) fn is_heartbeat_line(line: &str) -> bool {
    !line.is_empty() && line.bytes().all(|b| b == b'h')
}

/// What the client uses from `/info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    /// Whether the websocket transport is served.
    pub(crate) websocket: bool,
}

/// Parses the `/info` body. Missing keys take sockjs-client's defaults.
pub(crate) fn parse_info(body: &[u8]) -> Result<Info, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| DecodeError(format!("/info is not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| DecodeError("/info is not a JSON object".into()))?;
    Ok(Info {
        websocket: object
            .get("websocket")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(v: &[&str]) -> Frame {
        Frame::Messages(v.iter().map(|s| s.to_string()).collect())
    }

    /// The client's frames are `sockjs-proto`'s decoding, owned: one case
    /// per frame kind and the error path (the decoder's own table of
    /// inputs lives in `sockjs-proto`).
    #[test]
    fn frames_are_protos_decoding_owned() {
        let cases: Vec<(&str, Frame)> = vec![
            ("o", Frame::Open),
            ("h", Frame::Heartbeat),
            (r#"a["a","\ud83d\ude00"]"#, messages(&["a", "😀"])),
            (
                r#"c[3000,"Go away!"]"#,
                Frame::Close {
                    code: 3000,
                    reason: "Go away!".into(),
                },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input), Ok(expected), "{input}");
        }
        for bad in ["", "a[1]", "c[3000]"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lines_across_chunks() {
        let mut lines = Lines::default();
        lines.push(b"hhh\no\na[\"\xf0\x9f");
        assert_eq!(lines.next_line(), Some(Ok("hhh".into())));
        assert_eq!(lines.next_line(), Some(Ok("o".into())));
        assert_eq!(lines.next_line(), None);
        assert!(lines.has_partial());
        lines.push(b"\x98\x80\"]\n");
        assert_eq!(lines.next_line(), Some(Ok("a[\"😀\"]".into())));
        assert_eq!(lines.next_line(), None);
        assert!(!lines.has_partial());
        lines.push(b"\xff\n\n");
        assert!(matches!(lines.next_line(), Some(Err(_))));
        assert_eq!(lines.next_line(), Some(Ok(String::new())));
    }

    #[test]
    fn lines_compact_long_bodies() {
        let mut lines = Lines::default();
        let line = format!("a[\"{}\"]\n", "x".repeat(1000));
        for _ in 0..500 {
            lines.push(line.as_bytes());
            assert_eq!(lines.next_line().unwrap().unwrap(), line.trim_end());
        }
        assert!(lines.buffer.len() < 200 * 1024);
    }

    #[test]
    fn heartbeat_lines() {
        assert!(is_heartbeat_line("h"));
        assert!(is_heartbeat_line(&"h".repeat(2048)));
        assert!(!is_heartbeat_line(""));
        assert!(!is_heartbeat_line("ho"));
    }

    #[test]
    fn info() {
        let body = br#"{"websocket":false,"cookie_needed":true,"origins":["*:*"],"entropy":12}"#;
        assert_eq!(parse_info(body), Ok(Info { websocket: false }));
        assert_eq!(parse_info(b"{}"), Ok(Info { websocket: true }));
        assert!(parse_info(b"[]").is_err());
        assert!(parse_info(b"Welcome").is_err());
    }
}
