//! Oracles the fuzz targets share: independent statements of what the
//! parsers must answer, written from the protocol text. Those the property
//! tests use too are `sockjs_proto::oracle` (feature `oracle`).
#![forbid(unsafe_code)]

pub use sockjs_proto::oracle::{
    expected_escape, must_escape, reference_key_number, serde_says_json,
};

use sockjs_proto::{parse_payload, Frame, PayloadError};

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
