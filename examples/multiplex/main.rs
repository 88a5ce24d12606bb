//! Several logical channels over one SockJS connection.
//!
//! The wire format is the one of sockjs-node's websocket-multiplex
//! example, so its client library works too: every SockJS message is
//! `type,topic,payload`, where `type` is `sub` (open the channel `topic`),
//! `msg` (a message on it) or `uns` (close it). The server has three
//! channels, each with a handler of its own that sees only its messages:
//!
//! - `echo`: answers every message with itself;
//! - `shout`: answers in capitals;
//! - `clock`: says the time every second until the page unsubscribes.
//!
//! The page (`/`) opens one SockJS connection and the three channels over
//! it, one box each; its client side is thirty lines of JavaScript.
//!
//! ```text
//! cargo run --example multiplex     # then open http://127.0.0.1:8080/
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockjs::{Sender, Session, SockJsRouter};
use tokio::sync::mpsc;

/// One side of a logical channel, as its handler sees it.
struct Channel {
    topic: String,
    tx: Sender,
    rx: mpsc::Receiver<String>,
}

impl Channel {
    /// Sends `payload` on this channel.
    async fn send(&self, payload: &str) -> bool {
        self.tx
            .send(format!("msg,{},{payload}", self.topic))
            .await
            .is_ok()
    }

    /// The next message on this channel; `None` once it is closed.
    async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }

    /// Closes the channel from the server's side.
    async fn close(self) {
        let _ = self.tx.send(format!("uns,{}", self.topic)).await;
    }
}

async fn echo(mut channel: Channel) {
    while let Some(message) = channel.recv().await {
        if !channel.send(&message).await {
            break;
        }
    }
}

async fn shout(mut channel: Channel) {
    channel.send("I only speak in capitals.").await;
    while let Some(message) = channel.recv().await {
        if !channel.send(&message.to_uppercase()).await {
            break;
        }
    }
}

async fn clock(mut channel: Channel) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for _ in 0..30 {
        tokio::select! {
            _ = tick.tick() => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs();
                let time = format!("{:02}:{:02}:{:02} UTC", now / 3600 % 24, now / 60 % 60, now % 60);
                if !channel.send(&time).await {
                    return;
                }
            }
            message = channel.recv() => if message.is_none() {
                return; // unsubscribed
            },
        }
    }
    channel.send("That's enough ticking.").await;
    channel.close().await;
}

/// Splits one SockJS session into its channels.
async fn multiplex(session: Session) {
    let (tx, mut rx) = session.split();
    let mut open: HashMap<String, mpsc::Sender<String>> = HashMap::new();
    while let Some(message) = rx.recv().await {
        let mut parts = message.splitn(3, ',');
        let (kind, topic) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        match kind {
            "sub" if !open.contains_key(topic) => {
                let handler = match topic {
                    "echo" => |c| tokio::spawn(echo(c)),
                    "shout" => |c| tokio::spawn(shout(c)),
                    "clock" => |c| tokio::spawn(clock(c)),
                    _ => {
                        // No such channel: closed at once.
                        let _ = tx.send(format!("uns,{topic}")).await;
                        continue;
                    }
                };
                let (to_channel, from_session) = mpsc::channel(64);
                open.insert(topic.to_owned(), to_channel);
                handler(Channel {
                    topic: topic.to_owned(),
                    tx: tx.clone(),
                    rx: from_session,
                });
            }
            "msg" => {
                if let Some(channel) = open.get(topic) {
                    let payload = parts.next().unwrap_or("").to_owned();
                    if channel.send(payload).await.is_err() {
                        open.remove(topic); // its handler ended
                    }
                }
            }
            "uns" => {
                open.remove(topic); // its handler's recv() ends
            }
            _ => {}
        }
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

fn app() -> (Router, sockjs::Shutdown) {
    let service = SockJsRouter::new(multiplex);
    let shutdown = service.shutdown_handle();
    let router = Router::new()
        .route("/", get(page))
        .nest("/multiplex", service.into_router());
    (router, shutdown)
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
    let (app, shutdown) = app();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("multiplex example: open http://{addr}/");
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
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn post(app: &Router, path: &str, body: &str) -> String {
        let request = Request::post(path)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn channels_share_one_session_and_stay_apart() {
        let (app, _) = app();
        assert_eq!(post(&app, "/multiplex/0/s/xhr", "").await, "o\n");
        let send = |m: &'static str| post(&app, "/multiplex/0/s/xhr_send", m);
        send(r#"["sub,echo","sub,shout","sub,nope"]"#).await;
        send(r#"["msg,echo,hello, world","msg,shout,hello"]"#).await;
        let mut got: Vec<String> = Vec::new();
        while got.len() < 4 {
            let frame = post(&app, "/multiplex/0/s/xhr", "").await;
            match sockjs_proto::decode(frame.trim_end()) {
                Ok(sockjs_proto::Decoded::Messages(ms)) => {
                    got.extend(ms.into_iter().map(|m| m.into_owned()))
                }
                other => panic!("expected messages, got {other:?}"),
            }
        }
        got.sort();
        assert_eq!(
            got,
            [
                "msg,echo,hello, world",
                "msg,shout,HELLO",
                "msg,shout,I only speak in capitals.",
                "uns,nope",
            ]
        );
    }
}
