//! The SockJS wire format, pure: frames, JSON string escaping, client
//! payloads, the small syntax rules of URLs and callbacks, close codes and
//! transport names.
//!
//! Nothing here touches I/O: every rule is tested with plain tables next
//! to the code, and the parsers can be fuzzed. The server (`sockjs-axum`),
//! the Rust client (`sockjs-axum-client`), the conformance suite and the
//! load generator all use this crate, so each rule has one implementation.
//!
//! ```
//! use sockjs_proto::{decode, parse_payload, Decoded, Frame};
//!
//! // The server encodes...
//! let frame = Frame::messages(["hello", "wor\u{2028}ld"]);
//! assert_eq!(frame.as_str(), r#"a["hello","wor\u2028ld"]"#);
//! // ...the client decodes...
//! assert_eq!(decode(frame.as_str()).unwrap(), Decoded::Messages(vec!["hello".into(), "wor\u{2028}ld".into()]));
//! // ...and what the client sends, the server parses.
//! assert_eq!(parse_payload(br#"["a","b"]"#).unwrap(), vec!["a", "b"]);
//! ```
#![forbid(unsafe_code)]

mod close;
mod decode;
mod encode;
mod escape;
#[cfg(feature = "oracle")]
pub mod oracle;
mod payload;
mod syntax;
mod transport;

pub use close::close_code;
pub use decode::{decode, DecodeError, DecodeErrorKind, Decoded};
pub use encode::{Frame, MessagesFrame};
pub use escape::{
    escape_json_string, write_event_data, write_html_safe_json_string, write_json_string,
};
pub use payload::{encode_payload, parse_payload, parse_websocket_message, PayloadError};
pub use syntax::{is_valid_callback, is_valid_iframe_name, is_valid_segment, MAX_SEGMENT_LEN};
pub use transport::{ParseTransportError, Transport};
