//! SockJS frames as the client sees them (pure; no I/O).

/// A decoded server frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `o`
    Open,
    /// `h`
    Heartbeat,
    /// `a[...]`: the messages.
    Messages(Vec<String>),
    /// `c[code,"reason"]`
    Close(u16, String),
}

/// Decodes one frame (without any transport framing such as a trailing
/// `\n`).
pub fn decode(frame: &str) -> Result<Frame, String> {
    match frame.as_bytes().first() {
        Some(b'o') if frame.len() == 1 => Ok(Frame::Open),
        Some(b'h') if frame.len() == 1 => Ok(Frame::Heartbeat),
        Some(b'a') => {
            let v: Vec<String> = serde_json::from_str(&frame[1..])
                .map_err(|e| format!("bad message frame {frame:?}: {e}"))?;
            Ok(Frame::Messages(v))
        }
        Some(b'c') => {
            let (code, reason): (u16, String) = serde_json::from_str(&frame[1..])
                .map_err(|e| format!("bad close frame {frame:?}: {e}"))?;
            Ok(Frame::Close(code, reason))
        }
        _ => Err(format!("not a SockJS frame: {frame:?}")),
    }
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
                Ok(Frame::Close(3000, "Go away!".into())),
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
