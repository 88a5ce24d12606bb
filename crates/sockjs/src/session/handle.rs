//! [`Session`]: the halves plus the facts of the connection that opened it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap};

use super::core::Core;
use super::halves::{halves, Receiver, Sender};
use crate::config::QueueFullPolicy;
use crate::metrics::SessionMetrics;
use crate::rooms::Rooms;
use crate::transport::Transport;

/// Request headers a session may see: those sockjs-node exposes. `Cookie`
/// and `Authorization` are never among them; use
/// [`Session::extensions`] for what an auth layer decided.
pub(crate) const SAFE_HEADERS: &[&str] = &[
    "referer",
    "x-client-ip",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-cluster-client-ip",
    "via",
    "x-real-ip",
    "x-forwarded-proto",
    "x-ssl",
    "dnt",
    "host",
    "user-agent",
    "accept-language",
];

/// Facts of the request that opened a session.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionInfo {
    pub(crate) transport: Transport,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) version: http::Version,
    pub(crate) compressed: bool,
    pub(crate) headers: HeaderMap,
    pub(crate) path: String,
    pub(crate) prefix: String,
    pub(crate) extensions: Extensions,
}

impl ConnectionInfo {
    /// Keeps only the [`SAFE_HEADERS`] of `all`.
    pub(crate) fn safe_headers(all: &HeaderMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for name in SAFE_HEADERS {
            for value in all.get_all(*name) {
                headers.append(*name, value.clone());
            }
        }
        headers
    }
}

/// One SockJS session, as the application's handler receives it: the
/// connection facts, and the [`Sender`] / [`Receiver`] halves
/// ([`split`](Self::split)).
///
/// ```
/// async fn handler(session: sockjs::Session) {
///     println!("{} session from {:?}", session.transport(), session.remote_addr());
///     let (tx, _rx) = session.split();
///     let _ = tx.send("welcome").await;
/// }
/// # let _ = handler;
/// ```
pub struct Session {
    sender: Sender,
    receiver: Receiver,
    info: Arc<ConnectionInfo>,
}

impl Session {
    pub(crate) fn new(
        info: ConnectionInfo,
        capacity: usize,
        policy: QueueFullPolicy,
        rooms: Rooms,
        metrics: SessionMetrics,
    ) -> (Session, Arc<Core>) {
        let core = Core::new(capacity, rooms, metrics);
        let (sender, receiver) = halves(core.clone(), policy);
        let session = Session {
            sender,
            receiver,
            info: Arc::new(info),
        };
        (session, core)
    }

    /// Splits the session into its sending and receiving halves.
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// The sending half, without splitting.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The transport of the request that opened the session.
    pub fn transport(&self) -> Transport {
        self.info.transport
    }

    /// The HTTP version of the request that opened the session: a browser
    /// uses HTTP/2 over TLS when the server offers it (ALPN), WebSockets
    /// included when the server allows extended CONNECT (axum does).
    pub fn http_version(&self) -> http::Version {
        self.info.version
    }

    /// Whether the session's WebSocket compresses its messages
    /// (permessage-deflate, negotiated when
    /// `Config::websocket_compression` is on and the client offers it).
    pub fn is_compressed(&self) -> bool {
        self.info.compressed
    }

    /// The client's address, when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// The opening request's headers, limited to the list sockjs-node
    /// exposes (`Referer`, `X-Forwarded-For`, `Host`, `User-Agent`, ...);
    /// never `Cookie` or `Authorization`.
    pub fn headers(&self) -> &HeaderMap {
        &self.info.headers
    }

    /// The path of the opening request, prefix included
    /// (`/echo/000/abc/xhr_streaming`).
    pub fn path(&self) -> &str {
        &self.info.path
    }

    /// The path the service is nested at (`/echo`).
    pub fn prefix(&self) -> &str {
        &self.info.prefix
    }

    /// The opening request's extensions: what tower layers in front put
    /// there (authentication claims, request ids, ...).
    pub fn extensions(&self) -> &Extensions {
        &self.info.extensions
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("transport", &self.info.transport)
            .field("remote_addr", &self.info.remote_addr)
            .field("path", &self.info.path)
            .finish()
    }
}
