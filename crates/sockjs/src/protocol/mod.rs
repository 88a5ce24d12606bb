//! The SockJS wire format, pure: frames, JSON string escaping, client
//! payload parsing and the small syntax rules of URLs and callbacks.
//!
//! Nothing here touches axum, tokio or I/O, so every rule is tested with
//! plain tables next to the code and the module can be fuzzed.
//!
//! ```
//! use sockjs::protocol::{Frame, parse_payload};
//!
//! let frame = Frame::messages(["hello", "wor\u{2028}ld"]);
//! assert_eq!(frame.as_str(), r#"a["hello","wor\u2028ld"]"#);
//! assert_eq!(parse_payload(br#"["a","b"]"#).unwrap(), vec!["a", "b"]);
//! ```

mod escape;
mod frame;
mod payload;
mod syntax;

pub use escape::{escape_json_string, write_json_string};
pub(crate) use escape::{write_event_data, write_html_safe_json_string};
pub use frame::Frame;
pub use payload::{parse_payload, parse_websocket_message, PayloadError};
pub use syntax::{is_valid_callback, is_valid_iframe_name, is_valid_segment, MAX_SEGMENT_LEN};
