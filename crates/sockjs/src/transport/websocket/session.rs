//! One WebSocket session, from `o` to the closing handshake.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::Arc;

use tokio::time::Instant;

use super::socket::{close_cleanly, Goodbye, Incoming, RecvError, Socket};
use crate::protocol::{parse_websocket_message, Frame};
use crate::service::{Admitted, Service, Started};
use crate::session::core::{Core, Next, PushError};
use crate::session::outgoing::messages_frame;
use crate::session::{close_code, CloseReason, ConnectionInfo};
use crate::transport::Transport;

/// How the session loop ended, and so how the connection is closed.
enum End {
    /// The session closed on the server's side (the application, the
    /// outgoing queue policy, a shutdown): `c[...]` (framed) then the close
    /// frame with the session's code and reason.
    Server(Arc<str>),
    /// The client sent its close frame: reply to it.
    Client,
    /// The client broke the protocol: a close frame with this code.
    Refused(u16, &'static str, CloseReason),
    /// The connection failed: nothing more can be written.
    Failed(CloseReason),
}

/// Runs the session of one upgraded socket, until its connection is closed
/// or the shutdown's deadline cuts it off.
pub(crate) async fn run<S: Socket>(
    service: Arc<Service>,
    socket: S,
    info: ConnectionInfo,
    admitted: Admitted,
    span: tracing::Span,
) {
    let framed = info.transport != Transport::RawWebSocket;
    let (core, started, lease) = service.start_unlisted(info, admitted, span.clone());
    tokio::select! {
        () = run_session(&service, &core, started, socket, framed, &span) => {}
        () = service.shutdown.forced() => {
            span.in_scope(|| tracing::debug!("websocket cut off by the shutdown deadline"));
        }
    }
    drop(lease);
}

async fn run_session<S: Socket>(
    service: &Service,
    core: &Arc<Core>,
    started: Started,
    mut socket: S,
    framed: bool,
    span: &tracing::Span,
) {
    let Ok(mut attachment) = core.attach() else {
        return;
    };
    started.wait().await;
    let end = if framed && socket.send_text(Frame::open().into_string()).await.is_err() {
        End::Failed(CloseReason::TransportError(
            "could not send the open frame".into(),
        ))
    } else {
        serve(service, core, &mut socket, framed, &mut attachment).await
    };
    attachment.finish();
    let (why, goodbye) = match end {
        End::Server(frame) => {
            // Set before the close frame could be read (`Core::close`).
            let why = core.reason().unwrap_or(CloseReason::ClientClosed);
            let goodbye = Goodbye {
                last_text: framed.then(|| frame.to_string()),
                close: Some(match &why {
                    CloseReason::ServerClosed { code, reason } => (*code, reason.clone()),
                    _ => (close_code::NORMAL, "Normal closure".to_owned()),
                }),
            };
            (why, Some(goodbye))
        }
        End::Client => (CloseReason::ClientClosed, Some(Goodbye::reply())),
        End::Refused(code, reason, why) => (why, Some(Goodbye::close(code, reason))),
        End::Failed(why) => (why, None),
    };
    // The application learns of the end now, not after the handshake.
    span.in_scope(|| tracing::debug!(reason = %why, "websocket session ended"));
    core.finish(why);
    if let Some(goodbye) = goodbye {
        close_cleanly(&mut socket, goodbye, service.config.close_timeout).await;
    }
}

/// Carries messages both ways until the session or the connection ends.
async fn serve<S: Socket>(
    service: &Service,
    core: &Core,
    socket: &mut S,
    framed: bool,
    attachment: &mut crate::session::core::Attachment,
) -> End {
    let heartbeat_delay = service.config.heartbeat_delay;
    // Armed for the earliest moment a heartbeat may be due and re-armed
    // from `last_frame` when it fires early, so frames never touch it.
    let heartbeat = tokio::time::sleep(heartbeat_delay);
    tokio::pin!(heartbeat);
    let mut last_frame = Instant::now();
    let mut batch = Vec::new();
    let mut pending: VecDeque<String> = VecDeque::new();
    loop {
        tokio::select! {
            next = poll_fn(|cx| attachment.poll_next(cx, &mut batch)) => match next {
                Next::Messages => {
                    let metrics = core.metrics();
                    let sent = if framed {
                        let frame = messages_frame(&mut batch);
                        metrics.sent_bytes(frame.len());
                        socket.send_text(frame).await
                    } else {
                        let mut result = Ok(());
                        for message in batch.drain(..) {
                            let text = message.into_text();
                            metrics.sent_bytes(text.len());
                            result = socket.send_text(text).await;
                            if result.is_err() {
                                break;
                            }
                        }
                        result
                    };
                    if let Err(e) = sent {
                        return End::Failed(CloseReason::TransportError(e));
                    }
                    last_frame = Instant::now();
                }
                Next::Close(frame) => return End::Server(frame),
            },
            incoming = socket.recv(), if pending.is_empty() => match incoming {
                Ok(Incoming::Text(text)) if framed => match parse_websocket_message(&text) {
                    Ok(messages) => {
                        for message in messages {
                            hand_over(core, &mut pending, message);
                        }
                    }
                    Err(_) => {
                        return End::Refused(
                            close_code::GO_AWAY,
                            "Broken framing.",
                            CloseReason::TransportError("broken JSON framing".into()),
                        );
                    }
                },
                Ok(Incoming::Text(text)) => hand_over(core, &mut pending, text),
                Ok(Incoming::Nothing) => {}
                Ok(Incoming::Closed) => return End::Client,
                Err(RecvError::TooBig) => {
                    return End::Refused(
                        close_code::TOO_BIG,
                        "Message too big",
                        CloseReason::TransportError("message over the size limit".into()),
                    );
                }
                Err(RecvError::Failed(e)) => return End::Failed(CloseReason::TransportError(e)),
            },
            () = core.in_space(), if !pending.is_empty() => {
                for message in std::mem::take(&mut pending) {
                    hand_over(core, &mut pending, message);
                }
            },
            () = &mut heartbeat, if framed => {
                let due = last_frame + heartbeat_delay;
                if Instant::now() < due {
                    heartbeat.as_mut().reset(due);
                    continue;
                }
                core.metrics().heartbeat();
                if socket.send_text(Frame::heartbeat().into_string()).await.is_err() {
                    return End::Failed(CloseReason::TransportError("heartbeat failed".into()));
                }
                last_frame = Instant::now();
                heartbeat.as_mut().reset(last_frame + heartbeat_delay);
            }
        }
    }
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
