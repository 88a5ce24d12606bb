//! [`Client`]: the options of new connections, and opening them with
//! sockjs-client's fallback from one transport to the next.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::connection::Connection;
use crate::driver;
use crate::error::Error;
use crate::net::{read_all, status_error, Connector, Http, Jar};
use crate::protocol::{parse_info, Info};
use crate::transport::{self, Target};
use crate::url::ServiceUrl;
use sockjs_proto::Transport;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// [`Client::silence_timeout`]'s default.
const DEFAULT_SILENCE: Duration = Duration::from_secs(60);

/// Opens SockJS connections; holds their options and a pool of kept-alive
/// HTTP connections. Cheap to clone; the setters consume and return it.
///
/// [`Client::connect`] opens a connection with the defaults:
///
/// ```no_run
/// # async fn demo() -> Result<(), sockjs_client::Error> {
/// let mut connection = sockjs_client::Client::connect("http://127.0.0.1:8080/echo").await?;
/// # Ok(())
/// # }
/// ```
///
/// How a connection opens, as in sockjs-client: `GET <url>/info` first
/// (its `"websocket": false` rules the websocket transport out), then
/// each [transport](Self::transports) in turn, each on a fresh session id,
/// until one gets the server's open frame `o` within the
/// [timeout](Self::timeout). A transport that fails falls through to the
/// next, except when the server refuses the client (401, 403, 429 or 503,
/// which every transport would get alike; sockjs-client would still try
/// them all) or answers with a close frame: that error is returned at
/// once. When every transport failed, [`Error::NoTransport`] says what
/// happened to each (a single transport's own error when only one was
/// tried).
///
/// Options for a server behind a handshake hook:
///
/// ```no_run
/// use std::time::Duration;
/// use sockjs_client::{Client, Transport};
///
/// # async fn demo() -> Result<(), sockjs_client::Error> {
/// let client = Client::new()
///     .header("authorization", "Bearer secret-token")
///     .cookie("user", "alice")
///     .transports([Transport::XhrStreaming, Transport::XhrPolling])
///     .timeout(Duration::from_secs(2));
/// let connection = client.open("http://127.0.0.1:8080/chat?room=1").await?;
/// println!("connected over {}", connection.transport());
/// # Ok(())
/// # }
/// ```
///
/// URLs are `http://host[:port]/prefix`, the URL a browser gives
/// `new SockJS(url)`; a query string is kept on every request, as
/// sockjs-client does. `https://` is not supported (this client has no
/// TLS).
#[derive(Clone)]
pub struct Client {
    transports: Vec<Transport>,
    headers: HeaderMap,
    /// The first invalid option, reported when opening.
    invalid: Option<String>,
    timeout: Duration,
    /// How long an open connection may hear nothing from the server.
    silence: Option<Duration>,
    session_id: Option<String>,
    connector: Connector,
    http: Http,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transports", &self.transports)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("silence_timeout", &self.silence)
            .field("in_process", &self.connector.is_in_process())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens a connection to the SockJS service at `url`
    /// (`http://host[:port]/prefix`) with the default options.
    ///
    /// ```no_run
    /// use sockjs_client::Client;
    ///
    /// # async fn demo() -> Result<(), sockjs_client::Error> {
    /// let mut connection = Client::connect("http://127.0.0.1:8080/echo").await?;
    /// connection.send("hello").await?;
    /// println!("echoed: {}", connection.recv().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Connection, Error> {
        Client::new().open(url).await
    }

    /// A client over TCP with the default options: every transport in
    /// [`Transport::DEFAULT_ORDER`], a 5 s timeout, no extra headers.
    ///
    /// Options are checked when a connection opens, before any request:
    ///
    /// ```
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let client = Client::new();
    /// let refused = client.open("https://example.com/echo").await;
    /// assert!(matches!(refused, Err(Error::InvalidUrl(_))), "no TLS in this client");
    /// # }
    /// ```
    pub fn new() -> Client {
        Client::with_connector(Connector::Tcp)
    }

    /// A client whose connections go to `service` in this process, through
    /// in-memory pipes served by hyper, instead of over TCP: typically the
    /// axum `Router` of your application, to test it without a port.
    /// Every transport works, websockets included, and requests go
    /// through the whole router with its layers.
    ///
    /// URLs may then be bare paths (`/chat`, for `http://localhost/chat`).
    /// Handlers see no peer address (`ConnectInfo` is not set).
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
    ///         let (tx, mut rx) = session.split();
    ///         while let Some(message) = rx.recv().await {
    ///             let _ = tx.send(message).await;
    ///         }
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/echo").await?;
    /// connection.send("hello").await?;
    /// assert_eq!(connection.recv().await?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn in_process<S, B>(service: S) -> Client
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        Client::with_connector(Connector::in_process(service))
    }

    fn with_connector(connector: Connector) -> Client {
        Client {
            transports: Transport::DEFAULT_ORDER.to_vec(),
            headers: HeaderMap::new(),
            invalid: None,
            timeout: Duration::from_secs(5),
            silence: Some(DEFAULT_SILENCE),
            session_id: None,
            http: Http::new(connector.clone()),
            connector,
        }
    }

    /// The transports to try, in order. Default:
    /// [`Transport::DEFAULT_ORDER`] (websocket, xhr-streaming, xhr-polling).
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::{Client, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest("/chat", sockjs::router(|_session: sockjs::Session| async {}));
    /// // No WebSocket: xhr-streaming first, xhr-polling when that fails.
    /// let client = Client::in_process(app).transports([Transport::XhrStreaming, Transport::XhrPolling]);
    /// let connection = client.open("/chat").await?;
    /// assert_eq!(connection.transport(), Transport::XhrStreaming);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn transports(mut self, transports: impl IntoIterator<Item = Transport>) -> Self {
        self.transports = transports.into_iter().collect();
        self
    }

    /// Uses `transport` only, without fallback.
    ///
    /// A transport the server does not serve is then an error of its own:
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Config, SockJsRouter};
    /// use sockjs_client::{Client, Error, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = SockJsRouter::new(|_session: sockjs::Session| async {})
    ///     .config(Config::default().disable(sockjs::Transport::WebSocket));
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    ///
    /// let client = Client::in_process(app);
    /// let refused = client.clone().transport(Transport::WebSocket).open("/chat").await;
    /// assert_eq!(refused.unwrap_err(), Error::TransportDisabled(Transport::WebSocket));
    /// let polling = client.transport(Transport::XhrPolling).open("/chat").await.unwrap();
    /// assert_eq!(polling.transport(), Transport::XhrPolling);
    /// # }
    /// ```
    #[must_use]
    pub fn transport(self, transport: Transport) -> Self {
        self.transports([transport])
    }

    /// Adds a header to every request of the client's connections (`/info`,
    /// the WebSocket handshake, every HTTP request): `Authorization`,
    /// `Origin`, `Cookie`, ... for a server with a handshake hook or an
    /// origin policy. An invalid name or value makes opening fail with
    /// [`Error::InvalidOption`].
    ///
    /// ```
    /// use axum::http::{HeaderMap, StatusCode};
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = SockJsRouter::new(|_session: Session| async {}).handshake(|headers: HeaderMap| async move {
    ///     match headers.get("authorization") {
    ///         Some(token) if token == "Bearer s3cret" => Ok(()),
    ///         _ => Err(StatusCode::UNAUTHORIZED),
    ///     }
    /// });
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    /// let client = Client::in_process(app);
    ///
    /// assert!(client.clone().header("authorization", "Bearer s3cret").open("/chat").await.is_ok());
    /// assert!(matches!(
    ///     client.clone().open("/chat").await,
    ///     Err(Error::Status { status: StatusCode::UNAUTHORIZED, .. })
    /// ));
    /// // A header that cannot be sent is reported when opening.
    /// assert!(matches!(
    ///     client.header("bad name", "x").open("/chat").await,
    ///     Err(Error::InvalidOption(_))
    /// ));
    /// # }
    /// ```
    #[must_use]
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        let name = HeaderName::try_from(name).map_err(Into::into);
        let value = HeaderValue::try_from(value).map_err(Into::into);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            (Err(e), _) | (_, Err(e)) => {
                self.invalid.get_or_insert_with(|| format!("header: {e}"));
            }
        }
        self
    }

    /// Adds a cookie to the `Cookie` header of every request. Cookies the
    /// server sets on a session (`JSESSIONID`) are sent back on its later
    /// requests without this.
    ///
    /// ```
    /// use axum::http::HeaderMap;
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// // The server says back the Cookie header its handshake hook saw.
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let cookies = session.extensions().get::<String>().cloned().unwrap_or_default();
    ///     let _ = session.sender().send(cookies).await;
    /// })
    /// .handshake(|headers: HeaderMap| async move {
    ///     let cookies = headers.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    ///     Ok::<_, std::convert::Infallible>(cookies.to_owned())
    /// });
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    ///
    /// let client = Client::in_process(app).cookie("user", "alice").cookie("theme", "dark");
    /// let mut connection = client.open("/chat").await?;
    /// assert_eq!(connection.recv().await?, "user=alice; theme=dark");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        let line = match self.headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
            Some(cookies) => format!("{cookies}; {name}={value}"),
            None => format!("{name}={value}"),
        };
        match HeaderValue::try_from(line) {
            Ok(value) => {
                self.headers.insert(COOKIE, value);
            }
            Err(e) => {
                self.invalid
                    .get_or_insert_with(|| format!("cookie {name}: {e}"));
            }
        }
        self
    }

    /// How long `/info`, and then opening each transport up to the open
    /// frame, may take; also how long a closing WebSocket waits for the
    /// server's answer. Default: 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::{routing::get, Router};
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // A server that never answers `/info`.
    /// let app: Router = Router::new().route("/stuck/info", get(std::future::pending::<()>));
    /// let client = Client::in_process(app).timeout(Duration::from_millis(100));
    /// assert!(matches!(client.open("/stuck").await, Err(Error::Timeout(_))));
    /// # }
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long an open connection may hear nothing at all from the
    /// server (no message, no heartbeat, no poll answer) before it is
    /// taken for dead and ends with [`Error::Timeout`]; `None` waits for
    /// ever. A SockJS server sends a heartbeat every 25 s by default
    /// (`h`; a poll is answered with one), so silence past that means the
    /// server or the path to it is gone without a word: a peer that
    /// vanished, a proxy or NAT that dropped the connection. Without this
    /// bound such a connection would wait for ever, since TCP reports
    /// nothing while nothing is sent. Default: 60 s (two heartbeats
    /// missed, and some). Set it above the server's heartbeat delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::Router;
    /// use sockjs::{Config, Session, SockJsRouter};
    /// use sockjs_client::{Client, Error, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // A server whose heartbeats are a minute apart, and a session that
    /// // says nothing.
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .config(Config::default().heartbeat_delay(Duration::from_secs(60)));
    /// let app: Router = Router::new().nest("/quiet", service.into_router());
    /// let client = Client::in_process(app)
    ///     .transport(Transport::WebSocket)
    ///     .silence_timeout(Duration::from_millis(100));
    /// let mut connection = client.open("/quiet").await.unwrap();
    /// assert!(matches!(connection.recv().await, Err(Error::Timeout(_))));
    /// # }
    /// ```
    #[must_use]
    pub fn silence_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.silence = timeout.into();
        self
    }

    /// Uses this session id instead of a random one (every transport tried
    /// then uses it). For tests: two connections on one id show the
    /// server's `2010 Another connection still open` on the HTTP
    /// transports. It must be a path segment without a dot.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::{Client, Error, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    /// let client = Client::in_process(app).transport(Transport::XhrStreaming).session_id("abc");
    ///
    /// let _first = client.open("/chat").await.unwrap();
    /// assert_eq!(
    ///     client.open("/chat").await.unwrap_err(),
    ///     Error::Closed { code: 2010, reason: "Another connection still open".into() }
    /// );
    /// # }
    /// ```
    #[must_use]
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Opens a connection to the SockJS service at `url`; see the type's
    /// docs for how.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::Router;
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app: Router = Router::new().nest("/echo", sockjs::router(|_session: sockjs::Session| async {}));
    /// let client = Client::in_process(app);
    /// assert!(client.open("/echo").await.is_ok());
    /// // No service there: `GET /nowhere/info` is a 404.
    /// assert!(matches!(
    ///     client.open("/nowhere").await,
    ///     Err(Error::Status { status: StatusCode::NOT_FOUND, .. })
    /// ));
    /// # }
    /// ```
    pub async fn open(&self, url: &str) -> Result<Connection, Error> {
        if let Some(why) = &self.invalid {
            return Err(Error::InvalidOption(why.clone()));
        }
        if let Some(id) = &self.session_id {
            if id.is_empty() || id.contains(['/', '.']) {
                return Err(Error::InvalidOption(format!(
                    "session id {id:?}: must be a path segment without a dot"
                )));
            }
        }
        let url = ServiceUrl::parse(url, self.connector.is_in_process())?;
        let info = tokio::time::timeout(self.timeout, self.info(&url))
            .await
            .map_err(|_| {
                Error::Timeout(format!("no answer from /info within {:?}", self.timeout))
            })??;
        let mut failures = Vec::new();
        for &transport in &self.transports {
            if transport == Transport::WebSocket && !info.websocket {
                failures.push((transport, Error::TransportDisabled(transport)));
                continue;
            }
            let opening = transport::open(transport, self.target(&url));
            let result = match tokio::time::timeout(self.timeout, opening).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout(format!(
                    "no open frame within {:?}",
                    self.timeout
                ))),
            };
            match result {
                Ok(opened) => {
                    return Ok(driver::spawn(
                        opened,
                        self.timeout,
                        self.silence,
                        self.http.clone(),
                    ))
                }
                Err(e) if e.is_final() => return Err(e),
                Err(e) => failures.push((transport, e)),
            }
        }
        Err(match failures.len() {
            1 => failures.remove(0).1,
            _ => Error::NoTransport(failures),
        })
    }

    /// `GET /info`.
    async fn info(&self, url: &ServiceUrl) -> Result<Info, Error> {
        let response = self
            .http
            .request(Method::GET, &url.http("/info"), &self.headers, None, None)
            .await?;
        if response.status() != StatusCode::OK {
            return Err(status_error(response).await);
        }
        let body = read_all(response, "/info").await?;
        parse_info(&body).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// A new session under `url`: `/<server>/<session>`, sockjs-client's
    /// shape (a random three-digit server id).
    fn target(&self, url: &ServiceUrl) -> Target {
        let random = uuid::Uuid::new_v4();
        let server = random.as_u128() % 1000;
        let session = match &self.session_id {
            Some(id) => id.clone(),
            None => random.simple().to_string(),
        };
        Target {
            url: url.clone(),
            session: format!("/{server:03}/{session}"),
            headers: self.headers.clone(),
            connector: self.connector.clone(),
            http: self.http.clone(),
            jar: Arc::new(Jar::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let client = Client::new()
            .header("authorization", "Bearer x")
            .cookie("a", "1")
            .cookie("b", "2")
            .transport(Transport::XhrPolling);
        assert_eq!(client.headers["authorization"], "Bearer x");
        assert_eq!(client.headers[COOKIE], "a=1; b=2");
        assert_eq!(client.transports, [Transport::XhrPolling]);
        assert!(client.invalid.is_none());
        let bad = Client::new().header("bad header", "x").header("x", "ok");
        assert!(bad.invalid.as_deref().unwrap().starts_with("header: "));
        assert!(Client::new().header("x", "a\nb").invalid.is_some());
    }

    #[tokio::test]
    async fn invalid_options_fail_to_open() {
        let client = Client::new().header("x", "a\nb");
        assert!(matches!(
            client.open("http://127.0.0.1:9/echo").await,
            Err(Error::InvalidOption(_))
        ));
        let client = Client::new().session_id("a.b");
        assert!(matches!(
            client.open("http://127.0.0.1:9/echo").await,
            Err(Error::InvalidOption(_))
        ));
        assert!(matches!(
            Client::connect("https://example.com/echo").await,
            Err(Error::InvalidUrl(_))
        ));
    }
}
