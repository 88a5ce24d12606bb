//! [`SockJsRouter`]: the route table of one SockJS service, as an axum
//! [`Router`] to nest under a prefix.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;

use crate::config::Config;
use crate::iframe;
use crate::info;
use crate::protocol::is_valid_segment;
use crate::rejection::Rejection;
use crate::service::{box_handler, BoxHandler, Service};
use crate::session::Session;
use crate::shutdown::Shutdown;
use crate::transport::{
    eventsource, htmlfile, jsonp, session_segments, websocket, xhr, xhr_streaming, Transport,
};

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
}

impl SockJsRouter {
    /// A service that calls `handler` once per session.
    pub fn new<H, Fut>(handler: H) -> Self
    where
        H: Fn(Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        SockJsRouter {
            handler: box_handler(handler),
            config: Config::default(),
            shutdown: Shutdown::new(),
        }
    }

    /// Replaces the options.
    #[must_use]
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Puts the service under `shutdown`, a handle it may share with other
    /// services, so that one call shuts them all down. Default: a handle of
    /// its own ([`shutdown_handle`](Self::shutdown_handle)).
    #[must_use]
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The handle that shuts this service down.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The axum router: nest it under the service's prefix. It carries its
    /// own state, so it fits into an app of any state type `S`.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let config = &self.config;
        let on = |t: Transport| config.is_enabled(t);
        let session = |name: &str| format!("/{{server}}/{{session}}/{name}");
        let mut router: Router<Arc<Service>> = Router::new()
            .route("/", any(info::greeting))
            .route("/info", get(info::info).options(info::preflight))
            .route("/{file}", any(iframe::page));
        let add =
            |router: Router<Arc<Service>>, path: String, route: MethodRouter<Arc<Service>>| {
                router.route(&path, route)
            };
        if on(Transport::RawWebSocket) {
            router = add(router, "/websocket".into(), get(websocket::raw));
        }
        if on(Transport::WebSocket) {
            router = add(router, session("websocket"), get(websocket::framed));
        }
        if on(Transport::XhrPolling) {
            router = add(
                router,
                session("xhr"),
                post(xhr::poll).options(xhr::preflight),
            );
        }
        if on(Transport::XhrPolling) || on(Transport::XhrStreaming) {
            router = add(
                router,
                session("xhr_send"),
                post(xhr::send).options(xhr::preflight),
            );
        }
        if on(Transport::XhrStreaming) {
            router = add(
                router,
                session("xhr_streaming"),
                post(xhr_streaming::stream).options(xhr::preflight),
            );
        }
        if on(Transport::EventSource) {
            router = add(router, session("eventsource"), get(eventsource::stream));
        }
        if on(Transport::HtmlFile) {
            router = add(router, session("htmlfile"), get(htmlfile::stream));
        }
        if on(Transport::JsonpPolling) {
            router = add(router, session("jsonp"), get(jsonp::poll));
            router = add(router, session("jsonp_send"), post(jsonp::send));
        }
        let service = Arc::new(Service::new(self.config, self.handler, self.shutdown));
        router
            .route_layer(axum::middleware::from_fn(valid_segments))
            .fallback(|| async { Rejection::NotFound })
            .with_state(service)
    }
}

/// 404 for a session URL whose `<server>` or `<session>` segment is not
/// `[^/.]+`, whatever the method (before method routing can answer 405).
/// The segments are checked raw, not percent-decoded, as in sockjs-node.
async fn valid_segments(request: Request, next: Next) -> Response {
    let session_route = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| m.as_str().contains("/{server}/{session}/"));
    let valid = !session_route
        || session_segments(request.uri().path())
            .is_some_and(|(server, session)| is_valid_segment(server) && is_valid_segment(session));
    if valid {
        next.run(request).await
    } else {
        Rejection::NotFound.into_response()
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
