//! The transports: [`websocket`] (SockJS framing over a WebSocket) and
//! [`xhr`] (xhr-streaming and xhr-polling, which share their sending and
//! their frame reading). Each opens a session (up to its `o` frame), then
//! runs as the connection's task between the server and the
//! [`Connection`](crate::Connection)'s channels ([`crate::driver`]).

pub(crate) mod websocket;
pub(crate) mod xhr;

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;

use crate::error::Error;
use crate::net::{Connector, Http, Jar};
use crate::url::ServiceUrl;

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

/// Where one session lives and what its requests carry.
pub(crate) struct Target {
    pub(crate) url: ServiceUrl,
    /// `/<server>/<session>`.
    pub(crate) session: String,
    /// The caller's extra headers, on every request.
    pub(crate) headers: HeaderMap,
    pub(crate) connector: Connector,
    pub(crate) http: Http,
    pub(crate) jar: Arc<Jar>,
}

impl Target {
    /// `http://.../<server>/<session>/<name>?query`.
    pub(crate) fn http_url(&self, name: &str) -> String {
        self.url.http(&format!("{}/{name}", self.session))
    }

    /// `ws://.../<server>/<session>/<name>?query`.
    pub(crate) fn ws_url(&self, name: &str) -> String {
        self.url.ws(&format!("{}/{name}", self.session))
    }
}

/// A session opened on one transport, ready to run.
/// Both boxed: they are hundreds of bytes apart (with all features), and
/// each connection opens one.
pub(crate) enum Opened {
    WebSocket(Box<websocket::Ws>),
    Xhr(Box<xhr::Xhr>),
}

impl Opened {
    pub(crate) fn transport(&self) -> Transport {
        match self {
            Opened::WebSocket(_) => Transport::WebSocket,
            Opened::Xhr(xhr) => xhr.transport(),
        }
    }
}

/// Opens a session on `transport`: returns once the server sent `o`.
pub(crate) async fn open(transport: Transport, target: Target) -> Result<Opened, Error> {
    match transport {
        Transport::WebSocket => websocket::open(&target)
            .await
            .map(|ws| Opened::WebSocket(Box::new(ws))),
        Transport::XhrStreaming | Transport::XhrPolling => xhr::open(target, transport)
            .await
            .map(|xhr| Opened::Xhr(Box::new(xhr))),
    }
}
