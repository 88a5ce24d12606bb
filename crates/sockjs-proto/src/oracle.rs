//! Oracles: what the parsers must answer, stated independently of them,
//! the slow and obvious way, from the protocol text. Shared by
//! sockjs-axum's property tests (`tests/properties.rs`) and the libFuzzer
//! targets (`fuzz/`), so that both check the same statements. Behind the
//! `oracle` feature: tests only.
//!
//! ```
//! use sockjs_proto::{escape_json_string, oracle::expected_escape};
//!
//! let s = "a\u{2028}\"";
//! let expected: String = s.chars().map(expected_escape).collect();
//! assert_eq!(escape_json_string(s), format!("\"{expected}\""));
//! ```

/// The characters PROTOCOL.md says the server must escape as `\uXXXX`
/// (besides what JSON requires).
///
/// ```
/// use sockjs_proto::oracle::must_escape;
///
/// assert!(must_escape('\u{2028}') && must_escape('\u{1}'));
/// assert!(!must_escape('a') && !must_escape('"'));
/// ```
pub fn must_escape(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1f | 0x200c..=0x200f | 0x2028..=0x202f | 0x2060..=0x206f | 0xfff0..=0xffff)
}

/// The exact escaped form of one character, from the protocol text.
///
/// ```
/// use sockjs_proto::oracle::expected_escape;
///
/// assert_eq!(expected_escape('\n'), "\\n");
/// assert_eq!(expected_escape('\u{fff0}'), "\\ufff0");
/// assert_eq!(expected_escape('é'), "é");
/// ```
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

/// A JSON syntax oracle for the error class: UTF-8 that serde_json reads
/// as some JSON value (lone surrogates allowed), within its depth limit.
/// (serde_json skips the bytes of ignored strings unchecked, hence the
/// separate UTF-8 test.) A raw value is read as `serde::de::IgnoredAny`
/// is: skipped, unchecked.
///
/// ```
/// use sockjs_proto::oracle::serde_says_json;
///
/// assert!(serde_says_json(br#" [1e400, "\ud800"] "#));
/// assert!(!serde_says_json(b"[1,") && !serde_says_json(b"\xff"));
/// ```
pub fn serde_says_json(body: &[u8]) -> bool {
    std::str::from_utf8(body).is_ok()
        && serde_json::from_slice::<Box<serde_json::value::RawValue>>(body).is_ok()
}

/// The hixie-76 key number from the draft's definition, with arbitrary
/// precision: the ASCII digits read as one decimal number, divided by the
/// number of spaces; `None` without spaces or digits, when the division
/// leaves a remainder, or when the quotient does not fit 32 bits.
///
/// ```
/// use sockjs_proto::oracle::reference_key_number;
///
/// // 1234 divided by two spaces.
/// assert_eq!(reference_key_number("1 2x3 4"), Some(617));
/// assert_eq!(reference_key_number("1 2 3"), None, "123 / 2 leaves a remainder");
/// assert_eq!(reference_key_number("1234"), None);
/// ```
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
    // Long division, digit by digit.
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
    let value = significant.iter().fold(0u64, |n, d| n * 10 + u64::from(*d));
    u32::try_from(value).ok()
}
