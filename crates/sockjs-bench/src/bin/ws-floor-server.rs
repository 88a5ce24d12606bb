//! The floor of `cargo xtask bench`: the least a websocket echo server can do
//! with tokio-tungstenite, so the benchmark can say how far the SockJS
//! library is above it.
//!
//! It answers just enough of the `/echo` service for the `ws-echo` and
//! `raw-ws-echo` scenarios:
//!
//! - `GET /echo/websocket` (raw): every text message is sent back unchanged;
//! - `GET /echo/<server>/<session>/websocket` (framed): sends `o`, then
//!   answers a message `["x"]` with `a["x"]` (and `"x"` with `a["x"]`),
//!   without parsing or re-escaping the JSON — less work than any real SockJS
//!   server does, which is the point of a floor;
//! - any other request (e.g. `GET /echo/info`, polled for readiness): `200`
//!   with `{}`.
//!
//! usage: `ws-floor-server [--port N] [--host H] [--read-buffer BYTES]`
//! (other flags are ignored so it takes the same command line as the other
//! servers).
//!
//! The read buffer defaults to 4 KiB, as the SockJS library's websockets
//! use, instead of tungstenite's 128 KiB: tungstenite zero-fills the free part
//! of its read buffer before every read, so the default would make the floor
//! pay for clearing 128 KiB per read, which is no part of echoing.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = arg("--port").unwrap_or_else(|| "8082".into());
    let host = arg("--host").unwrap_or_else(|| "127.0.0.1".into());
    let read_buffer: usize = match arg("--read-buffer") {
        Some(v) => v.parse().map_err(std::io::Error::other)?,
        None => 4096,
    };
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let listener = TcpListener::bind(format!("{host}:{port}")).await?;
    println!("ws-floor-server listening on http://{host}:{port}");
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = connection(stream, config).await;
        });
    }
}

/// Looks at the request head without consuming it: websocket upgrades go to
/// tungstenite, anything else gets a small `200`.
#[allow(clippy::result_large_err)] // the handshake callback's error type is tungstenite's
async fn connection(mut stream: TcpStream, config: WebSocketConfig) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut head = [0u8; 4096];
    let n = loop {
        let n = stream.peek(&mut head).await?;
        if n == 0 {
            return Ok(());
        }
        if head[..n].windows(4).any(|w| w == b"\r\n\r\n") || n == head.len() {
            break n;
        }
        tokio::task::yield_now().await;
    };
    let text = String::from_utf8_lossy(&head[..n]).to_ascii_lowercase();
    if !text.contains("\r\nupgrade:") {
        let mut sink = vec![0u8; n];
        stream.read_exact(&mut sink).await?;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            .await?;
        return Ok(());
    }
    let mut raw = false;
    let callback = |req: &Request, resp: Response| {
        raw = req.uri().path() == "/echo/websocket";
        Ok(resp)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
        .await
        .map_err(std::io::Error::other)?;
    if raw {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(msg @ Message::Text(_)) => {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    } else {
        if ws.send(Message::text("o")).await.is_err() {
            return Ok(());
        }
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Text(text)) => {
                    let reply = if text.starts_with('[') {
                        format!("a{}", text.as_str())
                    } else {
                        format!("a[{}]", text.as_str())
                    };
                    if ws.send(Message::text(reply)).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    Ok(())
}
