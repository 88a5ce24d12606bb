//! [`SockJsRouter`]: the route table of one SockJS service, as an axum
//! [`Router`] to nest under a prefix.

use std::future::Future;
use std::sync::Arc;

use axum::Router;

use crate::config::Config;
use crate::endpoints;
use crate::handshake::{self, BoxHandshake, Handshake};
use crate::rooms::Rooms;
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::state::{box_handler, BoxHandler, ServiceState};

/// A SockJS service under construction: the handler and its [`Config`].
///
/// ```no_run
/// use std::time::Duration;
/// use axum::Router;
/// use sockjs::{Config, SockJsRouter};
///
/// # async fn run() -> std::io::Result<()> {
/// let echo = SockJsRouter::new(|session: sockjs::Session| async move {
///     let (tx, mut rx) = session.split();
///     while let Some(message) = rx.recv().await {
///         if tx.send(message).await.is_err() {
///             break;
///         }
///     }
/// })
/// .config(Config::default().heartbeat_delay(Duration::from_secs(10)))
/// .into_router();
///
/// let app: Router = Router::new().nest("/echo", echo);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub struct SockJsRouter {
    handler: BoxHandler,
    config: Config,
    shutdown: Shutdown,
    rooms: Rooms,
    handshake: Option<BoxHandshake>,
    #[cfg(feature = "cluster")]
    directory: Option<Arc<dyn crate::cluster::Directory>>,
    #[cfg(feature = "cluster")]
    forwarding: Option<crate::cluster::Forwarding>,
}

impl SockJsRouter {
    /// A service that calls `handler` once per session.
    ///
    /// The future it returns runs on the tokio runtime like a spawned task
    /// (a WebSocket session polls it in its connection's own task while the
    /// connection lives, and spawns the rest when the connection ends), so
    /// it must not block its thread: use `tokio::task::spawn_blocking` for
    /// blocking work. It may outlive its connection. A panic in it ends the
    /// handler alone, as in a task of its own: its session halves are
    /// dropped, which closes the session with `1000` ("Normal closure").
    ///
    /// ```
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// let echo = SockJsRouter::new(|session: Session| async move {
    ///     let (tx, mut rx) = session.split();
    ///     while let Some(message) = rx.recv().await {
    ///         let _ = tx.send(message).await;
    ///     }
    /// });
    /// let app: axum::Router = axum::Router::new().nest("/echo", echo.into_router());
    /// ```
    pub fn new<H, Fut>(handler: H) -> Self
    where
        H: Fn(Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        SockJsRouter {
            handler: box_handler(handler),
            config: Config::default(),
            shutdown: Shutdown::new(),
            rooms: Rooms::new(),
            handshake: None,
            #[cfg(feature = "cluster")]
            directory: None,
            #[cfg(feature = "cluster")]
            forwarding: None,
        }
    }

    /// Serves the service from several nodes without sticky routing: a
    /// request for a session another node holds is forwarded there (see
    /// [`cluster`](crate::cluster)). Feature `cluster`.
    ///
    /// ```no_run
    /// use sockjs::cluster::MemoryDirectory;
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// # async fn run() -> std::io::Result<()> {
    /// // This node answers at http://10.0.0.1:8080; the directory says where
    /// // every session of the cluster lives (across processes: a shared
    /// // store such as sockjs-redis's).
    /// let directory = MemoryDirectory::new("http://10.0.0.1:8080");
    /// let chat = SockJsRouter::new(|_session: Session| async {})
    ///     .directory(directory)
    ///     .into_router();
    /// let app: axum::Router = axum::Router::new().nest("/chat", chat);
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    /// axum::serve(listener, app).await
    /// # }
    /// ```
    #[cfg(feature = "cluster")]
    #[must_use]
    pub fn directory(mut self, directory: impl crate::cluster::Directory) -> Self {
        self.directory = Some(Arc::new(directory));
        self
    }

    /// How this service's nodes sign, check and carry forwarded requests
    /// (the secret, the clock skew, TLS authorities for `https://` node
    /// URLs): see [`Forwarding`](crate::cluster::Forwarding). Only used
    /// with a [`directory`](Self::directory). Default:
    /// `Forwarding::new()` (the directory's shared secret).
    ///
    /// ```
    /// use sockjs::cluster::{Forwarding, MemoryDirectory};
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// let chat = SockJsRouter::new(|_session: Session| async {})
    ///     .directory(MemoryDirectory::new("http://10.0.0.1:8080"))
    ///     .forwarding(Forwarding::new().secret("32 random bytes, on every node"))
    ///     .into_router();
    /// let app: axum::Router = axum::Router::new().nest("/chat", chat);
    /// ```
    #[cfg(feature = "cluster")]
    #[must_use]
    pub fn forwarding(mut self, forwarding: crate::cluster::Forwarding) -> Self {
        self.forwarding = Some(forwarding);
        self
    }

    /// Puts the service's sessions in `rooms`, which it may share with
    /// other services (and which may span nodes through a broker). Default:
    /// rooms of its own ([`rooms_handle`](Self::rooms_handle)).
    ///
    /// ```
    /// use sockjs::{Rooms, Session, SockJsRouter};
    ///
    /// // One set of rooms for the WebSocket-only and the fallback service.
    /// let rooms = Rooms::new();
    /// let handler = |session: Session| async move {
    ///     session.sender().join("lobby");
    /// };
    /// let fast = SockJsRouter::new(handler).rooms(rooms.clone());
    /// let slow = SockJsRouter::new(handler).rooms(rooms.clone());
    /// let app: axum::Router = axum::Router::new()
    ///     .nest("/fast", fast.into_router())
    ///     .nest("/slow", slow.into_router());
    /// rooms.send("lobby", "reaches both services");
    /// ```
    #[must_use]
    pub fn rooms(mut self, rooms: Rooms) -> Self {
        self.rooms = rooms;
        self
    }

    /// The rooms of this service's sessions: send to a room or to every
    /// session from anywhere in the app.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// let service = SockJsRouter::new(|_session: Session| async {});
    /// let rooms = service.rooms_handle();
    /// let app: axum::Router = axum::Router::new().nest("/clock", service.into_router());
    ///
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// // A task of the app sends to every session, whoever opened it.
    /// tokio::spawn(async move {
    ///     loop {
    ///         rooms.send_all("tick");
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///     }
    /// });
    /// # });
    /// ```
    pub fn rooms_handle(&self) -> Rooms {
        self.rooms.clone()
    }

    /// Runs `hook` on every request that would open a session, before the
    /// session exists: it accepts (and attaches data the handler reads from
    /// [`Session::extensions`]) or refuses with a response of its own. Its
    /// arguments are axum extractors; see [`Handshake`].
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use axum::Router;
    /// use axum_extra::extract::CookieJar;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let chat = SockJsRouter::new(|session: Session| async move {
    ///     let user = session.extensions().get::<String>().cloned().unwrap_or_default();
    ///     let _ = session.sender().send(format!("hello {user}")).await;
    /// })
    /// .handshake(|cookies: CookieJar| async move {
    ///     match cookies.get("user") {
    ///         Some(cookie) => Ok(cookie.value().to_owned()),
    ///         None => Err((StatusCode::UNAUTHORIZED, "Log in first.")),
    ///     }
    /// });
    /// let app: Router = Router::new().nest("/chat", chat.into_router());
    ///
    /// let client = Client::in_process(app);
    /// let mut connection = client.clone().cookie("user", "alice").open("/chat").await.unwrap();
    /// assert_eq!(connection.recv().await.unwrap(), "hello alice");
    /// match client.open("/chat").await {
    ///     Err(Error::Status { status, .. }) => assert_eq!(status, StatusCode::UNAUTHORIZED),
    ///     other => panic!("expected a refusal, got {other:?}"),
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn handshake<Args: 'static>(mut self, hook: impl Handshake<Args>) -> Self {
        self.handshake = Some(handshake::boxed(hook));
        self
    }

    /// Replaces the options.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs::{Config, Session, SockJsRouter};
    ///
    /// let service = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().disconnect_delay(Duration::from_secs(15)));
    /// ```
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Puts the service under `shutdown`, a handle it may share with other
    /// services, so that one call shuts them all down. Default: a handle of
    /// its own ([`shutdown_handle`](Self::shutdown_handle)).
    ///
    /// ```
    /// use sockjs::{Session, Shutdown, SockJsRouter};
    ///
    /// let shutdown = Shutdown::new();
    /// let chat = SockJsRouter::new(|_session: Session| async {}).shutdown(shutdown.clone());
    /// let feed = SockJsRouter::new(|_session: Session| async {}).shutdown(shutdown.clone());
    /// let app: axum::Router = axum::Router::new()
    ///     .nest("/chat", chat.into_router())
    ///     .nest("/feed", feed.into_router());
    /// // Later, one call closes the sessions of both:
    /// shutdown.begin();
    /// ```
    #[must_use]
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The handle that shuts this service down.
    ///
    /// ```
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// let service = SockJsRouter::new(|_session: Session| async {});
    /// let shutdown = service.shutdown_handle();
    /// let app: axum::Router = axum::Router::new().nest("/chat", service.into_router());
    /// assert!(!shutdown.is_shutting_down());
    /// ```
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The axum router: nest it under the service's prefix. It carries its
    /// own state, so it fits into an app of any state type `S`.
    ///
    /// ```
    /// use axum::{extract::State, routing::get, Router};
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// #[derive(Clone)]
    /// struct AppState {
    ///     name: &'static str,
    /// }
    ///
    /// let chat = SockJsRouter::new(|_session: Session| async {}).into_router();
    /// // The app's own state type does not matter to the SockJS router.
    /// let app: Router = Router::new()
    ///     .route("/name", get(|State(state): State<AppState>| async move { state.name }))
    ///     .nest("/chat", chat)
    ///     .with_state(AppState { name: "demo" });
    /// ```
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        if !self.config.origins.is_restricted()
            && (self.handshake.is_some() || self.config.jsessionid.is_some())
        {
            // sockjs-node's default, kept for compatibility, but with a
            // handshake hook or cookies it lets any web page open sessions
            // with a visitor's credentials: say so once, where it is built.
            tracing::warn!(
                "SockJS service with a handshake hook or JSESSIONID but no origin policy: \
                 any web page can open sessions with its visitors' cookies; \
                 set Config::allowed_origins"
            );
        }
        #[allow(unused_mut)]
        let mut service = ServiceState::new(
            self.config,
            self.handler,
            self.shutdown,
            self.rooms,
            self.handshake,
        );
        #[cfg(feature = "cluster")]
        {
            service.forwarder = self.directory.map(|directory| {
                Arc::new(crate::cluster::Forwarder::new(
                    directory,
                    self.forwarding.unwrap_or_default(),
                ))
            });
        }
        let service = Arc::new(service);
        endpoints::routes(&service).with_state(service)
    }
}

/// A SockJS service with default options, calling `handler` once per
/// session; nest the result under its prefix.
///
/// ```no_run
/// use axum::Router;
///
/// # async fn run() -> std::io::Result<()> {
/// let app: Router = Router::new().nest(
///     "/echo",
///     sockjs::router(|session: sockjs::Session| async move {
///         let (tx, mut rx) = session.split();
///         while let Some(message) = rx.recv().await {
///             let _ = tx.send(message).await;
///         }
///     }),
/// );
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
pub fn router<S, H, Fut>(handler: H) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    H: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    SockJsRouter::new(handler).into_router()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// What a `tracing` subscriber wrote while `into_router` ran.
    fn logged(router: SockJsRouter) -> String {
        #[derive(Clone, Default)]
        struct Written(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Written {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let written = Written::default();
        let writer = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let _: Router = router.into_router();
        });
        let bytes = written.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn an_open_origin_policy_is_warned_about_with_a_hook_or_cookies_only() {
        let new = || SockJsRouter::new(|_session: Session| async {});
        let warned = |router| logged(router).contains("no origin policy");
        assert!(!warned(new()));
        assert!(warned(new().config(Config::default().jsessionid(true))));
        assert!(warned(new().handshake(|_: http::HeaderMap| async {
            Ok::<(), http::StatusCode>(())
        })));
        let listed = Config::default()
            .jsessionid(true)
            .allowed_origins(["https://a.example"]);
        assert!(!warned(new().config(listed)));
    }
}
