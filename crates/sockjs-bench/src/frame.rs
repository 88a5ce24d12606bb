//! SockJS frames as the client sees them, and the payloads the benchmark
//! sends (plain ASCII, so a JSON string of one is the payload in quotes).

use std::borrow::Cow;

/// One server frame.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame<'a> {
    Open,
    Heartbeat,
    /// The messages of an `a[...]` frame, in order.
    Messages(Vec<Cow<'a, str>>),
    Close(&'a str),
}

/// Parses `o`, `h`, `a[...]` or `c[...]`. Single-message frames of plain
/// payloads (the common case) are parsed without allocating strings.
pub(crate) fn parse(frame: &str) -> Result<Frame<'_>, String> {
    match frame.as_bytes().first() {
        Some(b'o') if frame.len() == 1 => Ok(Frame::Open),
        Some(b'h') if frame.len() == 1 => Ok(Frame::Heartbeat),
        Some(b'c') => Ok(Frame::Close(&frame[1..])),
        Some(b'a') => {
            let body = &frame[1..];
            if let Some(inner) = body.strip_prefix("[\"").and_then(|b| b.strip_suffix("\"]")) {
                if !inner.contains(['"', '\\']) {
                    return Ok(Frame::Messages(vec![Cow::Borrowed(inner)]));
                }
            }
            serde_json::from_str::<Vec<String>>(body)
                .map(|v| Frame::Messages(v.into_iter().map(Cow::Owned).collect()))
                .map_err(|e| format!("bad a-frame {}: {e}", clip(frame)))
        }
        _ => Err(format!("unexpected frame {}", clip(frame))),
    }
}

/// The code and reason of a close frame's payload (`[3000,"Go away!"]`).
pub(crate) fn parse_close(payload: &str) -> Result<(u16, String), String> {
    serde_json::from_str::<(u16, String)>(payload)
        .map_err(|e| format!("bad close frame c{}: {e}", clip(payload)))
}

/// The echo payload of message `seq` of client `client`.
pub(crate) fn payload(client: usize, seq: u64) -> String {
    format!("{client}-{seq} sockjs-bench payload")
}

/// At most 80 characters of a frame, for error messages.
pub(crate) fn clip(s: &str) -> String {
    if s.len() <= 80 {
        format!("{s:?}")
    } else {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{:?}... ({} bytes)", &s[..end], s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let one = |s: &str| Frame::Messages(vec![Cow::Owned(s.to_string())]);
        let cases: &[(&str, Result<Frame<'_>, ()>)] = &[
            ("o", Ok(Frame::Open)),
            ("h", Ok(Frame::Heartbeat)),
            (
                "c[3000,\"Go away!\"]",
                Ok(Frame::Close("[3000,\"Go away!\"]")),
            ),
            ("a[\"x\"]", Ok(one("x"))),
            ("a[\"a\\\"b\"]", Ok(one("a\"b"))),
            (
                "a[\"x\",\"y\"]",
                Ok(Frame::Messages(vec![
                    Cow::Borrowed("x"),
                    Cow::Borrowed("y"),
                ])),
            ),
            ("a[\"x\"", Err(())),
            ("oo", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            match (parse(input), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{input}"),
                (Err(_), Err(())) => {}
                (got, _) => panic!("{input}: {got:?}"),
            }
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(
            parse_close("[1001,\"Server shutting down\"]").unwrap(),
            (1001, "Server shutting down".to_string())
        );
        assert!(parse_close("[1001]").is_err());
        assert!(parse_close("3000,\"x\"").is_err());
    }
}
