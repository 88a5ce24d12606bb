//! Service options, each with the default sockjs-node uses.
//!
//! ```
//! use std::time::Duration;
//! use sockjs::{Config, Transport};
//!
//! let config = Config::default()
//!     .response_limit(4096)
//!     .heartbeat_delay(Duration::from_secs(10))
//!     .disable(Transport::JsonpPolling)
//!     .jsessionid(true);
//! assert!(!config.is_enabled(Transport::JsonpPolling));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use crate::jsessionid::Jsessionid;
use crate::origin::OriginPolicy;
use crate::protocol::Transport;
use crate::proxy::TrustedProxies;

/// The sockjs-client 1.x bundle on a public CDN, the default iframe client.
///
/// ```
/// use sockjs::{Config, DEFAULT_SOCKJS_URL};
///
/// assert!(DEFAULT_SOCKJS_URL.starts_with("https://"));
/// // Serve your own copy instead, for pages that may not load from a CDN:
/// let config = Config::default().sockjs_url("/static/sockjs.min.js");
/// ```
pub const DEFAULT_SOCKJS_URL: &str =
    "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js";

/// A hook deciding the `Set-Cookie` value of session-transport responses
/// from the request headers (see [`Config::jsessionid_with`]).
///
/// ```
/// use std::sync::Arc;
/// use axum::http::{HeaderMap, HeaderValue};
/// use sockjs::JsessionidHook;
///
/// let hook: JsessionidHook =
///     Arc::new(|_: &HeaderMap| Some(HeaderValue::from_static("JSESSIONID=node-1; path=/")));
/// assert_eq!(hook(&HeaderMap::new()).unwrap(), "JSESSIONID=node-1; path=/");
/// ```
pub type JsessionidHook = Arc<dyn Fn(&HeaderMap) -> Option<HeaderValue> + Send + Sync>;

/// What a [`Sender`](crate::Sender) does when the session's outgoing queue
/// is full because the client does not read fast enough.
///
/// ```
/// use sockjs::{Config, QueueFullPolicy};
///
/// // A ticker that must not fall behind: drop clients that cannot keep up
/// // instead of waiting for them.
/// let config = Config::default()
///     .queue_capacity(256)
///     .queue_full(QueueFullPolicy::Close);
/// assert_eq!(QueueFullPolicy::default(), QueueFullPolicy::Wait);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueFullPolicy {
    /// `send().await` waits until the client has taken messages
    /// (backpressure). `try_send` fails with `TrySendError::Full`.
    #[default]
    Wait,
    /// The session is closed with `c[1013,"Outgoing queue full"]`: the
    /// slow client is dropped, the sender never waits.
    Close,
}

/// Options of one SockJS service. Setters consume and return `self`.
///
/// ```
/// use std::time::Duration;
/// use sockjs::{Config, Session, SockJsRouter, Transport};
///
/// let config = Config::default()
///     .heartbeat_delay(Duration::from_secs(10))
///     .disable(Transport::JsonpPolling)
///     .max_message_size(64 * 1024);
/// assert!(config.is_enabled(Transport::XhrStreaming));
///
/// let chat: axum::Router = SockJsRouter::new(|session: Session| async move {
///     let (_tx, _rx) = session.split();
/// })
/// .config(config)
/// .into_router();
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) sockjs_url: String,
    pub(crate) response_limit: usize,
    pub(crate) heartbeat_delay: Duration,
    pub(crate) disconnect_delay: Duration,
    pub(crate) enabled: u16,
    pub(crate) jsessionid: Option<JsessionidHook>,
    pub(crate) cors: bool,
    pub(crate) max_message_size: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) queue_full: QueueFullPolicy,
    pub(crate) close_timeout: Duration,
    pub(crate) origins: OriginPolicy,
    pub(crate) max_sessions: Option<usize>,
    pub(crate) max_sessions_per_address: Option<usize>,
    // --- where a client is, and binding sessions to it ---
    pub(crate) trusted_proxies: Option<TrustedProxies>,
    pub(crate) bind_to_address: bool,
    pub(crate) bind_to_handshake: bool,
    pub(crate) body_timeout: Duration,
    pub(crate) metrics_service: Arc<str>,
    #[cfg(feature = "deflate")]
    pub(crate) websocket_compression: bool,
    #[cfg(feature = "deflate")]
    pub(crate) websocket_compression_window: u8,
    // --- WebSocket closing handshake and keepalive; stuck readers ---
    pub(crate) websocket_ping: Option<(Duration, Duration)>,
    pub(crate) send_timeout: Duration,
    pub(crate) websocket_fin_early: bool,
    // --- budgets ---
    pub(crate) inbound_budget: usize,
    pub(crate) outbound_budget: usize,
    pub(crate) service_inbound_budget: usize,
    pub(crate) inbound_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sockjs_url: DEFAULT_SOCKJS_URL.to_owned(),
            response_limit: 128 * 1024,
            heartbeat_delay: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            enabled: Transport::ALL.iter().fold(0, |bits, t| bits | bit(*t)),
            jsessionid: None,
            cors: true,
            max_message_size: 1024 * 1024,
            queue_capacity: 1024,
            queue_full: QueueFullPolicy::Wait,
            close_timeout: Duration::from_secs(3),
            origins: OriginPolicy::any(),
            max_sessions: None,
            max_sessions_per_address: None,
            trusted_proxies: None,
            bind_to_address: false,
            bind_to_handshake: false,
            body_timeout: Duration::from_secs(30),
            metrics_service: Arc::from("sockjs"),
            #[cfg(feature = "deflate")]
            websocket_compression: false,
            #[cfg(feature = "deflate")]
            websocket_compression_window: 15,
            // --- WebSocket closing handshake and keepalive; stuck readers ---
            websocket_ping: None,
            send_timeout: Duration::from_secs(10),
            websocket_fin_early: false,
            // --- budgets ---
            inbound_budget: 4 * 1024 * 1024,
            outbound_budget: 4 * 1024 * 1024,
            service_inbound_budget: 64 * 1024 * 1024,
            inbound_timeout: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Config");
        d.field("sockjs_url", &self.sockjs_url)
            .field("response_limit", &self.response_limit)
            .field("heartbeat_delay", &self.heartbeat_delay)
            .field("disconnect_delay", &self.disconnect_delay)
            .field(
                "enabled",
                &Transport::ALL
                    .iter()
                    .filter(|t| self.is_enabled(**t))
                    .collect::<Vec<_>>(),
            )
            .field("jsessionid", &self.jsessionid.is_some())
            .field("cors", &self.cors)
            .field("max_message_size", &self.max_message_size)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_full", &self.queue_full)
            .field("close_timeout", &self.close_timeout)
            .field("origins", &self.origins)
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_address", &self.max_sessions_per_address)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("bind_to_address", &self.bind_to_address)
            .field("bind_to_handshake", &self.bind_to_handshake)
            .field("body_timeout", &self.body_timeout)
            .field("metrics_service", &self.metrics_service);
        #[cfg(feature = "deflate")]
        d.field("websocket_compression", &self.websocket_compression)
            .field(
                "websocket_compression_window",
                &self.websocket_compression_window,
            );
        d.field("websocket_ping", &self.websocket_ping)
            .field("send_timeout", &self.send_timeout)
            .field("websocket_fin_early", &self.websocket_fin_early)
            // --- budgets ---
            .field("inbound_budget", &self.inbound_budget)
            .field("outbound_budget", &self.outbound_budget)
            .field("service_inbound_budget", &self.service_inbound_budget)
            .field("inbound_timeout", &self.inbound_timeout)
            .finish()
    }
}

impl Config {
    /// URL of the sockjs-client script the iframe page loads (sockjs-node's
    /// `sockjs_url`). Must be absolute (`http...`) or start with `/`.
    /// Default: [`DEFAULT_SOCKJS_URL`].
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::Request;
    /// use http_body_util::BodyExt;
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // The iframe page of old browsers loads the client from the app itself.
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().sockjs_url("/static/sockjs.min.js"))
    ///     .into_router::<()>();
    /// let request = Request::get("/iframe.html").body(Body::empty()).unwrap();
    /// let page = app.oneshot(request).await.unwrap().into_body().collect().await.unwrap();
    /// let page = String::from_utf8(page.to_bytes().to_vec()).unwrap();
    /// assert!(page.contains(r#"<script src="/static/sockjs.min.js"></script>"#));
    /// # }
    /// ```
    #[must_use]
    pub fn sockjs_url(mut self, url: impl Into<String>) -> Self {
        self.sockjs_url = url.into();
        self
    }

    /// Bytes a streaming response (xhr_streaming, eventsource, htmlfile)
    /// carries before it is ended so the client opens a fresh one, which
    /// lets browsers free the memory of long responses. Default: 128 KiB.
    ///
    /// ```
    /// // Renew streaming responses every 4 KiB, as sockjs-node's tests do.
    /// let config = sockjs::Config::default().response_limit(4096);
    /// ```
    ///
    /// At the extreme, each streaming response ends after its first frame:
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::Request;
    /// use http_body_util::BodyExt;
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().response_limit(1))
    /// .into_router::<()>();
    /// let request = Request::post("/000/abc/xhr_streaming").body(Body::empty()).unwrap();
    /// // The body ends (the client would open the next one): `collect` returns.
    /// let body = app.oneshot(request).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    /// assert!(body.ends_with(b"\no\n"), "a 2 KiB prelude for old browsers, then the open frame");
    /// # }
    /// ```
    #[must_use]
    pub fn response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    /// Idle time after which a heartbeat frame is sent to an attached
    /// receiver. Default: 25 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::body::Body;
    /// use axum::http::Request;
    /// use http_body_util::BodyExt;
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // Beat well before a proxy's 30 s idle timeout.
    /// let app = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().heartbeat_delay(Duration::from_secs(10)))
    /// .into_router::<()>();
    /// let poll = || Request::post("/000/abc/xhr").body(Body::empty()).unwrap();
    /// let body = |r: axum::response::Response| async { r.into_body().collect().await.unwrap().to_bytes() };
    ///
    /// assert_eq!(body(app.clone().oneshot(poll()).await.unwrap()).await, "o\n");
    /// // Nothing to send: the next poll is answered after 10 s (of paused time) with a heartbeat.
    /// let started = tokio::time::Instant::now();
    /// assert_eq!(body(app.oneshot(poll()).await.unwrap()).await, "h\n");
    /// assert_eq!(started.elapsed().as_secs(), 10);
    /// # }
    /// ```
    #[must_use]
    pub fn heartbeat_delay(mut self, delay: Duration) -> Self {
        self.heartbeat_delay = delay;
        self
    }

    /// How long a session without a receiving connection is kept before it
    /// is closed and forgotten. Default: 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // Mobile clients on flaky networks: give polling clients longer to come back.
    /// let app = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().disconnect_delay(Duration::from_secs(30)))
    /// .into_router::<()>();
    /// let send = || Request::post("/000/abc/xhr_send").body(Body::from(r#"["hi"]"#)).unwrap();
    ///
    /// app.clone().oneshot(Request::post("/000/abc/xhr").body(Body::empty()).unwrap()).await.unwrap();
    /// tokio::time::sleep(Duration::from_secs(29)).await; // the client is away
    /// assert_eq!(app.clone().oneshot(send()).await.unwrap().status(), StatusCode::NO_CONTENT);
    /// tokio::time::sleep(Duration::from_secs(31)).await; // away too long: forgotten
    /// assert_eq!(app.oneshot(send()).await.unwrap().status(), StatusCode::NOT_FOUND);
    /// # }
    /// ```
    #[must_use]
    pub fn disconnect_delay(mut self, delay: Duration) -> Self {
        self.disconnect_delay = delay;
        self
    }

    /// Turns one transport off: its URLs answer 404 (sockjs-node's
    /// `websocket: false` is `.disable(Transport::WebSocket)
    /// .disable(Transport::RawWebSocket)`). Default: all enabled.
    ///
    /// Clients then fall back to the next transport:
    ///
    /// ```
    /// use sockjs::{Config, Session, SockJsRouter, Transport};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let _ = session.sender().send("hi").await;
    /// })
    /// .config(Config::default().disable(Transport::WebSocket));
    /// let app: axum::Router = axum::Router::new().nest("/news", service.into_router());
    ///
    /// let connection = Client::in_process(app).open("/news").await?;
    /// assert_eq!(connection.transport().name(), "xhr-streaming");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn disable(mut self, transport: Transport) -> Self {
        self.enabled &= !bit(transport);
        self
    }

    /// Turns one transport back on.
    ///
    /// ```
    /// use sockjs::{Config, Transport};
    ///
    /// let base = Config::default().disable(Transport::WebSocket);
    /// let config = base.clone().enable(Transport::WebSocket);
    /// assert!(config.is_enabled(Transport::WebSocket));
    /// ```
    #[must_use]
    pub fn enable(mut self, transport: Transport) -> Self {
        self.enabled |= bit(transport);
        self
    }

    /// Whether `transport` is served.
    ///
    /// ```
    /// use sockjs::{Config, Transport};
    ///
    /// let config = Config::default().disable(Transport::HtmlFile);
    /// assert!(!config.is_enabled(Transport::HtmlFile));
    /// assert!(config.is_enabled(Transport::EventSource));
    /// ```
    pub fn is_enabled(&self, transport: Transport) -> bool {
        self.enabled & bit(transport) != 0
    }

    /// Sets `JSESSIONID=<cookie or dummy>; path=/` on session-transport
    /// responses (for load balancers that stick on that cookie) and
    /// reports `cookie_needed: true` in `/info`. Default: off.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::Request;
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Behind a load balancer that sticks sessions on JSESSIONID:
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().jsessionid(true))
    ///     .into_router::<()>();
    /// let request = Request::post("/000/abc/xhr").body(Body::empty()).unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// assert_eq!(response.headers()["set-cookie"], "JSESSIONID=dummy; path=/");
    /// # }
    /// ```
    #[must_use]
    pub fn jsessionid(mut self, on: bool) -> Self {
        self.jsessionid = on.then(|| -> JsessionidHook { Arc::new(default_jsessionid) });
        self
    }

    /// Like [`jsessionid(true)`](Self::jsessionid), with your own rule: the
    /// hook gets the request headers and returns the whole `Set-Cookie`
    /// value, or `None` for no cookie on that response.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{HeaderMap, HeaderValue, Request};
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Name the node in the cookie, for a balancer that routes on it.
    /// let config = Config::default().jsessionid_with(|_request: &HeaderMap| {
    ///     Some(HeaderValue::from_static("JSESSIONID=node-1; path=/; HttpOnly"))
    /// });
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(config)
    ///     .into_router::<()>();
    /// let request = Request::post("/000/abc/xhr").body(Body::empty()).unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// assert_eq!(response.headers()["set-cookie"], "JSESSIONID=node-1; path=/; HttpOnly");
    /// # }
    /// ```
    #[must_use]
    pub fn jsessionid_with<F>(mut self, hook: F) -> Self
    where
        F: Fn(&HeaderMap) -> Option<HeaderValue> + Send + Sync + 'static,
    {
        self.jsessionid = Some(Arc::new(hook));
        self
    }

    /// Like [`jsessionid(true)`](Self::jsessionid), with the cookie's
    /// `Secure`, `HttpOnly` and `SameSite` attributes set as `cookie` says
    /// (see [`Jsessionid`] for when to use `SameSite=None; Secure`: pages on
    /// another site, the iframe transports).
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::Request;
    /// use sockjs::{Config, Jsessionid, SameSite, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cookie = Jsessionid::new().secure(true).http_only(true).same_site(SameSite::Lax);
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().jsessionid_cookie(cookie))
    ///     .into_router::<()>();
    /// let request = Request::post("/000/abc/xhr").body(Body::empty()).unwrap();
    /// let response = app.oneshot(request).await.unwrap();
    /// assert_eq!(
    ///     response.headers()["set-cookie"],
    ///     "JSESSIONID=dummy; path=/; Secure; HttpOnly; SameSite=Lax"
    /// );
    /// # }
    /// ```
    #[must_use]
    pub fn jsessionid_cookie(mut self, cookie: Jsessionid) -> Self {
        self.jsessionid = Some(Arc::new(move |request: &HeaderMap| {
            cookie.set_cookie(request)
        }));
        self
    }

    /// Whether the service answers CORS itself (sockjs-node's behaviour,
    /// echoing the request's `Origin`). Turn it off to put a tower-http
    /// `CorsLayer` in its place; the iframe page is then not served, as in
    /// sockjs-node's `disable_cors`. Default: on.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use axum::Router;
    /// use tower::ServiceExt;
    /// use tower_http::cors::CorsLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let echo = sockjs::SockJsRouter::new(|_session: sockjs::Session| async {})
    ///     .config(sockjs::Config::default().cors(false))
    ///     .into_router();
    /// let app: Router = Router::new().nest("/echo", echo).layer(CorsLayer::permissive());
    ///
    /// let info = Request::get("/echo/info").header("origin", "https://app.example");
    /// let response = app.clone().oneshot(info.body(Body::empty()).unwrap()).await.unwrap();
    /// // The layer's answer, not the service's echo of the Origin.
    /// assert_eq!(response.headers()["access-control-allow-origin"], "*");
    /// let iframe = Request::get("/echo/iframe.html").body(Body::empty()).unwrap();
    /// assert_eq!(app.oneshot(iframe).await.unwrap().status(), StatusCode::NOT_FOUND);
    /// # }
    /// ```
    #[must_use]
    pub fn cors(mut self, on: bool) -> Self {
        self.cors = on;
        self
    }

    /// Largest inbound payload: an HTTP send body or one WebSocket message,
    /// in bytes. Larger HTTP bodies get `413`, larger WebSocket messages
    /// close the socket with code 1009. Default: 1 MiB.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Chat lines, not file uploads.
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().max_message_size(16 * 1024))
    ///     .into_router::<()>();
    /// let open = Request::post("/000/abc/xhr").body(Body::empty()).unwrap();
    /// app.clone().oneshot(open).await.unwrap();
    /// let upload = format!(r#"["{}"]"#, "x".repeat(20_000));
    /// let send = Request::post("/000/abc/xhr_send").body(Body::from(upload)).unwrap();
    /// assert_eq!(app.oneshot(send).await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
    /// # }
    /// ```
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(1);
        self
    }

    /// Messages a session buffers in each direction: outgoing ones waiting
    /// for the client, incoming ones waiting for your handler to read them.
    /// When the outgoing queue is full [`queue_full`](Self::queue_full)
    /// decides; when the incoming one is, the transport stops reading from
    /// the client. Default: 1024.
    ///
    /// ```
    /// let config = sockjs::Config::default().queue_capacity(64);
    /// ```
    #[must_use]
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue_capacity = messages.max(1);
        self
    }

    /// What happens when the outgoing queue is full. Default:
    /// [`QueueFullPolicy::Wait`].
    ///
    /// ```
    /// use sockjs::{Config, QueueFullPolicy};
    ///
    /// let config = Config::default().queue_full(QueueFullPolicy::Close);
    /// ```
    #[must_use]
    pub fn queue_full(mut self, policy: QueueFullPolicy) -> Self {
        self.queue_full = policy;
        self
    }

    /// How long a WebSocket's closing handshake may take. After its close
    /// frame (or its reply to the client's) the server shuts its side of the
    /// connection down and reads what the client still sends until the
    /// client closes too, so that nothing the client has not read yet is
    /// lost to a TCP reset; a client that neither replies nor closes is cut
    /// off after this long. Default: 3 s.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = sockjs::Config::default().close_timeout(Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    // --- stuck readers ---

    /// A write to the client that cannot complete within this time ends the
    /// session as [`CloseReason::Stalled`](crate::CloseReason::Stalled): the
    /// client stopped reading (its receive window is full) and the
    /// session's messages would otherwise pile up behind it, with its
    /// senders waiting, for as long as the TCP connection lives.
    ///
    /// On WebSockets a frame write that has not completed within this time
    /// ends the session the same way (the socket is dropped: a client that
    /// reads nothing would not read a close frame either).
    ///
    /// On the streaming transports (xhr-streaming, eventsource, htmlfile) a
    /// frame is handed to the HTTP connection, and the connection asks the
    /// response for the next one once it has room for it; when it has not
    /// asked within this time, the session closes: its `Receiver` ends, a
    /// later receiving request gets `c[1002,"Connection interrupted"]`,
    /// and the session is forgotten `disconnect_delay` later. Polling
    /// responses carry one small frame each and hold nothing of the
    /// session while they are written. Default: 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = sockjs::Config::default().send_timeout(Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }
}

impl Config {
    /// Which web origins may use the service (see [`OriginPolicy`]: a
    /// list of patterns, `Origin: null`, requests without `Origin`,
    /// jsonp-polling under a list). A list converts into
    /// [`OriginPolicy::only`] it. Default: [`OriginPolicy::any`], as in
    /// sockjs-node.
    ///
    /// # Panics
    ///
    /// When a pattern of a list is not `scheme://host[:port]` (see
    /// [`OriginPolicy::only`]): a configuration mistake.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().allowed_origins(["https://app.example", "https://*.app.example"]))
    ///     .into_router::<()>();
    /// let status = |origin| {
    ///     let app = app.clone();
    ///     let request = Request::get("/info").header("origin", origin).body(Body::empty()).unwrap();
    ///     async move { app.oneshot(request).await.unwrap().status() }
    /// };
    /// assert_eq!(status("https://app.example").await, StatusCode::OK);
    /// assert_eq!(status("https://eu.app.example").await, StatusCode::OK);
    /// assert_eq!(status("https://evil.example").await, StatusCode::FORBIDDEN);
    /// # }
    /// ```
    #[must_use]
    pub fn allowed_origins(mut self, policy: impl Into<OriginPolicy>) -> Self {
        self.origins = policy.into();
        self
    }

    /// Most sessions the service holds at once, on every transport; a
    /// request that would open one more gets `503 Too many sessions.`
    /// (refused before the handshake hook and before any session exists).
    /// Default: no limit.
    ///
    /// ```
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().max_sessions(1));
    /// let app: axum::Router = axum::Router::new().nest("/game", service.into_router());
    ///
    /// let client = Client::in_process(app);
    /// let _first = client.open("/game").await.unwrap();
    /// match client.open("/game").await {
    ///     Err(Error::Status { status, body }) => {
    ///         assert_eq!(status, 503);
    ///         assert_eq!(body, "Too many sessions.");
    ///     }
    ///     other => panic!("expected a refusal, got {other:?}"),
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = Some(sessions);
        self
    }

    /// Most sessions open at once from one remote address (its IP, from
    /// axum's `ConnectInfo<SocketAddr>`, or from a proxy you trust: see
    /// [`trusted_proxies`](Self::trusted_proxies)); past it `429 Too many
    /// sessions from this address.`. Behind a proxy every client has the
    /// proxy's address unless the proxy is trusted. Default: off.
    ///
    /// The limit needs the address: a server not served with
    /// `into_make_service_with_connect_info::<SocketAddr>()` has none, and
    /// then every request that would open a session is refused with
    /// `500 Client address unknown.` ([`Rejection::ClientAddressUnknown`](crate::Rejection::ClientAddressUnknown)),
    /// with an `error!` log the first time, rather than the limit silently
    /// doing nothing: a limit you set and believe in should not vanish
    /// because of how the app is served, and the mistake shows on the
    /// first request.
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use sockjs::{Config, Session, SockJsRouter};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// let service = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().max_sessions_per_address(20));
    /// let app: axum::Router = axum::Router::new().nest("/chat", service.into_router());
    ///
    /// // The address comes from ConnectInfo: serve with it.
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    /// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    /// # }
    /// ```
    #[must_use]
    pub fn max_sessions_per_address(mut self, sessions: usize) -> Self {
        self.max_sessions_per_address = Some(sessions);
        self
    }

    /// Believes the client address that `proxies` forward (`X-Forwarded-For`
    /// or `Forwarded`, from trusted peers only; everyone else's headers are
    /// ignored). That address is the one
    /// [`max_sessions_per_address`](Self::max_sessions_per_address) counts
    /// and [`bind_to_address`](Self::bind_to_address) binds to. In a
    /// cluster without sticky routing, list the nodes too: a forwarded
    /// request appends the client's address to `X-Forwarded-For`. Default:
    /// none (the peer's address is the client's).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::body::Body;
    /// use axum::extract::ConnectInfo;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, Session, SockJsRouter, TrustedProxies};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let config = Config::default()
    ///     .trusted_proxies(TrustedProxies::x_forwarded_for(["127.0.0.1"]))
    ///     .max_sessions_per_address(1);
    /// let app = SockJsRouter::new(|_session: Session| async {}).config(config).into_router::<()>();
    /// let open = |session: &str, client: &str| {
    ///     let mut request = Request::post(format!("/000/{session}/xhr"))
    ///         .header("x-forwarded-for", client)
    ///         .body(Body::empty())
    ///         .unwrap();
    ///     // The proxy on this host is the peer.
    ///     request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    ///     app.clone().oneshot(request)
    /// };
    /// assert_eq!(open("a", "203.0.113.1").await.unwrap().status(), StatusCode::OK);
    /// assert_eq!(open("b", "203.0.113.2").await.unwrap().status(), StatusCode::OK);
    /// assert_eq!(open("c", "203.0.113.1").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    /// # }
    /// ```
    #[must_use]
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Some(proxies);
        self
    }

    /// Binds each HTTP session to the client address that opened it: a
    /// later request of the session (`xhr_send`, `jsonp_send`, or receiving
    /// again on `xhr`, `xhr_streaming`, `eventsource`, `htmlfile`, `jsonp`)
    /// from another address gets `404 Session not found.`, the answer a
    /// session that does not exist gets, so that someone who learns a
    /// session id (from a log, a `Referer`, a shared screen) can neither
    /// send as its client nor read what it is sent. The address is the
    /// peer's or, behind [`trusted_proxies`](Self::trusted_proxies), the
    /// forwarded one; without any (no `ConnectInfo`) sessions are refused
    /// as under [`max_sessions_per_address`](Self::max_sessions_per_address).
    /// Default: off.
    ///
    /// It suits every HTTP transport, but breaks clients whose address
    /// changes during a session: phones moving between networks, clients
    /// behind a pool of proxies or NAT addresses that rotate per
    /// connection (some corporate gateways, carrier-grade NAT, Tor). A
    /// WebSocket session is a single request, so there is nothing to bind
    /// there; the setting does not touch WebSocket sessions.
    /// [`bind_to_handshake`](Self::bind_to_handshake) binds to a
    /// credential instead, and the two combine (both must pass).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::body::Body;
    /// use axum::extract::ConnectInfo;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().bind_to_address(true))
    /// .into_router::<()>();
    /// let request = |transport: &str, from: [u8; 4], body: &'static str| {
    ///     let mut request = Request::post(format!("/000/abc/{transport}")).body(Body::from(body)).unwrap();
    ///     request.extensions_mut().insert(ConnectInfo(SocketAddr::from((from, 40000))));
    ///     app.clone().oneshot(request)
    /// };
    /// let opened = request("xhr", [192, 0, 2, 1], "").await.unwrap();
    /// assert_eq!(opened.status(), StatusCode::OK);
    /// let stranger = request("xhr_send", [198, 51, 100, 9], r#"["x"]"#).await.unwrap();
    /// assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    /// let owner = request("xhr_send", [192, 0, 2, 1], r#"["x"]"#).await.unwrap();
    /// assert_eq!(owner.status(), StatusCode::NO_CONTENT);
    /// # }
    /// ```
    #[must_use]
    pub fn bind_to_address(mut self, on: bool) -> Self {
        self.bind_to_address = on;
        self
    }

    /// Runs the [handshake hook](crate::SockJsRouter::handshake) on every
    /// later request of an HTTP session too (`xhr_send`, `jsonp_send`, and
    /// receiving again), not only on the one that opens it; when the hook
    /// refuses, the request gets `404 Session not found.`, as a session
    /// that does not exist does (the hook's own answer would tell a
    /// stranger that the id is live), and the session goes on for its
    /// rightful client. Without a hook this does nothing. Default: off.
    ///
    /// A stolen session id is then useless without the credential the hook
    /// checks. The hook sees each request on its own, not the session: a
    /// different client with a valid credential of its own passes; to tie
    /// a session to one user, combine with
    /// [`bind_to_address`](Self::bind_to_address), or keep the user in the
    /// session's extensions and let the handler compare. The hook runs on
    /// every send and poll, so keep it cheap (verify a signed token rather
    /// than look one up).
    ///
    /// Which credential reaches every request depends on the transport. A
    /// cookie is sent by the xhr transports (same origin, or cross-origin
    /// with credentials, which sockjs-client asks for) and by the
    /// iframe-based ones (`htmlfile`, `xhr` in an iframe: the iframe page
    /// is on the service's origin and shares its cookies), but not by a
    /// cross-origin `EventSource`; `jsonp`'s script tags send cookies under
    /// `SameSite=None` only. A token in the query string (sockjs-client
    /// keeps the URL's query on every request) reaches all of them. A
    /// header (`Authorization`) reaches none that the browser makes
    /// itself. WebSocket sessions are a single request, already checked
    /// once: the setting does not touch them.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{HeaderMap, Request, StatusCode};
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().bind_to_handshake(true))
    /// .handshake(|headers: HeaderMap| async move {
    ///     match headers.get("x-token") {
    ///         Some(token) if token == "secret" => Ok(()),
    ///         _ => Err(StatusCode::UNAUTHORIZED),
    ///     }
    /// })
    /// .into_router::<()>();
    /// let request = |transport: &str, token: &str, body: &'static str| {
    ///     let request = Request::post(format!("/000/abc/{transport}"))
    ///         .header("x-token", token)
    ///         .body(Body::from(body))
    ///         .unwrap();
    ///     app.clone().oneshot(request)
    /// };
    /// assert_eq!(request("xhr", "secret", "").await.unwrap().status(), StatusCode::OK);
    /// let stranger = request("xhr_send", "guess", r#"["x"]"#).await.unwrap();
    /// assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    /// let owner = request("xhr_send", "secret", r#"["x"]"#).await.unwrap();
    /// assert_eq!(owner.status(), StatusCode::NO_CONTENT);
    /// # }
    /// ```
    #[must_use]
    pub fn bind_to_handshake(mut self, on: bool) -> Self {
        self.bind_to_handshake = on;
        self
    }

    /// How long a `xhr_send` or `jsonp_send` request may take to deliver
    /// its body; a client that stops sending halfway gets
    /// `408 Request body timed out.` and its connection is let go.
    /// Default: 30 s.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = sockjs::Config::default().body_timeout(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The `service` label of the service's [metrics](crate::metrics), to
    /// tell several services apart. Default: `sockjs`.
    ///
    /// ```
    /// use sockjs::{Config, Session, SockJsRouter};
    ///
    /// // Two services, told apart by the `service` label of their metrics.
    /// let chat = SockJsRouter::new(|_: Session| async {}).config(Config::default().metrics_service("chat"));
    /// let feed = SockJsRouter::new(|_: Session| async {}).config(Config::default().metrics_service("feed"));
    /// let app: axum::Router = axum::Router::new()
    ///     .nest("/chat", chat.into_router())
    ///     .nest("/feed", feed.into_router());
    /// ```
    #[must_use]
    pub fn metrics_service(mut self, name: impl Into<String>) -> Self {
        self.metrics_service = Arc::from(name.into());
        self
    }

    /// Compresses WebSocket messages (permessage-deflate, RFC 7692) with
    /// clients that offer it, as browsers do. Each message is compressed
    /// on its own (no context takeover either way), so a session holds no
    /// compression state; messages under 64 bytes are sent as they are.
    /// It trades CPU for bytes: see BENCHMARKS.md. Feature `deflate`.
    /// Default: off.
    ///
    /// ```
    /// let config = sockjs::Config::default().websocket_compression(true);
    /// ```
    #[cfg(feature = "deflate")]
    #[must_use]
    pub fn websocket_compression(mut self, on: bool) -> Self {
        self.websocket_compression = on;
        self
    }

    /// The largest deflate window the server compresses with, as a power
    /// of two: 2^`bits` bytes, 8 (256 B) to 15 (32 KiB). A client may ask
    /// for a smaller one (`server_max_window_bits`); the smaller of the two
    /// is used and announced in the handshake answer. The compressors are
    /// per thread, not per session, so the window sets the ratio on long
    /// messages (how far back a repeat may be found) and a few hundred KiB
    /// per thread, never a session's memory; under 8 bits only messages up
    /// to 256 bytes are compressed (zlib has no 256-byte compressor).
    /// Feature `deflate`. Default: 15, as in sockjs-node.
    ///
    /// # Panics
    ///
    /// When `bits` is outside 8..=15 (RFC 7692's range): a configuration
    /// mistake.
    ///
    /// ```
    /// let config = sockjs::Config::default()
    ///     .websocket_compression(true)
    ///     .websocket_compression_window(10); // 1 KiB
    /// # let _ = config;
    /// ```
    #[cfg(feature = "deflate")]
    #[must_use]
    pub fn websocket_compression_window(mut self, bits: u8) -> Self {
        assert!(
            (8..=15).contains(&bits),
            "websocket_compression_window: {bits} bits is outside 8..=15"
        );
        self.websocket_compression_window = bits;
        self
    }

    /// Whether `transport` is served, the origin policy considered.
    pub(crate) fn is_served(&self, transport: Transport) -> bool {
        self.is_enabled(transport)
            && (transport != Transport::JsonpPolling || self.origins.serves_jsonp())
    }

    // --- WebSocket closing handshake and keepalive; stuck readers ---

    /// WebSocket keepalive (sockjs-node's `faye_server_options` ping): a
    /// ping every `interval` of silence from the client, and a socket that
    /// answers nothing (no pong, no message) within `timeout` of a ping is
    /// taken for gone. Its session ends as
    /// [`CloseReason::TimedOut`](crate::CloseReason::TimedOut) within
    /// `interval + timeout` of the client's last frame, and the socket gets
    /// a close frame 1001 `Keepalive timeout` (bounded by
    /// [`close_timeout`](Self::close_timeout)). hixie-76 sockets have no
    /// pings and are not pinged.
    ///
    /// Default: off, as in sockjs-node, whose faye server sends no pings
    /// unless told to: SockJS-framed sockets already carry `h` heartbeats
    /// (and sockjs-client gives up on a server that stops sending them),
    /// and a ping costs every idle socket a wake-up and a few bytes. Turn it
    /// on behind load balancers or NATs that drop idle connections without
    /// a word, and for raw `/websocket` clients, which get no heartbeats:
    /// there a vanished peer is otherwise noticed only when a write fails.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = sockjs::Config::default()
    ///     .websocket_ping(Duration::from_secs(30), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn websocket_ping(mut self, interval: Duration, timeout: Duration) -> Self {
        self.websocket_ping = Some((interval, timeout));
        self
    }

    /// Test knob, not part of the API: `true` brings back the old order of
    /// a WebSocket close (our close frame, then at once our FIN, without
    /// waiting for the client's close frame), which RFC 6455 section 7.1.1
    /// forbids. It exists only so that the test server's `--break
    /// close-fin-first` mutation can prove the conformance check
    /// `closing/close_waits_for_the_reply` catches it. Default: false.
    ///
    /// ```
    /// let config = sockjs::Config::default().websocket_fin_early(false);
    /// ```
    #[doc(hidden)]
    #[must_use]
    pub fn websocket_fin_early(mut self, on: bool) -> Self {
        self.websocket_fin_early = on;
        self
    }

    // --- budgets ---

    /// Bytes of client messages one session holds for your handler to
    /// read, on top of [`queue_capacity`](Self::queue_capacity)'s count.
    /// Each message counts its length plus 24 bytes; a send body is taken
    /// whole or not at all, and any one body is taken by an empty queue
    /// (so one larger than the budget, up to
    /// [`max_message_size`](Self::max_message_size), is not refused for
    /// ever). A send that finds no room waits
    /// [`inbound_timeout`](Self::inbound_timeout), then gets
    /// `503 Incoming queue full.`; a WebSocket stops reading from the
    /// client meanwhile. Default: 4 MiB.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, Rejection, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // A handler that never reads: the second 6 KiB message finds no room.
    /// let app = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, _rx) = session.split();
    ///     std::future::pending::<()>().await;
    /// })
    /// .config(Config::default().inbound_budget(10 * 1024).inbound_timeout(Duration::from_secs(1)))
    /// .into_router::<()>();
    /// let post = |path: &str, body: String| Request::post(path).body(Body::from(body)).unwrap();
    /// let message = format!(r#"["{}"]"#, "x".repeat(6 * 1024));
    ///
    /// app.clone().oneshot(post("/000/abc/xhr", String::new())).await.unwrap();
    /// let first = app.clone().oneshot(post("/000/abc/xhr_send", message.clone())).await.unwrap();
    /// assert_eq!(first.status(), StatusCode::NO_CONTENT);
    /// let second = app.oneshot(post("/000/abc/xhr_send", message)).await.unwrap();
    /// assert_eq!(second.status(), Rejection::IncomingQueueFull.status()); // after 1 s
    /// # }
    /// ```
    #[must_use]
    pub fn inbound_budget(mut self, bytes: usize) -> Self {
        self.inbound_budget = bytes;
        self
    }

    /// Bytes of messages one session holds for a client that does not
    /// take them, on top of [`queue_capacity`](Self::queue_capacity)'s
    /// count; each message counts its length plus 24 bytes. Past it
    /// [`queue_full`](Self::queue_full) decides, as for a full count: the
    /// sender waits, or the session is closed with 1013. An empty queue
    /// takes any one message, however large (under
    /// [`QueueFullPolicy::Wait`] a message larger than the budget waits
    /// until the queue is empty). Room messages may use twice the budget
    /// before the member is closed. Default: 4 MiB.
    ///
    /// ```
    /// use sockjs::{Config, QueueFullPolicy};
    ///
    /// // A market feed: never hold more than 256 KiB for a slow client.
    /// let config = Config::default()
    ///     .outbound_budget(256 * 1024)
    ///     .queue_full(QueueFullPolicy::Close);
    /// ```
    #[must_use]
    pub fn outbound_budget(mut self, bytes: usize) -> Self {
        self.outbound_budget = bytes;
        self
    }

    /// Bytes of client messages all the service's sessions together hold
    /// for handlers to read (counted as for
    /// [`inbound_budget`](Self::inbound_budget)), so that many sessions,
    /// each within its own budget, cannot add up to more. A send that
    /// finds the service full waits [`inbound_timeout`](Self::inbound_timeout)
    /// as for a full session. An empty service takes any one body.
    /// Default: 64 MiB.
    ///
    /// ```
    /// // Many sessions, little memory to spare.
    /// let config = sockjs::Config::default()
    ///     .inbound_budget(256 * 1024)
    ///     .service_inbound_budget(16 * 1024 * 1024);
    /// ```
    #[must_use]
    pub fn service_inbound_budget(mut self, bytes: usize) -> Self {
        self.service_inbound_budget = bytes;
        self
    }

    /// How long an `xhr_send` or `jsonp_send` waits for room for its
    /// messages (see [`inbound_budget`](Self::inbound_budget)) before it is
    /// answered `503 Incoming queue full.`, none of its messages
    /// delivered. The session stays open under [`QueueFullPolicy::Wait`]
    /// (the client may send again; sockjs-client gives up and closes its
    /// side) and is closed with `c[1013,"Incoming queue full"]` under
    /// [`QueueFullPolicy::Close`]. Default: 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = sockjs::Config::default().inbound_timeout(Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn inbound_timeout(mut self, timeout: Duration) -> Self {
        self.inbound_timeout = timeout;
        self
    }
}

pub(crate) fn default_jsessionid(headers: &HeaderMap) -> Option<HeaderValue> {
    Jsessionid::new().set_cookie(headers)
}

/// `transport`'s bit in a set of transports (`Config`'s enabled ones).
fn bit(transport: Transport) -> u16 {
    1 << transport.index()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected text has the permessage-deflate settings.
    #[cfg(feature = "deflate")]
    #[test]
    fn debug_lists_the_settings() {
        let text = format!(
            "{:?}",
            Config::default()
                .disable(Transport::HtmlFile)
                .max_sessions(5)
        );
        // Every setting, and the transports that are on.
        assert_eq!(
            text,
            "Config { sockjs_url: \"https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js\", \
             response_limit: 131072, heartbeat_delay: 25s, disconnect_delay: 5s, \
             enabled: [WebSocket, RawWebSocket, XhrStreaming, XhrPolling, EventSource, JsonpPolling], \
             jsessionid: false, cors: true, max_message_size: 1048576, queue_capacity: 1024, \
             queue_full: Wait, close_timeout: 3s, origins: OriginPolicy::Any, max_sessions: Some(5), \
             max_sessions_per_address: None, trusted_proxies: None, bind_to_address: false, \
             bind_to_handshake: false, body_timeout: 30s, metrics_service: \"sockjs\", \
             websocket_compression: false, websocket_compression_window: 15, websocket_ping: None, \
             send_timeout: 10s, websocket_fin_early: false, inbound_budget: 4194304, \
             outbound_budget: 4194304, service_inbound_budget: 67108864, inbound_timeout: 5s }"
        );
    }

    /// A setter changes its one setting: every one before it in a chain is
    /// kept.
    // The expected text has the permessage-deflate settings.
    #[cfg(feature = "deflate")]
    #[test]
    fn every_setter_keeps_the_settings_before_it() {
        let secs = Duration::from_secs;
        let config = Config::default()
            .sockjs_url("/sockjs.js")
            .response_limit(1000)
            .heartbeat_delay(secs(1))
            .disconnect_delay(secs(2))
            .disable(Transport::HtmlFile)
            .disable(Transport::EventSource)
            .enable(Transport::EventSource)
            .jsessionid(true)
            .jsessionid_cookie(Jsessionid::new())
            .jsessionid_with(|_| None)
            .cors(false)
            .max_message_size(100)
            .queue_capacity(10)
            .queue_full(QueueFullPolicy::Close)
            .close_timeout(secs(4))
            .send_timeout(secs(5))
            .allowed_origins(["https://a.example"])
            .max_sessions(7)
            .max_sessions_per_address(3)
            .trusted_proxies(TrustedProxies::x_forwarded_for(["10.0.0.0/8"]))
            .bind_to_address(true)
            .bind_to_handshake(true)
            .body_timeout(secs(6))
            .metrics_service("svc")
            .websocket_compression(true)
            .websocket_compression_window(9)
            .websocket_ping(secs(7), secs(8))
            .websocket_fin_early(true)
            .inbound_budget(11)
            .outbound_budget(12)
            .service_inbound_budget(13)
            .inbound_timeout(secs(9));
        assert_eq!(
            format!("{config:?}"),
            "Config { sockjs_url: \"/sockjs.js\", response_limit: 1000, heartbeat_delay: 1s, \
             disconnect_delay: 2s, \
             enabled: [WebSocket, RawWebSocket, XhrStreaming, XhrPolling, EventSource, JsonpPolling], \
             jsessionid: true, cors: false, max_message_size: 100, queue_capacity: 10, \
             queue_full: Close, close_timeout: 4s, origins: OriginPolicy::Only { \
             patterns: [\"https://a.example\"], null: false, missing: true, \
             unprotected_transports: false }, max_sessions: Some(7), \
             max_sessions_per_address: Some(3), trusted_proxies: Some(TrustedProxies { \
             networks: [10.0.0.0/8], header: XForwardedFor }), bind_to_address: true, \
             bind_to_handshake: true, body_timeout: 6s, metrics_service: \"svc\", \
             websocket_compression: true, websocket_compression_window: 9, \
             websocket_ping: Some((7s, 8s)), send_timeout: 5s, websocket_fin_early: true, \
             inbound_budget: 11, outbound_budget: 12, service_inbound_budget: 13, \
             inbound_timeout: 9s }"
        );
    }

    #[test]
    fn a_transport_is_served_when_on_and_jsonp_only_where_the_origin_policy_lets_it() {
        let all = Config::default();
        assert!(all.is_served(Transport::XhrPolling));
        assert!(all.is_served(Transport::JsonpPolling));
        let off = Config::default()
            .disable(Transport::XhrPolling)
            .disable(Transport::JsonpPolling);
        assert!(!off.is_served(Transport::XhrPolling));
        assert!(!off.is_served(Transport::JsonpPolling));
        let listed = Config::default().allowed_origins(["https://a.example"]);
        assert!(listed.is_served(Transport::XhrPolling));
        assert!(!listed.is_served(Transport::JsonpPolling));
        let unprotected = Config::default().allowed_origins(
            OriginPolicy::only(["https://a.example"]).unprotected_transports(true),
        );
        assert!(unprotected.is_served(Transport::JsonpPolling));
    }

    #[test]
    fn jsessionid_echoes_the_cookie_or_dummy() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            default_jsessionid(&headers).unwrap(),
            "JSESSIONID=dummy; path=/"
        );
        headers.insert("cookie", HeaderValue::from_static("a=b; JSESSIONID=abcdef"));
        assert_eq!(
            default_jsessionid(&headers).unwrap(),
            "JSESSIONID=abcdef; path=/"
        );
    }
}
