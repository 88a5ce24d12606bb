//! SockJS-framed WebSocket text messages: `parse_websocket_message`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs_proto::{parse_payload, parse_websocket_message};

fuzz_target!(|text: &str| {
    let got = parse_websocket_message(text);
    if text.is_empty() {
        assert_eq!(got, Ok(vec![]));
    } else if text.starts_with('[') {
        assert_eq!(got, parse_payload(text.as_bytes()));
    } else if let Ok(one) = &got {
        assert_eq!(one.len(), 1);
        assert_eq!(
            parse_payload(format!("[{text}]").as_bytes()).as_ref(),
            Ok(one)
        );
    }
});
