//! SockJS next to ordinary axum routes, behind tower-http layers.
//!
//! - `TraceLayer` logs every request (set `RUST_LOG` to change what is shown);
//!   its span carries the request id.
//! - `SetRequestIdLayer` gives each request an `x-request-id` (a UUID) and
//!   puts it in the request's extensions; `PropagateRequestIdLayer` copies it
//!   to the response.
//! - A small `middleware::from_fn` stands in for authentication: it turns a
//!   `user` cookie into a `User` extension. The SockJS handler reads both
//!   extensions with `session.extensions()`: sessions never see `Cookie` or
//!   `Authorization` in `session.headers()`, only what the layers decided.
//! - `Config::default().cors(false)` leaves CORS to a `CorsLayer`, which
//!   here only admits pages served from localhost (the service's own CORS
//!   admits every origin, as sockjs-node does). Without its own CORS the
//!   service serves no iframe page, so the `iframe-*` transports are off.
//! - `/health` and `/api/stats` are plain axum routes sharing state with the
//!   SockJS handler.
//! - `/metrics` serves the library's metrics (`sockjs::metrics`: sessions
//!   open and opened by transport, closes by reason, messages and bytes,
//!   refusals, ...) in Prometheus' text format, through
//!   metrics-exporter-prometheus installed as the `metrics` recorder.
//!
//! ```text
//! cargo run --example tower
//! curl -i http://127.0.0.1:8080/health
//! curl -s -XPOST -b user=alice http://127.0.0.1:8080/echo/000/s1/xhr     # o
//! curl -s -XPOST -b user=alice -d '["hi"]' http://127.0.0.1:8080/echo/000/s1/xhr_send
//! curl -s -XPOST -b user=alice http://127.0.0.1:8080/echo/000/s1/xhr     # a["alice: hi"]
//! curl -s http://127.0.0.1:8080/api/stats
//! curl -s http://127.0.0.1:8080/metrics | grep sockjs_
//! ```
//!
//! `PORT` changes the port (default 8080). Ctrl-C (or SIGTERM) shuts down
//! gracefully: the sessions are closed first, then axum finishes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{json, Value};
use sockjs::{Config, Session, Shutdown, SockJsRouter};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

/// Who is calling, as the authentication layer decided.
#[derive(Clone, Debug)]
struct User(String);

/// Stands in for an authentication layer. A real one would verify a
/// session cookie or a token; this one believes the `user` cookie.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| cookie.trim().strip_prefix("user="))
        .filter(|name| !name.is_empty())
        .unwrap_or("guest")
        .to_owned();
    request.extensions_mut().insert(User(user));
    next.run(request).await
}

/// Counters shared by the SockJS handler and the `/api` routes.
#[derive(Default)]
struct Stats {
    open: AtomicU64,
    total: AtomicU64,
    messages: AtomicU64,
}

/// Echoes each message prefixed with the user's name.
async fn echo(stats: Arc<Stats>, session: Session) {
    let user = session
        .extensions()
        .get::<User>()
        .map_or_else(|| "guest".to_owned(), |user| user.0.clone());
    // The id of the request that opened the session.
    let request_id = session
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let agent = session
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info!(
        %request_id,
        user,
        transport = %session.transport(),
        remote_addr = ?session.remote_addr(),
        agent,
        "session opened",
    );
    stats.open.fetch_add(1, Ordering::Relaxed);
    stats.total.fetch_add(1, Ordering::Relaxed);

    let (tx, mut rx) = session.split();
    while let Some(message) = rx.recv().await {
        stats.messages.fetch_add(1, Ordering::Relaxed);
        if tx.send(format!("{user}: {message}")).await.is_err() {
            break;
        }
    }

    stats.open.fetch_sub(1, Ordering::Relaxed);
    let reason = rx.close_reason().map(|reason| reason.to_string());
    tracing::info!(%request_id, user, reason, "session ended");
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn api_stats(State(stats): State<Arc<Stats>>) -> Json<Value> {
    Json(json!({
        "open_sessions": stats.open.load(Ordering::Relaxed),
        "total_sessions": stats.total.load(Ordering::Relaxed),
        "messages": stats.messages.load(Ordering::Relaxed),
    }))
}

/// CORS for pages served from localhost on any port; credentials allowed,
/// as sockjs-client's XHR transports send cookies.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| {
            let origin = origin.as_bytes();
            [b"http://localhost".as_slice(), b"http://127.0.0.1"]
                .iter()
                .any(|host| {
                    origin
                        .strip_prefix(*host)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b":"))
                })
        }))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(24 * 60 * 60))
}

fn app(shutdown: &Shutdown, prometheus: PrometheusHandle) -> Router {
    let stats = Arc::new(Stats::default());
    let sockjs_stats = stats.clone();
    let echo_service = SockJsRouter::new(move |session| echo(sockjs_stats.clone(), session))
        .config(Config::default().cors(false))
        .shutdown(shutdown.clone())
        .into_router();

    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(move || std::future::ready(prometheus.render())))
        .route("/api/stats", get(api_stats))
        .with_state(stats)
        .nest("/echo", echo_service)
        // Layers wrap what is above them: the last one sees requests first.
        .layer(middleware::from_fn(authenticate))
        .layer(cors())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let id = request
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", %id, method = %request.method(), uri = %request.uri())
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn main() {
    // A runtime that serves every session in turn when thousands are busy
    // at once (`#[tokio::main]` cannot be told to; see `sockjs::runtime`).
    sockjs::runtime()
        .build()
        .expect("a tokio runtime")
        .block_on(run());
}

async fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=debug".into()),
        )
        .init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().expect("PORT must be a port number"),
        Err(_) => 8080,
    };

    let shutdown = Shutdown::new();
    // The recorder every `metrics` call in the process reports to.
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other metrics recorder installed");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    tracing::info!("listening on http://{addr} (try /health, /api/stats, /metrics, /echo/info)");
    // TCP_NODELAY, ConnectInfo (`session.remote_addr()`), header and idle
    // timeouts; on SIGTERM or Ctrl-C the sessions get
    // `c[1001,"Server shutting down"]` while the server still serves their
    // last requests, then it stops (10 s at most).
    sockjs::serve(listener, app(&shutdown, prometheus))
        .shutdown(shutdown)
        .shutdown_on_signal()
        .await
        .expect("server error");
}
