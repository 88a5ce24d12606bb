//! SockJS frames as the client sees them (pure; no I/O). The decoder is
//! `sockjs_proto::decode`, the Rust client's and the load generator's too,
//! so every client of this workspace reads frames alike; frames come out
//! owned, as the Rust client's [`Frame`].

pub use sockjs_client::protocol::Frame;

/// Decodes one frame (without any transport framing such as a trailing
/// `\n`).
pub fn decode(frame: &str) -> Result<Frame, String> {
    sockjs_proto::decode(frame)
        .map(Frame::from)
        .map_err(|e| e.to_string())
}

/// A JSON string literal for `s` as a strict, minimal encoder writes it
/// (only `"`, `\` and control characters escaped).
pub fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings always encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames() {
        let cases = [
            ("o", Ok(Frame::Open)),
            ("h", Ok(Frame::Heartbeat)),
            (
                "a[\"a\",\"\\ud83d\\ude00\"]",
                Ok(Frame::Messages(vec!["a".into(), "😀".into()])),
            ),
            (
                "c[3000,\"Go away!\"]",
                Ok(Frame::Close {
                    code: 3000,
                    reason: "Go away!".into(),
                }),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input), expected, "{input}");
        }
        for bad in ["", "oo", "x", "a[1]", "a", "c[\"x\"]", "h\n"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_strings() {
        assert_eq!(json_string("a\"\\\n"), r#""a\"\\\n""#);
    }
}
