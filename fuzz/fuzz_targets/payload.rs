//! xhr_send / jsonp_send text bodies: `sockjs_proto::parse_payload`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let got = sockjs_proto::parse_payload(body);
    sockjs_fuzz::check_payload(body, &got);
});
