//! Session URL paths: the `<server>` and `<session>` segments
//! (`[^/.]+`, raw, at most `MAX_SEGMENT_LEN` bytes) and the iframe page
//! names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs::fuzzing;
use sockjs_proto::{is_valid_iframe_name, is_valid_segment, MAX_SEGMENT_LEN};

fuzz_target!(|path: &str| {
    let segments: Vec<&str> = path.split('/').collect();
    let want = match segments.as_slice() {
        [.., server, session, _transport] => {
            let ok =
                |s: &str| !s.is_empty() && s.len() <= MAX_SEGMENT_LEN && !s.contains(['/', '.']);
            (ok(server) && ok(session)).then_some(*session)
        }
        _ => None,
    };
    assert_eq!(fuzzing::session_id(path), want);
    for s in segments {
        assert_eq!(
            is_valid_segment(s),
            !s.is_empty() && s.len() <= MAX_SEGMENT_LEN && !s.contains('.')
        );
    }
    let iframe = path
        .strip_prefix("iframe")
        .and_then(|r| r.strip_suffix(".html"))
        .is_some_and(|m| {
            m.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
    assert_eq!(is_valid_iframe_name(path), iframe);
});
