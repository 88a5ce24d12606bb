//! Oracles the fuzz targets share: independent statements of what the
//! parsers must answer, written from the protocol text (the same ones as
//! `crates/sockjs/tests/properties.rs`).
#![forbid(unsafe_code)]

use sockjs::protocol::{parse_payload, Frame, PayloadError};

/// The characters PROTOCOL.md says the server must escape as `\uXXXX`.
pub fn must_escape(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1f | 0x200c..=0x200f | 0x2028..=0x202f | 0x2060..=0x206f | 0xfff0..=0xffff)
}

/// The exact escaped form of one character.
pub fn expected_escape(c: char) -> String {
    match c {
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        c if must_escape(c) => format!("\\u{:04x}", c as u32),
        c => c.to_string(),
    }
}

/// UTF-8 that serde_json reads as some JSON value (within its depth limit;
/// lone surrogate escapes allowed).
pub fn serde_says_json(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok()
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// More brackets than serde_json's depth limit could follow.
pub fn deep(body: &[u8]) -> bool {
    body.iter().filter(|b| matches!(b, b'[' | b'{')).count() > 100
}

/// The invariants of a send body's answer.
pub fn check_payload(body: &[u8], got: &Result<Vec<String>, PayloadError>) {
    if let Ok(v) = serde_json::from_slice::<Vec<String>>(body) {
        assert_eq!(got, &Ok(v), "serde_json reads an array of strings");
    }
    match got {
        Ok(messages) => {
            let frame = Frame::messages(messages);
            assert_eq!(
                parse_payload(&frame.as_str().as_bytes()[1..]).as_ref(),
                Ok(messages),
                "messages survive our encoding"
            );
        }
        Err(PayloadError::BrokenJson) => assert!(!serde_says_json(body), "JSON called broken"),
        Err(PayloadError::Expected) => assert!(
            body.is_empty() || serde_says_json(body) || deep(body),
            "not JSON called a wrong shape"
        ),
    }
}

/// The hixie-76 key number from the draft's definition, with arbitrary
/// precision (see `reference_key_number` in the property tests).
pub fn reference_key_number(key: &str) -> Option<u32> {
    let digits: Vec<u32> = key
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect();
    let spaces = key.bytes().filter(|b| *b == b' ').count() as u128;
    if digits.is_empty() || spaces == 0 {
        return None;
    }
    let mut quotient: Vec<u32> = Vec::new();
    let mut rest: u128 = 0;
    for d in digits {
        rest = rest * 10 + u128::from(d);
        quotient.push((rest / spaces) as u32);
        rest %= spaces;
    }
    if rest != 0 {
        return None;
    }
    let significant: Vec<u32> = quotient.into_iter().skip_while(|d| *d == 0).collect();
    if significant.len() > 10 {
        return None;
    }
    u32::try_from(significant.iter().fold(0u64, |n, d| n * 10 + u64::from(*d))).ok()
}
