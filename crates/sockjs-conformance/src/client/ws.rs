//! WebSocket (RFC 6455) client on top of tokio-tungstenite, with a timeout
//! on every read and the server's close frame made visible.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::{Error, Target};

/// What the server sent next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (answered automatically).
    Ping,
    /// A close frame with its code and reason, if any.
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame.
    Ended,
}

/// An open WebSocket.
#[derive(Debug)]
pub struct Ws {
    inner: WebSocketStream<TcpStream>,
    timeout: Duration,
}

impl Ws {
    /// Opens a WebSocket to `path` (e.g. `/echo/000/abc/websocket`).
    pub async fn connect(target: &Target, path: &str) -> Result<Ws, Error> {
        let tcp = tokio::time::timeout(target.timeout, TcpStream::connect(target.addr))
            .await
            .map_err(|_| Error("websocket connect: timed out".into()))?
            .map_err(|e| Error(format!("websocket connect: {e}")))?;
        tcp.set_nodelay(true).ok();
        let url = format!("ws://{}{path}", target.host);
        let (inner, _) = tokio::time::timeout(
            target.timeout,
            tokio_tungstenite::client_async(url.as_str(), tcp),
        )
        .await
        .map_err(|_| Error(format!("websocket handshake to {path}: timed out")))?
        .map_err(|e| Error(format!("websocket handshake to {path}: {e}")))?;
        Ok(Ws {
            inner,
            timeout: target.timeout,
        })
    }

    /// Sends a text message.
    pub async fn send(&mut self, text: &str) -> Result<(), Error> {
        self.inner
            .send(Message::text(text))
            .await
            .map_err(|e| Error(format!("websocket send: {e}")))
    }

    /// The next thing the server sends, within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Result<WsEvent, Error> {
        let next = tokio::time::timeout(wait, self.inner.next())
            .await
            .map_err(|_| Error(format!("nothing from the websocket within {wait:?}")))?;
        Ok(match next {
            None => WsEvent::Ended,
            Some(Ok(Message::Text(t))) => WsEvent::Text(t.as_str().to_string()),
            Some(Ok(Message::Binary(b))) => WsEvent::Binary(b.to_vec()),
            Some(Ok(Message::Ping(_))) => WsEvent::Ping,
            Some(Ok(Message::Pong(_) | Message::Frame(_))) => {
                return Box::pin(self.next_within(wait)).await
            }
            Some(Ok(Message::Close(frame))) => {
                WsEvent::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_string())))
            }
            Some(Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ),
            )) => WsEvent::Ended,
            Some(Err(tungstenite::Error::Io(e))) => {
                return Err(Error(format!("websocket read: {e}")));
            }
            Some(Err(e)) => return Err(Error(format!("websocket read: {e}"))),
        })
    }

    /// The next event within the read timeout.
    pub async fn next(&mut self) -> Result<WsEvent, Error> {
        self.next_within(self.timeout).await
    }

    /// The next text message, skipping pings; anything else is an error.
    pub async fn recv_text(&mut self) -> Result<String, Error> {
        loop {
            match self.next().await? {
                WsEvent::Text(t) => return Ok(t),
                WsEvent::Ping => continue,
                other => return Err(Error(format!("expected a text message, got {other:?}"))),
            }
        }
    }

    /// Expects the server to close the connection (a close frame or the end
    /// of the stream), skipping pings; returns the close code and reason.
    /// Lenient by nature: a reset counts as a close, and so does an end
    /// without a close frame (tungstenite reports the end of a completed
    /// closing handshake without reading the socket, so it cannot tell a
    /// FIN from a reset). Strict checks read the end with
    /// [`WireWs::until_closed`](super::WireWs::until_closed) instead.
    pub async fn expect_closed(&mut self) -> Result<Option<(u16, String)>, Error> {
        loop {
            match self.next().await {
                Ok(WsEvent::Close(frame)) => return Ok(frame),
                Ok(WsEvent::Ended) => return Ok(None),
                Ok(WsEvent::Ping) => continue,
                Ok(other) => {
                    return Err(Error(format!(
                        "expected the websocket to close, got {other:?}"
                    )))
                }
                // A reset after the close is a close too.
                Err(e) if e.0.starts_with("websocket read") => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the connection from our side (best effort).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_millis(500), self.inner.close(None)).await;
    }
}
