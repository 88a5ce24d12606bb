//! jsonp_send bodies with a Content-Type: the first input line is the
//! header value, the rest the body (forms with `d=`, or raw JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs::{fuzzing, Rejection};

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (Some(&data[..i]), &data[i + 1..]),
        None => (None, data),
    };
    let got = fuzzing::jsonp_send_body(content_type, body);
    assert!(
        matches!(
            got,
            Ok(_) | Err(Rejection::PayloadExpected | Rejection::BrokenJson)
        ),
        "{got:?}"
    );
    // A text body answers like any send body.
    if content_type.is_none() {
        let direct = sockjs_proto::parse_payload(body).map_err(Rejection::from);
        assert_eq!(got, direct);
    }
});
