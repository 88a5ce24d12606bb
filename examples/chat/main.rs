//! A chat room: state shared between sessions.
//!
//! Every session subscribes to one `tokio::sync::broadcast` channel, the
//! room. A member's first message is its nick; each later one is published
//! to the room as a JSON event, and so are joins and leaves. Each session's
//! handler is its own task forwarding room events to its client, so a slow
//! client only falls behind itself: when it lags more than the channel
//! holds, it is told how many messages it missed, and nobody else waits.
//! When a session ends (closed tab, timeout, network), its handler leaves
//! the room and the others see it go.
//!
//! ```text
//! cargo run --example chat        # then open http://127.0.0.1:8080/ in two tabs
//! PORT=3000 cargo run --example chat
//! ```
//!
//! Ctrl-C (or SIGTERM) closes every member's session with
//! `c[1001,"Server shutting down"]` before the server exits.

#[path = "../signal.rs"]
mod signal;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use serde_json::{json, Value};
use sockjs::{Config, Session, SockJsRouter};
use tokio::sync::broadcast::{self, error::RecvError};

/// Room events buffered for members that fall behind.
const BACKLOG: usize = 256;
/// Longest nick and message, in characters; longer ones are cut.
const MAX_NICK: usize = 24;
const MAX_TEXT: usize = 500;

/// The state every session shares.
struct Room {
    /// Events as JSON text, encoded once for all members.
    events: broadcast::Sender<String>,
    online: AtomicUsize,
}

impl Room {
    fn new() -> Self {
        Room {
            events: broadcast::channel(BACKLOG).0,
            online: AtomicUsize::new(0),
        }
    }

    fn publish(&self, event: Value) {
        // Fails only when nobody is subscribed, which is fine.
        let _ = self.events.send(event.to_string());
    }

    /// One member's session, from its nick to its leaving.
    async fn member(self: Arc<Self>, session: Session) {
        let (tx, mut rx) = session.split();
        let Some(nick) = rx.recv().await else {
            return; // gone before saying who it is
        };
        let nick = clip(nick.trim(), MAX_NICK);
        let nick = if nick.is_empty() { "anonymous" } else { nick }.to_owned();

        // Subscribe before announcing, so the member sees its own join.
        let mut events = self.events.subscribe();
        let online = self.online.fetch_add(1, Ordering::Relaxed) + 1;
        self.publish(json!({ "type": "join", "nick": nick, "online": online }));

        loop {
            tokio::select! {
                incoming = rx.recv() => match incoming {
                    Some(text) => self.publish(json!({
                        "type": "message",
                        "nick": nick,
                        "text": clip(&text, MAX_TEXT),
                    })),
                    // The session is closed: the client left or timed out.
                    None => break,
                },
                event = events.recv() => {
                    let event = match event {
                        Ok(event) => event,
                        // This client reads slower than the room talks.
                        Err(RecvError::Lagged(missed)) => {
                            json!({ "type": "lagged", "missed": missed }).to_string()
                        }
                        Err(RecvError::Closed) => break,
                    };
                    // Waits only for this client; fails once it is gone.
                    if tx.send(event).await.is_err() {
                        break;
                    }
                }
            }
        }

        // Cleanup: unsubscribe, then tell the others. Returning drops the
        // halves, which closes the session if it is not closed yet.
        drop(events);
        let online = self.online.fetch_sub(1, Ordering::Relaxed) - 1;
        self.publish(json!({ "type": "leave", "nick": nick, "online": online }));
        if let Some(reason) = rx.close_reason() {
            println!("{nick} left: {reason}");
        }
    }
}

/// The first `max` characters of `text`.
fn clip(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(end, _)| &text[..end])
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
    let room = Arc::new(Room::new());
    let chat = SockJsRouter::new(move |session| room.clone().member(session))
        // Chat lines are short: refuse anything bigger than 4 KiB.
        .config(Config::default().max_message_size(4 * 1024));
    let shutdown = chat.shutdown_handle();
    let app = Router::new()
        .route("/", get(page))
        .nest("/chat", chat.into_router());

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("chat example: open http://{addr}/ in two browser tabs");
    axum::serve(
        // SockJS frames are small: send them at once, not after Nagle's delay.
        listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    // Ctrl-C: everyone in the room gets `c[1001,"Server shutting down"]`.
    .with_graceful_shutdown(async move {
        signal::terminate().await;
        shutdown.graceful(Duration::from_secs(10)).await;
    })
    .await
    .expect("server error");
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("hi", 5), "hi");
        assert_eq!(clip("", 0), "");
    }
}
