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

use std::fmt;

pub(crate) use request::{connection_info, session_segments, SessionPath};

/// A SockJS transport, as sockjs-client names them.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `websocket`: SockJS framing over a WebSocket.
    WebSocket,
    /// `websocket-raw`: the `/websocket` endpoint, plain text messages.
    RawWebSocket,
    /// `xhr-streaming`: one long POST response, messages sent with `xhr_send`.
    XhrStreaming,
    /// `xhr-polling`: one POST per frame, messages sent with `xhr_send`.
    XhrPolling,
    /// `eventsource`: Server-Sent Events.
    EventSource,
    /// `htmlfile`: a long HTML page of `<script>` tags (old IE).
    HtmlFile,
    /// `jsonp-polling`: one `<script>` per frame, messages sent with `jsonp_send`.
    JsonpPolling,
}

impl Transport {
    /// Every transport.
    ///
    /// ```
    /// let names: Vec<&str> = sockjs::Transport::ALL.iter().map(|t| t.name()).collect();
    /// assert_eq!(names[..2], ["websocket", "websocket-raw"]);
    /// ```
    pub const ALL: [Transport; 7] = [
        Transport::WebSocket,
        Transport::RawWebSocket,
        Transport::XhrStreaming,
        Transport::XhrPolling,
        Transport::EventSource,
        Transport::HtmlFile,
        Transport::JsonpPolling,
    ];

    /// The transport's name as sockjs-client and sockjs-node spell it.
    ///
    /// ```
    /// assert_eq!(sockjs::Transport::XhrStreaming.name(), "xhr-streaming");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::RawWebSocket => "websocket-raw",
            Transport::XhrStreaming => "xhr-streaming",
            Transport::XhrPolling => "xhr-polling",
            Transport::EventSource => "eventsource",
            Transport::HtmlFile => "htmlfile",
            Transport::JsonpPolling => "jsonp-polling",
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
