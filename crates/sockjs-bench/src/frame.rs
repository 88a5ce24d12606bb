//! SockJS frames as the client sees them (decoded by `sockjs-proto`), and the payloads the benchmark
//! sends (plain ASCII, so a JSON string of one is the payload in quotes).

use sockjs_proto::DecodeErrorKind;

/// One server frame (`sockjs_proto`'s: messages without escapes borrow
/// from the frame's text, the common case of the benchmark's payloads).
pub(crate) use sockjs_proto::Decoded as Frame;

/// Decodes `o`, `h`, `a[...]` or `c[...]`; the error quotes at most 80
/// characters of the frame.
pub(crate) fn parse(frame: &str) -> Result<Frame<'_>, String> {
    sockjs_proto::decode(frame).map_err(|e| match e.kind() {
        DecodeErrorKind::BadMessages => format!("bad a-frame {}: {}", clip(frame), e.detail()),
        DecodeErrorKind::BadClose => format!("bad close frame {}: {}", clip(frame), e.detail()),
        _ => format!("unexpected frame {}", clip(frame)),
    })
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
    fn errors_are_clipped() {
        let long = format!("a[\"{}", "x".repeat(1000));
        let e = parse(&long).unwrap_err();
        assert!(e.starts_with("bad a-frame ") && e.len() < 300, "{e}");
        assert!(parse("oo").unwrap_err().starts_with("unexpected frame"));
        assert_eq!(
            parse("c[1001,\"Server shutting down\"]"),
            Ok(Frame::Close {
                code: 1001,
                reason: "Server shutting down".into()
            })
        );
    }
}
