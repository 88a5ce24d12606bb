//! WebSocket transports: SockJS-framed `/<server>/<session>/websocket` and
//! the raw `/websocket` endpoint.
//!
//! A WebSocket session is not entered in the session store: it lives
//! exactly as long as its socket, so the same session id may be used by
//! several sockets at once. RFC 6455 goes through axum's upgrade; the legacy
//! hixie-76 handshake (still answered by sockjs-node) is handled in
//! [`super::hixie76`]. Both run the same loop, [`run`].

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap};
use tokio::time::Instant;

use super::{connection_info, hixie76, SessionPath, Transport};
use crate::protocol::{parse_websocket_message, Frame};
use crate::rejection::Rejection;
use crate::service::Service;
use crate::session::core::{Core, Next, PushError};
use crate::session::{close_code, CloseReason};

/// Base read buffer of one socket. tungstenite's default (128 KiB) would
/// cost far more than everything else a session holds; it grows the buffer
/// to a frame's length once it has read the frame's header, so a small base
/// costs little on large messages. 2 KiB keeps an idle session under 8 KiB.
const READ_BUFFER: usize = 2 * 1024;

/// What a socket delivered.
pub(crate) enum Incoming {
    /// A text message.
    Text(String),
    /// Nothing for the application (ping, pong, binary).
    Nothing,
    /// The client closed the socket.
    Closed,
}

/// Why reading from a socket failed.
pub(crate) enum RecvError {
    /// A message over the configured maximum size.
    TooBig,
    /// A protocol or I/O failure, described.
    Failed(String),
}

/// What the session loop needs of a socket, so RFC 6455 and hixie-76
/// sockets share it. `recv` must be cancel-safe.
pub(crate) trait Socket: Send {
    /// Sends one text message.
    fn send_text(&mut self, text: String) -> impl Future<Output = Result<(), String>> + Send;
    /// The next incoming message; an error is a protocol or I/O failure.
    fn recv(&mut self) -> impl Future<Output = Result<Incoming, RecvError>> + Send;
    /// Closes the socket with a code and reason (where the protocol can).
    fn close(&mut self, code: u16, reason: &str) -> impl Future<Output = ()> + Send;
}

impl Socket for WebSocket {
    async fn send_text(&mut self, text: String) -> Result<(), String> {
        self.send(Message::text(text))
            .await
            .map_err(|e| e.to_string())
    }

    async fn recv(&mut self) -> Result<Incoming, RecvError> {
        match WebSocket::recv(self).await {
            Some(Ok(Message::Text(text))) => Ok(Incoming::Text(text.as_str().to_owned())),
            Some(Ok(Message::Close(_))) => {
                // Reading on flushes tungstenite's queued close reply, so
                // the client sees a clean close; it then reports the end.
                let _ = WebSocket::recv(self).await;
                Ok(Incoming::Closed)
            }
            None => Ok(Incoming::Closed),
            Some(Ok(_)) => Ok(Incoming::Nothing),
            Some(Err(e)) => {
                // axum hides tungstenite's error type; its capacity error
                // reads "Space limit exceeded: Message too long: ...".
                let text = e.to_string();
                if text.contains("Space limit") || text.contains("too long") {
                    Err(RecvError::TooBig)
                } else {
                    Err(RecvError::Failed(text))
                }
            }
        }
    }

    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.send(Message::Close(Some(frame))).await;
    }
}

/// Whether the request asks for a WebSocket: `Upgrade: websocket` and a
/// `Connection` header with the `upgrade` token (both case-insensitive).
fn is_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    upgrade && connection
}

/// `GET /<server>/<session>/websocket`.
pub(crate) async fn framed(
    State(service): State<Arc<Service>>,
    SessionPath(_id): SessionPath,
    request: Request,
) -> Response {
    upgrade(service, request, Transport::WebSocket).await
}

/// `GET /websocket`: plain text messages, no SockJS framing.
pub(crate) async fn raw(State(service): State<Arc<Service>>, request: Request) -> Response {
    let version = request
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if is_upgrade(request.headers()) && !matches!(version, "8" | "13") {
        return Rejection::UnsupportedWebSocketVersion.into_response();
    }
    upgrade(service, request, Transport::RawWebSocket).await
}

async fn upgrade(service: Arc<Service>, request: Request, transport: Transport) -> Response {
    let (mut parts, _body) = request.into_parts();
    if !is_upgrade(&parts.headers) {
        return Rejection::NotWebSocket.into_response();
    }
    let info = connection_info(&parts, transport);
    let span = crate::service::transport_span(transport);
    if transport == Transport::WebSocket && hixie76::is_handshake(&parts.headers) {
        return hixie76::upgrade(&mut parts, service.config.max_message_size, move |socket| {
            run(service, socket, info, span)
        });
    }
    let Ok(ws) = WebSocketUpgrade::from_request_parts(&mut parts, &()).await else {
        return Rejection::NotWebSocket.into_response();
    };
    let limit = service.config.max_message_size;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| run(service, socket, info, span))
}

/// One WebSocket session, from open to close.
pub(crate) async fn run<S: Socket>(
    service: Arc<Service>,
    mut socket: S,
    info: crate::session::ConnectionInfo,
    span: tracing::Span,
) {
    let framed = info.transport != Transport::RawWebSocket;
    let (core, started) = service.start_unlisted(info, span.clone());
    let Ok(mut attachment) = core.attach() else {
        return;
    };
    started.wait().await;
    if framed && socket.send_text(Frame::open().into_string()).await.is_err() {
        return;
    }
    let heartbeat_delay = service.config.heartbeat_delay;
    // Armed for the earliest moment a heartbeat may be due and re-armed
    // from `last_frame` when it fires early, so frames never touch it.
    let heartbeat = tokio::time::sleep(heartbeat_delay);
    tokio::pin!(heartbeat);
    let mut last_frame = Instant::now();
    let mut batch = Vec::new();
    let mut pending: VecDeque<String> = VecDeque::new();
    let why = loop {
        tokio::select! {
            next = poll_fn(|cx| attachment.poll_next(cx, &mut batch)) => match next {
                Next::Messages => {
                    let sent = if framed {
                        socket.send_text(Frame::messages(batch.drain(..)).into_string()).await
                    } else {
                        let mut result = Ok(());
                        for message in batch.drain(..) {
                            result = socket.send_text(message).await;
                            if result.is_err() {
                                break;
                            }
                        }
                        result
                    };
                    if let Err(e) = sent {
                        break CloseReason::TransportError(e);
                    }
                    last_frame = Instant::now();
                }
                Next::Close(frame) => {
                    attachment.finish();
                    let (code, reason) = match core.reason() {
                        Some(CloseReason::ServerClosed { code, reason }) => (code, reason),
                        _ => (close_code::NORMAL, "Normal closure".to_owned()),
                    };
                    if framed {
                        let _ = socket.send_text(frame.to_string()).await;
                    }
                    socket.close(code, &reason).await;
                    return;
                }
            },
            incoming = socket.recv(), if pending.is_empty() => match incoming {
                Ok(Incoming::Text(text)) if framed => match parse_websocket_message(&text) {
                    Ok(messages) => {
                        for message in messages {
                            hand_over(&core, &mut pending, message);
                        }
                    }
                    Err(_) => {
                        socket.close(close_code::GO_AWAY, "Broken framing.").await;
                        break CloseReason::TransportError("broken JSON framing".into());
                    }
                },
                Ok(Incoming::Text(text)) => hand_over(&core, &mut pending, text),
                Ok(Incoming::Nothing) => {}
                Ok(Incoming::Closed) => break CloseReason::ClientClosed,
                Err(RecvError::TooBig) => {
                    socket.close(close_code::TOO_BIG, "Message too big").await;
                    break CloseReason::TransportError("message over the size limit".into());
                }
                Err(RecvError::Failed(e)) => break CloseReason::TransportError(e),
            },
            () = core.in_space(), if !pending.is_empty() => {
                for message in std::mem::take(&mut pending) {
                    hand_over(&core, &mut pending, message);
                }
            },
            () = &mut heartbeat, if framed => {
                let due = last_frame + heartbeat_delay;
                if Instant::now() < due {
                    heartbeat.as_mut().reset(due);
                    continue;
                }
                if socket.send_text(Frame::heartbeat().into_string()).await.is_err() {
                    break CloseReason::TransportError("heartbeat failed".into());
                }
                last_frame = Instant::now();
                heartbeat.as_mut().reset(last_frame + heartbeat_delay);
            }
        }
    };
    attachment.finish();
    span.in_scope(|| tracing::debug!(reason = %why, "websocket session ended"));
    core.finish(why);
}

/// Gives a client message to the application, or keeps it in `pending`
/// (in order) while the application's queue is full; the loop then stops
/// reading the socket until there is room. Once the application stopped
/// reading (session closed), messages are dropped: it will never see them.
fn hand_over(core: &Core, pending: &mut VecDeque<String>, message: String) {
    if !pending.is_empty() {
        pending.push_back(message);
        return;
    }
    if let Err(PushError::Full(message)) = core.push_in(message) {
        pending.push_back(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn upgrade_headers_are_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_upgrade(&h));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        assert!(!is_upgrade(&h));
        h.remove(header::UPGRADE);
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        assert!(!is_upgrade(&h));
    }
}
