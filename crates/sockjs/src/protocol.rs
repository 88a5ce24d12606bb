//! The SockJS wire format: a crate-private facade over `sockjs-proto`,
//! which holds every rule (frames, escaping, client payloads, URL syntax)
//! once for the server, the client and the test tools.

pub(crate) use sockjs_proto::{
    is_valid_callback, is_valid_iframe_name, is_valid_segment, parse_payload,
    parse_websocket_message, write_event_data, write_html_safe_json_string, write_json_string,
    Frame, MessagesFrame, PayloadError, Transport,
};
