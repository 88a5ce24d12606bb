//! jsonp / htmlfile callbacks from the query string (`c=` or `callback=`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs::{fuzzing, Rejection};

fuzz_target!(|query: &str| {
    for max in [Some(fuzzing::JSONP_MAX_CALLBACK), None] {
        match fuzzing::callback(Some(query), max) {
            Ok(name) => {
                assert!(!name.is_empty());
                assert!(name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)));
                assert!(max.is_none_or(|m| name.len() <= m));
            }
            Err(Rejection::CallbackRequired) => assert!(!form_has_callback(query)),
            Err(Rejection::InvalidCallback) => assert!(form_has_callback(query)),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
});

fn form_has_callback(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        let name = name.replace('+', " ");
        // Percent-decoded names: compare the decoded bytes.
        let decoded = percent_decode(&name);
        decoded == b"c" || decoded == b"callback"
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}
