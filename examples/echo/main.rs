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

#[path = "../signal.rs"]
mod signal;

use std::net::SocketAddr;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::serve::ListenerExt;
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

#[tokio::main]
async fn main() {
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
    axum::serve(
        // SockJS frames are small: send them at once, not after Nagle's delay.
        listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }),
        // Gives `session.remote_addr()` the client's address.
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    // Close the sessions first, while axum still serves their last
    // requests; then axum finishes the HTTP requests still in flight.
    .with_graceful_shutdown(async move {
        signal::terminate().await;
        let report = shutdown.graceful(Duration::from_secs(10)).await;
        println!(
            "shut down: {} sessions closed, {} cut off",
            report.sessions, report.forced
        );
    })
    .await
    .expect("server error");
}
