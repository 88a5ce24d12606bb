//! A chat room: state shared between sessions, through `sockjs::Rooms`.
//!
//! A member's first message is its nick; it then joins the room `chat`, and
//! each later line is sent to the room as a JSON event, as are joins and
//! leaves with the count of members online. `Rooms::send` encodes an event
//! once for every member and never waits: a member whose client reads
//! slowly gets everything up to twice its queue, and past that is closed
//! (1013) rather than holding the others up or missing messages. Members
//! leave the room by themselves when their session closes (tab closed,
//! network gone, timeout).
//!
//! ```text
//! cargo run --example chat        # then open http://127.0.0.1:8080/ in two tabs
//! PORT=3000 cargo run --example chat
//! ```
//!
//! Ctrl-C (or SIGTERM) closes every member's session with
//! `c[1001,"Server shutting down"]` before the server exits.

use std::net::SocketAddr;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use sockjs::{Config, Session, SockJsRouter};

/// The room every member joins.
const ROOM: &str = "chat";
/// Longest nick and message, in characters; longer ones are cut.
const MAX_NICK: usize = 24;
const MAX_TEXT: usize = 500;

/// One member's session, from its nick to its leaving.
async fn member(session: Session) {
    let (tx, mut rx) = session.split();
    let Some(nick) = rx.recv().await else {
        return; // gone before saying who it is
    };
    let nick = clip(nick.trim(), MAX_NICK);
    let nick = if nick.is_empty() { "anonymous" } else { nick }.to_owned();
    let rooms = tx.rooms().clone();

    // Join before announcing, so the member sees its own join.
    tx.join(ROOM);
    let online = rooms.members(ROOM);
    rooms.send(
        ROOM,
        json!({ "type": "join", "nick": nick, "online": online }).to_string(),
    );

    while let Some(text) = rx.recv().await {
        let event = json!({ "type": "message", "nick": nick, "text": clip(&text, MAX_TEXT) });
        rooms.send(ROOM, event.to_string());
    }

    // The session is closed (and out of the room): tell the others.
    let online = rooms.members(ROOM);
    rooms.send(
        ROOM,
        json!({ "type": "leave", "nick": nick, "online": online }).to_string(),
    );
    if let Some(reason) = rx.close_reason() {
        println!("{nick} left: {reason}");
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
    let chat = SockJsRouter::new(member)
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
