//! [`Transport`]: which SockJS transport a connection uses, and its name.

use std::fmt;

/// A SockJS transport this client speaks, as sockjs-client names them.
///
/// ```
/// use axum::Router;
/// use sockjs_client::{Client, Transport};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// let app: Router = Router::new().nest(
///     "/where",
///     sockjs::router(|session: sockjs::Session| async move {
///         let _ = session.sender().send(session.transport().name()).await;
///     }),
/// );
/// // The server sees the transport the client picked, by the same name.
/// for transport in Transport::DEFAULT_ORDER {
///     let mut connection = Client::in_process(app.clone()).transport(transport).open("/where").await?;
///     assert_eq!(connection.recv().await?, transport.name());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// `websocket`: SockJS framing over a WebSocket
    /// (`/<server>/<session>/websocket`).
    WebSocket,
    /// `xhr-streaming`: one long POST response carrying the frames,
    /// renewed whenever the server ends it (`response_limit`); messages go
    /// out with `xhr_send`.
    XhrStreaming,
    /// `xhr-polling`: one POST per frame; messages go out with `xhr_send`.
    /// The session lives only while the client polls: one whose
    /// application leaves its messages unread (see [`Receiver`](crate::Receiver))
    /// stops polling, and the server ends the session after its
    /// `disconnect_delay`.
    XhrPolling,
}

impl Transport {
    /// The transports in the order they are tried by default, sockjs-client's.
    ///
    /// ```
    /// use sockjs_client::{Client, Transport};
    ///
    /// // The default order, without the WebSocket (behind a proxy that drops it, say).
    /// let client = Client::new().transports(
    ///     Transport::DEFAULT_ORDER.into_iter().filter(|t| *t != Transport::WebSocket),
    /// );
    /// # let _ = client;
    /// assert_eq!(Transport::DEFAULT_ORDER[0], Transport::WebSocket);
    /// ```
    pub const DEFAULT_ORDER: [Transport; 3] = [
        Transport::WebSocket,
        Transport::XhrStreaming,
        Transport::XhrPolling,
    ];

    /// The transport's name as sockjs-client and sockjs-node spell it.
    ///
    /// ```
    /// assert_eq!(sockjs_client::Transport::XhrStreaming.name(), "xhr-streaming");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::XhrStreaming => "xhr-streaming",
            Transport::XhrPolling => "xhr-polling",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
