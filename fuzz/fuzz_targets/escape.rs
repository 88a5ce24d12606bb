//! JSON string escaping for frames: exact escaped form, lowercase
//! `\uXXXX`, and a round trip through serde_json and our own parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_fuzz::expected_escape;
use sockjs_proto::{escape_json_string, parse_payload, Frame};

fuzz_target!(|s: &str| {
    let escaped = escape_json_string(s);
    let expected: String = s.chars().map(expected_escape).collect();
    assert_eq!(escaped, format!("\"{expected}\""));
    let back: String = serde_json::from_str(&escaped).unwrap();
    assert_eq!(back, s);
    let frame = Frame::messages([s, s]);
    assert_eq!(
        parse_payload(&frame.as_str().as_bytes()[1..]),
        Ok(vec![s.to_string(), s.to_string()])
    );
});
