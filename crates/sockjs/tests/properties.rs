//! Property tests of every parser that sees client bytes, through the
//! `sockjs-proto` items (the wire format the server uses) and the hidden `sockjs::fuzzing` entry
//! points (the server's own parsers): none panics on any input (arbitrary
//! bytes and strings, near-valid JSON, forms, queries, cookies, keys,
//! frames, huge and unbalanced inputs), each agrees with an independent
//! oracle written from the protocol text, and JSON escaping round-trips
//! for every Unicode scalar value.
//!
//! What sockjs-node decides for the same inputs is checked by
//! `differential.rs`.

mod inputs;

use sockjs_proto::oracle::{expected_escape, must_escape, reference_key_number, serde_says_json};

use md5::{Digest, Md5};
use proptest::prelude::*;
use sockjs::fuzzing::{self, Hixie76Frame};
use sockjs::Rejection;
use sockjs_proto::{
    escape_json_string, is_valid_callback, is_valid_iframe_name, is_valid_segment, parse_payload,
    parse_websocket_message, Frame, PayloadError, MAX_SEGMENT_LEN,
};

/// Cases per property: `PROPTEST_CASES` (`cargo xtask fuzz` raises it),
/// else 1000. A failing input is printed (shrunk), not saved to a file:
/// findings become named regression cases next to the code.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Checks an escaped JSON string: every escape is a JSON escape, `\u` ones
/// in lowercase hex, and no character that must be escaped is left raw.
fn check_escaped(out: &str) {
    let inner = &out[1..out.len() - 1];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    assert!(
                        hex.len() == 4
                            && hex
                                .chars()
                                .all(|h| h.is_ascii_digit() || ('a'..='f').contains(&h)),
                        "escape \\u{hex} in {out:?} is not 4 lowercase hex digits"
                    );
                }
                Some('"' | '\\' | 'n' | 'r' | 't' | 'b' | 'f') => {}
                other => panic!("bad escape \\{other:?} in {out:?}"),
            }
        } else {
            assert!(!must_escape(c), "raw {c:?} in {out:?}");
            assert!(c != '"', "raw quote in {out:?}");
        }
    }
}

#[test]
fn every_scalar_value_escapes_as_the_protocol_says_and_round_trips() {
    let scalars: Vec<char> = (0..=0x10ffff).filter_map(char::from_u32).collect();
    assert_eq!(scalars.len(), 1_112_064);
    for chunk in scalars.chunks(0x10000) {
        let mut expected_inner = String::new();
        for &c in chunk {
            let one = escape_json_string(c.encode_utf8(&mut [0; 4]));
            let want = expected_escape(c);
            assert_eq!(one, format!("\"{want}\""), "U+{:04X}", c as u32);
            expected_inner.push_str(&want);
        }
        let text: String = chunk.iter().collect();
        let escaped = escape_json_string(&text);
        assert_eq!(escaped, format!("\"{expected_inner}\""));
        check_escaped(&escaped);
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, text);
        // The same through a frame and our own decoder.
        let frame = Frame::messages([&text]);
        assert_eq!(
            parse_payload(&frame.as_str().as_bytes()[1..]),
            Ok(vec![text])
        );
    }
}

#[test]
fn every_lone_surrogate_escape_decodes_to_replacement_character() {
    for u in 0xD800u32..=0xDFFF {
        for escape in [format!("\\u{u:04x}"), format!("\\u{u:04X}")] {
            let body = format!("[\"a{escape}b\",\"{escape}\"]");
            assert_eq!(
                parse_payload(body.as_bytes()),
                Ok(vec!["a\u{fffd}b".to_string(), "\u{fffd}".to_string()]),
                "{body}"
            );
            let message = format!("\"{escape}\"");
            assert_eq!(
                parse_websocket_message(&message),
                Ok(vec!["\u{fffd}".to_string()]),
                "{message}"
            );
            // Two in a row: two replacement characters, whatever they are.
            let twice = format!("[\"{escape}{escape}\"]");
            let decoded = parse_payload(twice.as_bytes()).unwrap();
            assert_eq!(decoded, ["\u{fffd}\u{fffd}"], "{twice}");
        }
    }
    // A high surrogate followed by a low one is a pair, not two lone ones;
    // a low one followed by a high one is two lone ones.
    assert_eq!(
        parse_payload(br#"["\udbff\udfff","\udc00\ud800"]"#),
        Ok(vec!["\u{10ffff}".into(), "\u{fffd}\u{fffd}".into()])
    );
}

#[test]
fn every_surrogate_pair_decodes_to_its_scalar_value() {
    for high in 0xD800u32..0xDC00 {
        let items: Vec<String> = (0xDC00u32..0xE000)
            .map(|low| format!("\"\\u{high:04x}\\u{low:04X}\""))
            .collect();
        let body = format!("[{}]", items.join(","));
        let decoded = parse_payload(body.as_bytes()).unwrap();
        for (low, got) in (0xDC00u32..0xE000).zip(&decoded) {
            let scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            let want = char::from_u32(scalar).unwrap().to_string();
            assert_eq!(got, &want, "\\u{high:04x}\\u{low:04x}");
        }
    }
}

#[test]
fn huge_and_unbalanced_inputs_get_an_answer() {
    const MIB: usize = 1 << 20;
    let cases: Vec<(Vec<u8>, Result<usize, PayloadError>)> = vec![
        (b"[".repeat(MIB), Err(PayloadError::BrokenJson)),
        (b"]".repeat(MIB), Err(PayloadError::BrokenJson)),
        (b"{".repeat(MIB), Err(PayloadError::BrokenJson)),
        (b"\"".repeat(MIB), Err(PayloadError::BrokenJson)),
        (
            [b"[".repeat(MIB / 2), b"]".repeat(MIB / 2)].concat(),
            Err(PayloadError::Expected),
        ),
        (
            [b"[\"a\",".to_vec(), b"{\"k\":".repeat(MIB / 8)].concat(),
            Err(PayloadError::BrokenJson),
        ),
        (
            [
                b"[\"a\",".to_vec(),
                b"{\"k\":".repeat(MIB / 8),
                b"1".to_vec(),
                b"}".repeat(MIB / 8),
                b"]".to_vec(),
            ]
            .concat(),
            Err(PayloadError::Expected),
        ),
        (
            [b"[\"".to_vec(), b"\\\"".repeat(MIB / 2), b"\"]".to_vec()].concat(),
            Ok(1),
        ),
        (
            [b"[\"".to_vec(), b"\\ud800".repeat(MIB / 8), b"\"]".to_vec()].concat(),
            Ok(1),
        ),
        (
            [b"[".to_vec(), b"\"\",".repeat(MIB / 4), b"\"\"]".to_vec()].concat(),
            Ok(MIB / 4 + 1),
        ),
        (
            [b"[\"".to_vec(), b"\\u".repeat(MIB / 2), b"\"]".to_vec()].concat(),
            Err(PayloadError::BrokenJson),
        ),
        (
            [b"[".to_vec(), b"9".repeat(MIB), b"]".to_vec()].concat(),
            Err(PayloadError::Expected),
        ),
        (
            [b"[".to_vec(), b" ".repeat(MIB), b"]".to_vec()].concat(),
            Ok(0),
        ),
    ];
    for (body, want) in cases {
        let got = parse_payload(&body).map(|m| m.len());
        assert_eq!(
            got,
            want,
            "{}...",
            String::from_utf8_lossy(&body[..40.min(body.len())])
        );
        if let Ok(text) = std::str::from_utf8(&body) {
            let _ = parse_websocket_message(text);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn payloads_never_panic_and_answer_consistently(body in inputs::body()) {
        let got = parse_payload(&body);
        // What serde_json reads as an array of strings we read the same.
        if let Ok(v) = serde_json::from_slice::<Vec<String>>(&body) {
            prop_assert_eq!(&got, &Ok(v));
        }
        match &got {
            // Accepted messages survive our own encoding and decoding.
            Ok(messages) => {
                let frame = Frame::messages(messages);
                prop_assert_eq!(parse_payload(&frame.as_str().as_bytes()[1..]), Ok(messages.clone()));
            }
            Err(PayloadError::BrokenJson) => prop_assert!(!serde_says_json(&body)),
            Err(PayloadError::Expected) => {
                // (serde_json stops at 128 levels of nesting; we do not.)
                let deep = body.iter().filter(|b| matches!(b, b'[' | b'{')).count() > 100;
                prop_assert!(body.is_empty() || serde_says_json(&body) || deep);
            }
        }
    }

    #[test]
    fn websocket_messages_never_panic_and_lists_parse_like_bodies(text in inputs::body()
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())) {
        let got = parse_websocket_message(&text);
        if text.is_empty() {
            prop_assert_eq!(got, Ok(vec![]));
        } else if text.starts_with('[') {
            prop_assert_eq!(got, parse_payload(text.as_bytes()));
        } else if let Ok(one) = &got {
            prop_assert_eq!(one.len(), 1);
            prop_assert_eq!(parse_payload(format!("[{text}]").as_bytes()), Ok(one.clone()));
        }
    }

    #[test]
    fn strings_escape_to_lowercase_escapes_and_round_trip(s in prop_oneof![
        any::<String>(), inputs::interesting_string()]) {
        let escaped = escape_json_string(&s);
        check_escaped(&escaped);
        let back: String = serde_json::from_str(&escaped).unwrap();
        prop_assert_eq!(&back, &s);
        let expected: String = s.chars().map(expected_escape).collect();
        prop_assert_eq!(escaped, format!("\"{expected}\""));
    }

    #[test]
    fn frames_of_any_messages_decode_back(messages in prop::collection::vec(any::<String>(), 0..6)) {
        let frame = Frame::messages(&messages);
        let back: Vec<String> = match sockjs_proto::decode(frame.as_str()) {
            Ok(sockjs_proto::Decoded::Messages(back)) => back.into_iter().map(String::from).collect(),
            other => panic!("{frame:?}: {other:?}"),
        };
        prop_assert_eq!(back, messages);
    }

    #[test]
    fn jsonp_send_bodies_never_panic(
        ct in inputs::content_type(),
        body in prop_oneof![inputs::body(), inputs::form_body()],
    ) {
        match fuzzing::jsonp_send_body(ct.as_deref(), &body) {
            Ok(_) | Err(Rejection::PayloadExpected | Rejection::BrokenJson) => {}
            Err(other) => prop_assert!(false, "unexpected rejection {other:?}"),
        }
    }

    #[test]
    fn callbacks_never_panic_and_follow_the_rule(query in inputs::callback_query(), jsonp in any::<bool>()) {
        let max = jsonp.then_some(fuzzing::JSONP_MAX_CALLBACK);
        match fuzzing::callback(query.as_deref(), max) {
            Ok(name) => {
                prop_assert!(!name.is_empty());
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)));
                prop_assert!(max.is_none_or(|m| name.len() <= m));
            }
            Err(Rejection::CallbackRequired) => {
                let q = query.as_deref().unwrap_or("");
                prop_assert!(!form_urlencoded::parse(q.as_bytes()).any(|(n, _)| n == "c" || n == "callback"));
            }
            Err(Rejection::InvalidCallback) => {}
            Err(other) => prop_assert!(false, "unexpected rejection {other:?}"),
        }
    }

    #[test]
    fn callback_rule_matches_its_definition(name in prop_oneof!["[a-zA-Z0-9_.-]{0,40}", any::<String>()]) {
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        prop_assert_eq!(is_valid_callback(&name, None), valid);
        prop_assert_eq!(is_valid_callback(&name, Some(32)), valid && name.len() <= 32);
    }

    #[test]
    fn segments_and_iframe_names_follow_their_definition(s in prop_oneof![
        "[a-z0-9./%_-]{0,12}", any::<String>(), "iframe[a-z0-9._/A-Z-]{0,6}\\.html"]) {
        prop_assert_eq!(is_valid_segment(&s), !s.is_empty() && s.len() <= MAX_SEGMENT_LEN && !s.contains(['/', '.']));
        let iframe = s.strip_prefix("iframe").and_then(|r| r.strip_suffix(".html")).is_some_and(|m| {
            m.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
        prop_assert_eq!(is_valid_iframe_name(&s), iframe);
    }

    #[test]
    fn jsessionid_never_panics_and_echoes_a_pair(headers in inputs::cookie_headers()) {
        let refs: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        if let Some(value) = fuzzing::jsessionid(&refs) {
            let value = value.as_bytes();
            prop_assert!(value.starts_with(b"JSESSIONID=") && value.ends_with(b"; path=/"));
        }
    }
}

/// Keys: random text, digit runs with spaces (leading zeros, 20+ digits),
/// and well-formed keys built from a number and a space count.
fn hixie_key() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 a-zA-Z%@.١]{0,40}",
        "[0 ]{0,10}[0-9 ]{15,60}",
        (any::<u32>(), 1u64..13, any::<u64>()).prop_map(|(n, spaces, noise)| {
            let digits = (u64::from(n) * spaces).to_string();
            let mut key = String::new();
            for (i, d) in digits.chars().enumerate() {
                if (noise >> (i % 64)) & 1 == 1 {
                    key.push(char::from(b'A' + (i % 26) as u8));
                }
                key.push(d);
            }
            for i in 0..spaces as usize {
                let at = (noise as usize).wrapping_mul(i + 7) % (key.len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|j| key.is_char_boundary(*j))
                    .unwrap_or(0);
                key.insert(at, ' ');
            }
            key
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hixie76_keys_match_the_reference(key in hixie_key()) {
        prop_assert_eq!(fuzzing::hixie76_key_number(&key), reference_key_number(&key));
    }

    #[test]
    fn hixie76_answer_is_the_md5_of_the_numbers_and_the_body(
        key1 in hixie_key(), key2 in hixie_key(), key3 in any::<[u8; 8]>()) {
        let want = match (reference_key_number(&key1), reference_key_number(&key2)) {
            (Some(a), Some(b)) => {
                let mut md5 = Md5::new();
                md5.update(a.to_be_bytes());
                md5.update(b.to_be_bytes());
                md5.update(key3);
                Some(<[u8; 16]>::from(md5.finalize()))
            }
            _ => None,
        };
        prop_assert_eq!(fuzzing::hixie76_challenge_response(&key1, &key2, &key3), want);
    }

    #[test]
    fn hixie76_frames_are_read_within_their_bounds(buf in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(prop::sample::select(vec![0x00u8, 0xFF, b'a', 0x80, 0xC3]), 0..12),
    ]) {
        let want = match buf.as_slice() {
            [] | [0xFF] => Hixie76Frame::Incomplete,
            [0x00, rest @ ..] => match rest.iter().position(|b| *b == 0xFF) {
                Some(len) => Hixie76Frame::Text(len),
                None => Hixie76Frame::Incomplete,
            },
            [0xFF, 0x00, ..] => Hixie76Frame::Close,
            _ => Hixie76Frame::Invalid,
        };
        let got = fuzzing::hixie76_parse_frame(&buf);
        prop_assert_eq!(got, want);
        if let Hixie76Frame::Text(len) = got {
            // The frame, its end marker included, lies inside the buffer.
            prop_assert!(len + 2 <= buf.len());
            prop_assert_eq!(buf[len + 1], 0xFF);
            prop_assert!(!buf[1..=len].contains(&0xFF));
        }
    }
}

#[test]
fn hixie76_key_edge_cases() {
    for (key, want) in [
        ("1 2", Some(12)),
        (" 4294967295", Some(u32::MAX)),
        (" 4294967296", None),
        ("  8589934590", Some(u32::MAX)),
        ("  8589934592", None),
        (" 0000000000000000000000000000007", Some(7)),
        (" 99999999999999999999", None),
        (" 18446744073709551615", None),
        ("no digits at all", None),
        ("12345", None),
        (" ", None),
        ("", None),
        (" ١٢", None),
    ] {
        assert_eq!(fuzzing::hixie76_key_number(key), want, "{key:?}");
        assert_eq!(reference_key_number(key), want, "reference {key:?}");
    }
}
