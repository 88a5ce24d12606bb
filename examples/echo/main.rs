//! The quickstart: a SockJS echo service at `/echo` and a page to try it.
//!
//! Every message a client sends comes straight back. The page at `/` loads
//! sockjs-client from a CDN, shows the transport it connected with and lets
//! you force any of them (websocket, xhr-streaming, eventsource, ...).
//!
//! ```text
//! cargo run --example echo        # then open http://127.0.0.1:8080/
//! PORT=3000 cargo run --example echo
//! ```
//!
//! Ctrl-C (or SIGTERM) shuts it down gracefully: every open session gets
//! `c[1001,"Server shutting down"]`, then the server exits.

use std::net::SocketAddr;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockjs::{Session, SockJsRouter};

/// Called once per session, after the client got `o`. Returning closes the
/// session (normal closure); here that happens when the client has gone.
async fn echo(session: Session) {
    println!(
        "{} session opened from {:?}",
        session.transport(),
        session.remote_addr()
    );
    let (tx, mut rx) = session.split();
    while let Some(message) = rx.recv().await {
        if tx.send(message).await.is_err() {
            break;
        }
    }
    if let Some(reason) = rx.close_reason() {
        println!("session ended: {reason}");
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("index.html"))
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
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().expect("PORT must be a port number"),
        Err(_) => 8080,
    };
    let echo = SockJsRouter::new(echo);
    let shutdown = echo.shutdown_handle();
    let app = Router::new()
        .route("/", get(page))
        .nest("/echo", echo.into_router());

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("echo example: open http://{addr}/");
    // TCP_NODELAY, ConnectInfo (`session.remote_addr()`), header and idle
    // timeouts; on SIGTERM or Ctrl-C the sessions get
    // `c[1001,"Server shutting down"]` while the server still serves their
    // last requests, then it stops (10 s at most).
    sockjs::serve(listener, app)
        .shutdown(shutdown)
        .shutdown_on_signal()
        .await
        .expect("server error");
}
