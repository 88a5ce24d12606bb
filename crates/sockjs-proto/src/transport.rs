//! [`Transport`]: the SockJS transports and their names.

use std::fmt;
use std::str::FromStr;

/// A SockJS transport, as sockjs-client names them.
///
/// ```
/// use sockjs_proto::Transport;
///
/// assert_eq!(Transport::EventSource.to_string(), "eventsource");
/// assert_eq!("xhr-polling".parse(), Ok(Transport::XhrPolling));
/// assert!(Transport::RawWebSocket.is_websocket());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `websocket`: SockJS framing over a WebSocket
    /// (`/<server>/<session>/websocket`).
    WebSocket,
    /// `websocket-raw`: the `/websocket` endpoint, plain text messages.
    RawWebSocket,
    /// `xhr-streaming`: one long POST response carrying the frames,
    /// messages sent with `xhr_send`.
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
    /// Every transport, in declaration order ([`index`](Self::index)).
    ///
    /// ```
    /// let names: Vec<&str> = sockjs_proto::Transport::ALL.iter().map(|t| t.name()).collect();
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

    /// The order in which the Rust client (`sockjs-axum-client`) tries
    /// transports by default: sockjs-client's order, restricted to the
    /// transports a non-browser client speaks.
    ///
    /// ```
    /// use sockjs_proto::Transport;
    ///
    /// assert_eq!(
    ///     Transport::DEFAULT_ORDER,
    ///     [Transport::WebSocket, Transport::XhrStreaming, Transport::XhrPolling]
    /// );
    /// ```
    pub const DEFAULT_ORDER: [Transport; 3] = [
        Transport::WebSocket,
        Transport::XhrStreaming,
        Transport::XhrPolling,
    ];

    /// The transport's name as sockjs-client and sockjs-node spell it.
    ///
    /// ```
    /// assert_eq!(sockjs_proto::Transport::XhrStreaming.name(), "xhr-streaming");
    /// ```
    #[inline]
    pub const fn name(self) -> &'static str {
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

    /// The transport's position in [`ALL`](Self::ALL), for tables indexed
    /// by transport.
    ///
    /// ```
    /// use sockjs_proto::Transport;
    ///
    /// for (i, t) in Transport::ALL.into_iter().enumerate() {
    ///     assert_eq!(t.index(), i);
    /// }
    /// ```
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the transport runs over a WebSocket (`websocket` or
    /// `websocket-raw`).
    ///
    /// ```
    /// use sockjs_proto::Transport;
    ///
    /// assert!(Transport::WebSocket.is_websocket());
    /// assert!(!Transport::XhrStreaming.is_websocket());
    /// ```
    #[inline]
    pub const fn is_websocket(self) -> bool {
        matches!(self, Transport::WebSocket | Transport::RawWebSocket)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a transport's (see [`Transport::name`]).
///
/// ```
/// use sockjs_proto::Transport;
///
/// let error = "xdr-streaming".parse::<Transport>().unwrap_err();
/// assert_eq!(error.to_string(), r#"unknown transport "xdr-streaming""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTransportError(String);

impl fmt::Display for ParseTransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown transport {:?}", self.0)
    }
}

impl std::error::Error for ParseTransportError {}

impl FromStr for Transport {
    type Err = ParseTransportError;

    /// Reads a transport's [`name`](Transport::name).
    ///
    /// ```
    /// use sockjs_proto::Transport;
    ///
    /// assert_eq!("htmlfile".parse(), Ok(Transport::HtmlFile));
    /// assert!("HTMLFILE".parse::<Transport>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| ParseTransportError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Transport::ALL {
            assert_eq!(t.name().parse(), Ok(t));
            assert_eq!(Transport::ALL[t.index()], t);
        }
    }
}
