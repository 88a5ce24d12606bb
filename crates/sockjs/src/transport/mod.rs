//! The transports: one module per family, each an axum handler.
//!
//! - [`websocket`]: SockJS-framed `/<server>/<session>/websocket` (RFC 6455
//!   and the legacy hixie-76 handshake) and the raw `/websocket` endpoint,
//!   each connection ending with a clean closing handshake;
//! - [`xhr`]: `xhr` polling and `xhr_send`;
//! - [`streaming`]: the response body every HTTP receiving transport shares
//!   (prelude, frames, heartbeats, `response_limit`), with
//!   [`xhr_streaming`], [`eventsource`] and [`htmlfile`] plugged into it;
//! - [`jsonp`]: `jsonp` polling and `jsonp_send`.

pub(crate) mod eventsource;
pub(crate) mod htmlfile;
pub(crate) mod jsonp;
mod request;
pub(crate) mod streaming;
pub(crate) mod websocket;
pub(crate) mod xhr;
pub(crate) mod xhr_streaming;

pub(crate) use request::{connection_info, session_segments, SessionPath};

/// A SockJS transport, as sockjs-client names them (defined in
/// `sockjs-proto`, shared with the client).
///
/// ```
/// use sockjs::{Config, Transport};
///
/// // WebSockets and xhr-streaming only.
/// let config = Transport::ALL
///     .into_iter()
///     .filter(|t| !matches!(t, Transport::WebSocket | Transport::XhrStreaming))
///     .fold(Config::default(), Config::disable);
/// assert!(config.is_enabled(Transport::WebSocket));
/// assert!(!config.is_enabled(Transport::EventSource));
/// assert_eq!(Transport::EventSource.to_string(), "eventsource");
/// ```
#[doc(inline)]
pub use sockjs_proto::Transport;

/// `transport`'s bit in a set of transports (`Config`'s enabled ones).
pub(crate) fn bit(transport: Transport) -> u16 {
    1 << transport.index()
}
