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
    match serde_json::from_slice::<Vec<String>>(body) {
        Ok(messages) => Ok(messages),
        Err(e) if e.is_data() => Err(PayloadError::Expected),
        Err(_) => Err(PayloadError::BrokenJson),
    }
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
    match serde_json::from_str::<String>(text) {
        Ok(message) => Ok(vec![message]),
        Err(e) if e.is_data() => Err(PayloadError::Expected),
        Err(_) => Err(PayloadError::BrokenJson),
    }
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
