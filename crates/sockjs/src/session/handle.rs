//! [`Session`]: the halves plus the facts of the connection that opened it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap};

use super::budget::Bounds;
use super::connection::ConnectionInfo;
use super::core::Core;
use super::json::{self, JsonReceiver, JsonSender};
use super::lifeline::Lifeline;
use super::receiver::Receiver;
use super::sender::Sender;
use crate::config::QueueFullPolicy;
use crate::metrics::SessionMetrics;
use crate::protocol::Transport;
use crate::rooms::Rooms;

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
        bounds: Bounds,
        policy: QueueFullPolicy,
        rooms: Rooms,
        metrics: SessionMetrics,
    ) -> (Session, Arc<Core>) {
        let core = Core::new(bounds, rooms, metrics);
        let life = Arc::new(Lifeline(core.clone()));
        let sender = Sender::new(core.clone(), policy, life.clone());
        let receiver = Receiver::new(core.clone(), life);
        let session = Session {
            sender,
            receiver,
            info: Arc::new(info),
        };
        (session, core)
    }

    /// Splits the session into its sending and receiving halves.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, mut rx) = session.split();
    ///     // The sender is cloneable: hand copies to other tasks.
    ///     let _for_later = tx.clone();
    ///     while let Some(message) = rx.recv().await {
    ///         let _ = tx.send(message).await;
    ///     }
    /// }
    /// # let _ = handler;
    /// ```
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// Splits the session into typed halves: a [`JsonSender`] that sends
    /// `Out` values as JSON text messages, and a [`JsonReceiver`] that
    /// decodes the client's messages as `In`. A message that does not
    /// decode closes the session with 1007 `Message not understood` (see
    /// [`JsonReceiver`]).
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use sockjs_client::Client;
    ///
    /// #[derive(Deserialize)]
    /// struct Question { a: i64, b: i64 }
    /// #[derive(Serialize)]
    /// struct Answer { sum: i64 }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: axum::Router = axum::Router::new().nest(
    ///     "/add",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let (tx, mut rx) = session.json::<Question, Answer>();
    ///         while let Some(Question { a, b }) = rx.recv().await {
    ///             let _ = tx.send(&Answer { sum: a + b }).await;
    ///         }
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/add").await?;
    /// connection.send(r#"{"a":2,"b":3}"#).await?;
    /// assert_eq!(connection.recv().await?, r#"{"sum":5}"#);
    /// // Anything else ends the session with 1007.
    /// connection.send("not a question").await?;
    /// match connection.recv().await {
    ///     Err(sockjs_client::Error::Closed { code, reason }) => {
    ///         assert_eq!((code, reason.as_str()), (1007, "Message not understood"));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn json<In, Out>(self) -> (JsonSender<Out>, JsonReceiver<In>)
    where
        In: serde::de::DeserializeOwned,
        Out: serde::Serialize,
    {
        json::halves(self.sender, self.receiver)
    }

    /// The sending half, without splitting.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let _ = session.sender().send(format!("welcome to {}", session.prefix())).await;
    /// }
    /// # let _ = handler;
    /// ```
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The transport of the request that opened the session.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Session, Transport};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/feed",
    ///     sockjs::router(|session: Session| async move {
    ///         let batch = if session.transport() == Transport::XhrPolling { 100 } else { 1 };
    ///         let text = format!("{} batches of {batch}", session.transport());
    ///         let _ = session.sender().send(text).await;
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/feed").await?;
    /// assert_eq!(connection.recv().await?, "websocket batches of 1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn transport(&self) -> Transport {
        self.info.transport
    }

    /// The HTTP version of the request that opened the session: a browser
    /// uses HTTP/2 over TLS when the server offers it (ALPN), WebSockets
    /// included when the server allows extended CONNECT (axum does).
    ///
    /// ```
    /// use axum::http::Version;
    ///
    /// async fn handler(session: sockjs::Session) {
    ///     if session.http_version() == Version::HTTP_2 {
    ///         println!("multiplexed with the page's other requests");
    ///     }
    /// }
    /// # let _ = handler;
    /// ```
    pub fn http_version(&self) -> http::Version {
        self.info.version
    }

    /// Whether the session's WebSocket compresses its messages
    /// (permessage-deflate, negotiated when
    /// `Config::websocket_compression` is on and the client offers it).
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     // Compressed sessions can afford larger batches.
    ///     let batch = if session.is_compressed() { 64 } else { 16 };
    ///     let _ = session.sender().send(format!("batch {batch}")).await;
    /// }
    /// # let _ = handler;
    /// ```
    pub fn is_compressed(&self) -> bool {
        self.info.compressed
    }

    /// The client's address, when the app is served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let app: Router = Router::new().nest(
    ///     "/whoami",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let addr = session.remote_addr().map(|a| a.ip().to_string());
    ///         let _ = session.sender().send(addr.unwrap_or_default()).await;
    ///     }),
    /// );
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let url = format!("http://{}/whoami", listener.local_addr()?);
    /// tokio::spawn(async move {
    ///     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    /// });
    ///
    /// let mut connection = Client::connect(&url).await?;
    /// assert_eq!(connection.recv().await?, "127.0.0.1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.info.remote_addr
    }

    /// The opening request's headers, limited to the list sockjs-node
    /// exposes (`Referer`, `X-Forwarded-For`, `Host`, `User-Agent`, ...);
    /// never `Cookie` or `Authorization`.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/ua",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let headers = session.headers();
    ///         assert!(headers.get("authorization").is_none()); // never exposed
    ///         let agent = headers.get("user-agent").and_then(|v| v.to_str().ok());
    ///         let _ = session.sender().send(agent.unwrap_or("?").to_owned()).await;
    ///     }),
    /// );
    /// let client = Client::in_process(app)
    ///     .header("user-agent", "docs-bot/1.0")
    ///     .header("authorization", "Bearer secret");
    /// let mut connection = client.open("/ua").await?;
    /// assert_eq!(connection.recv().await?, "docs-bot/1.0");
    /// # Ok(())
    /// # }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.info.headers
    }

    /// The query string of the opening request (without `?`), which
    /// sockjs-client keeps from the service URL on every request: where a
    /// page passes what the session needs from the start, such as the last
    /// room position it saw (`new SockJS("/news?since=" + last)`).
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/news",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let since = session
    ///             .query()
    ///             .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
    ///             .unwrap_or("none")
    ///             .to_owned();
    ///         let _ = session.sender().send(since).await;
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/news?since=5f3a-17").await?;
    /// assert_eq!(connection.recv().await?, "5f3a-17");
    /// # Ok(())
    /// # }
    /// ```
    pub fn query(&self) -> Option<&str> {
        self.info.query.as_deref()
    }

    /// The path of the opening request, prefix included
    /// (`/echo/000/abc/xhr_streaming`).
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/echo",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let _ = session.sender().send(session.path().to_owned()).await;
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).session_id("abc").open("/echo").await?;
    /// let path = connection.recv().await?; // /echo/<server>/abc/websocket
    /// assert!(path.starts_with("/echo/") && path.ends_with("/abc/websocket"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(&self) -> &str {
        &self.info.path
    }

    /// The path the service is nested at (`/echo`).
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let handler = |session: sockjs::Session| async move {
    ///     let _ = session.sender().send(session.prefix().to_owned()).await;
    /// };
    /// let app: Router = Router::new()
    ///     .nest("/en", sockjs::router(handler))
    ///     .nest("/fr", sockjs::router(handler));
    /// let mut connection = Client::in_process(app).open("/fr").await?;
    /// assert_eq!(connection.recv().await?, "/fr");
    /// # Ok(())
    /// # }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.info.prefix
    }

    /// The opening request's extensions: what tower layers in front put
    /// there (authentication claims, request ids, ...).
    ///
    /// With a handshake hook ([`SockJsRouter::handshake`](crate::SockJsRouter::handshake)),
    /// what it returned is here too.
    ///
    /// ```
    /// use axum::{Extension, Router};
    /// use sockjs_client::Client;
    ///
    /// #[derive(Clone)]
    /// struct Tenant(&'static str);
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new()
    ///     .nest(
    ///         "/chat",
    ///         sockjs::router(|session: sockjs::Session| async move {
    ///             let tenant = session.extensions().get::<Tenant>().map_or("none", |t| t.0);
    ///             let _ = session.sender().send(tenant).await;
    ///         }),
    ///     )
    ///     .layer(Extension(Tenant("acme")));
    /// let mut connection = Client::in_process(app).open("/chat").await?;
    /// assert_eq!(connection.recv().await?, "acme");
    /// # Ok(())
    /// # }
    /// ```
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
