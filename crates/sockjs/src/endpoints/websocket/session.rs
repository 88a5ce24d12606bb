//! One WebSocket session, from `o` to the closing handshake.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

use super::gated::Gated;
use super::inline::Inline;
use super::socket::{close_cleanly, After, Goodbye, Incoming, RecvError, Socket};
use crate::protocol::Transport;
use crate::protocol::{parse_websocket_message, Frame};
use crate::session::core::{Core, Next, PushError};
use crate::session::outgoing::messages_frame;
use crate::session::{close_code, standard_reason, CloseReason, ConnectionInfo};
use crate::state::{Admitted, ServiceState, Started};

/// How the session loop ended, and so how the connection is closed.
enum End {
    /// The session closed on the server's side (the application, the
    /// outgoing queue policy, a shutdown): `c[...]` (framed) then the close
    /// frame with the session's code and reason, then the client's reply.
    Server(Arc<str>),
    /// The client sent its close frame: reply to it.
    Client,
    /// The client broke the SockJS framing (the WebSocket framing is
    /// intact): a close frame with this code, then the client's reply.
    Refused(u16, &'static str, CloseReason),
    /// The connection is failed (RFC 6455 section 7.1.7): the client broke
    /// the WebSocket protocol, or stopped answering keepalive pings.
    /// `c[code,"reason"]` (framed) and a close frame with the same code,
    /// then FIN at once: nothing more is parsed.
    Failed(u16, &'static str, CloseReason),
    /// The connection is gone or stuck: nothing more can be written.
    Dropped(CloseReason),
}

/// Runs the session of one upgraded socket, until its connection is closed
/// or the shutdown's deadline cuts it off.
pub(crate) async fn run<S: Socket>(
    service: Arc<ServiceState>,
    socket: S,
    info: ConnectionInfo,
    admitted: Admitted,
    span: tracing::Span,
) {
    let framed = info.transport != Transport::RawWebSocket;
    let (core, handler, started, lease) = service.start_unlisted(info, admitted, span.clone());
    let mut handler = Some(handler);
    let mut session = std::pin::pin!(run_session(&service, &core, started, socket, framed, &span));
    // Polled only when the deadline's notification comes.
    let mut cut_off = Gated::new(service.shutdown.forced());
    // A `poll_fn` over references rather than an `async` block: a block
    // would hold its own copy of the socket beside the session's, and the
    // session's task would be larger by it.
    let connection = std::pin::pin!(poll_fn(|cx| {
        if session.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if Pin::new(&mut cut_off).poll(cx).is_ready() {
            span.in_scope(|| tracing::debug!("websocket cut off by the shutdown deadline"));
            return Poll::Ready(());
        }
        Poll::Pending
    }));
    Inline::new(connection, &mut handler).await;
    drop(lease);
    // The handler outlives its connection.
    if let Some(handler) = handler {
        tokio::spawn(handler);
    }
}

async fn run_session<S: Socket>(
    service: &ServiceState,
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
    let config = &service.config;
    let end = if framed {
        match write(
            config.send_timeout,
            socket.send_text(Frame::open().into_string()),
        )
        .await
        {
            Ok(()) => serve(service, core, &mut socket, framed, &mut attachment).await,
            Err(end) => end,
        }
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
                    _ => (
                        close_code::NORMAL,
                        standard_reason(close_code::NORMAL).to_owned(),
                    ),
                }),
                after: After::AwaitReply,
            };
            (why, Some(goodbye))
        }
        End::Client => (CloseReason::ClientClosed, Some(Goodbye::reply())),
        End::Refused(code, reason, why) => {
            let goodbye = Goodbye {
                last_text: None,
                close: Some((code, reason.to_owned())),
                after: After::AwaitReply,
            };
            (why, Some(goodbye))
        }
        End::Failed(code, reason, why) => {
            // Framed: sockjs-client reports the SockJS close frame's code
            // and ignores the WebSocket's, so both carry the same code.
            let goodbye = Goodbye {
                last_text: framed.then(|| Frame::close(code, reason).into_string()),
                close: Some((code, reason.to_owned())),
                after: After::Finish,
            };
            (why, Some(goodbye))
        }
        End::Dropped(why) => (why, None),
    };
    // The application learns of the end now, not after the handshake.
    span.in_scope(|| tracing::debug!(reason = %why, "websocket session ended"));
    core.finish(why);
    if let Some(goodbye) = goodbye {
        close_cleanly(
            &mut socket,
            goodbye,
            config.close_timeout,
            config.websocket_fin_early,
        )
        .await;
    }
}

/// A write to the client, bounded by `send_timeout`: a client that stopped
/// reading ends the session as [`CloseReason::Stalled`].
async fn write(
    send_timeout: Duration,
    sending: impl Future<Output = Result<(), String>>,
) -> Result<(), End> {
    let mut sending = std::pin::pin!(sending);
    // Most writes are done at the first poll: only one that has to wait
    // arms the timer (a clock read and a timer-wheel entry per message).
    let result = match poll_fn(|cx| Poll::Ready(sending.as_mut().poll(cx))).await {
        Poll::Ready(sent) => Ok(sent),
        Poll::Pending => tokio::time::timeout(send_timeout, sending).await,
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::Dropped(CloseReason::TransportError(e))),
        Err(_) => Err(End::Dropped(CloseReason::Stalled)),
    }
}

/// The keepalive of [`Config::websocket_ping`](crate::Config::websocket_ping):
/// when the next ping is due, or when the client must have answered one.
/// A session without it has no timer.
struct Keepalive {
    interval: Duration,
    timeout: Duration,
    /// The last frame from the client.
    heard: Instant,
    /// When the unanswered ping went out.
    pinged: Option<Instant>,
    /// Fires at [`due`](Self::due) or earlier (it then re-arms).
    timer: Gated<tokio::time::Sleep>,
}

impl Keepalive {
    fn new(interval: Duration, timeout: Duration) -> Self {
        let heard = Instant::now();
        Keepalive {
            interval,
            timeout,
            heard,
            pinged: None,
            timer: Gated::new(tokio::time::sleep_until(heard + interval)),
        }
    }

    /// When the timer must next look.
    fn due(&self) -> Instant {
        match self.pinged {
            Some(pinged) => pinged + self.timeout,
            None => self.heard + self.interval,
        }
    }

    /// A frame came from the client. It moves the next ping later, which
    /// the timer finds when it fires (it re-arms then): the timer is reset
    /// only when a frame brings it forward (an answer to a ping, when the
    /// ping interval is shorter than its timeout).
    fn heard(&mut self) {
        self.heard = Instant::now();
        self.pinged = None;
        if self.due() < self.timer.get().deadline() {
            self.rearm();
        }
    }

    /// Sets the timer to [`due`](Self::due).
    fn rearm(&mut self) {
        let due = self.due();
        self.timer.inner().reset(due);
    }

    /// The timer, as a future of the session loop (pending without a
    /// keepalive).
    fn fired(keepalive: &mut Option<Keepalive>) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| match keepalive.as_mut() {
            Some(k) => std::pin::Pin::new(&mut k.timer).poll(cx),
            None => Poll::Pending,
        })
    }
}

/// Carries messages both ways until the session or the connection ends.
async fn serve<S: Socket>(
    service: &ServiceState,
    core: &Core,
    socket: &mut S,
    framed: bool,
    attachment: &mut crate::session::core::Attachment,
) -> End {
    let config = &service.config;
    let send_timeout = config.send_timeout;
    let heartbeat_delay = config.heartbeat_delay;
    // Armed for the earliest moment a heartbeat may be due and re-armed
    // from `last_frame` when it fires early, so frames never touch it.
    let mut heartbeat = Gated::new(tokio::time::sleep(heartbeat_delay));
    let mut keepalive = config
        .websocket_ping
        .filter(|_| socket.can_ping())
        .map(|(interval, timeout)| Keepalive::new(interval, timeout));
    let mut last_frame = Instant::now();
    let mut batch = Vec::new();
    let mut pending: VecDeque<String> = VecDeque::new();
    loop {
        tokio::select! {
            next = poll_fn(|cx| attachment.poll_next(cx, &mut batch)) => match next {
                Next::Messages => {
                    if let Err(end) = send_batch(core, socket, framed, &mut batch, send_timeout).await {
                        return end;
                    }
                    last_frame = Instant::now();
                }
                Next::Close(frame) => return End::Server(frame),
            },
            incoming = socket.recv(), if pending.is_empty() => {
                if let Some(k) = keepalive.as_mut() {
                    k.heard();
                }
                match incoming {
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
                    Err(RecvError::Violation { code, reason, detail }) => {
                        // What came before the violation is the
                        // application's, and so are its answers.
                        let deadline = Instant::now() + config.close_timeout;
                        let settled = settle(
                            core, socket, framed, attachment, &mut batch, &mut pending,
                            send_timeout, deadline,
                        );
                        if let Err(end) = settled.await {
                            return end;
                        }
                        return End::Failed(code, reason, CloseReason::TransportError(detail));
                    }
                    Err(RecvError::Failed(e)) => {
                        return End::Dropped(CloseReason::TransportError(e))
                    }
                }
            },
            () = core.in_space(), if !pending.is_empty() => {
                for message in std::mem::take(&mut pending) {
                    hand_over(core, &mut pending, message);
                }
            },
            () = &mut heartbeat, if framed => {
                let due = last_frame + heartbeat_delay;
                if Instant::now() < due {
                    heartbeat.inner().reset(due);
                    continue;
                }
                core.metrics().heartbeat();
                let beat = socket.send_text(Frame::heartbeat().into_string());
                if let Err(end) = write(send_timeout, beat).await {
                    return end;
                }
                last_frame = Instant::now();
                heartbeat.inner().reset(last_frame + heartbeat_delay);
            }
            () = Keepalive::fired(&mut keepalive), if keepalive.is_some() => {
                let Some(k) = keepalive.as_mut() else { continue };
                let now = Instant::now();
                if now < k.due() {
                    k.rearm();
                    continue;
                }
                if k.pinged.is_some() {
                    // While the application's queue is full the socket is
                    // not read, so an answer may be waiting unread: that is
                    // no sign of a dead peer.
                    if !pending.is_empty() {
                        k.pinged = None;
                    } else {
                        return End::Failed(
                            close_code::GOING_AWAY,
                            "Keepalive timeout",
                            CloseReason::TimedOut,
                        );
                    }
                } else {
                    if let Err(end) = write(send_timeout, socket.send_ping()).await {
                        return end;
                    }
                    k.pinged = Some(Instant::now());
                }
                k.rearm();
            }
        }
    }
}

/// Writes a batch of outgoing messages: one `a[...]` frame (framed) or one
/// WebSocket message each (raw).
async fn send_batch<S: Socket>(
    core: &Core,
    socket: &mut S,
    framed: bool,
    batch: &mut Vec<crate::session::outgoing::Outgoing>,
    send_timeout: Duration,
) -> Result<(), End> {
    let metrics = core.metrics();
    if framed {
        let frame = messages_frame(batch);
        metrics.sent_bytes(frame.len());
        return write(send_timeout, socket.send_text(frame)).await;
    }
    for message in batch.drain(..) {
        let text = message.into_text();
        metrics.sent_bytes(text.len());
        write(send_timeout, socket.send_text(text)).await?;
    }
    Ok(())
}

/// After a client's protocol violation, before the connection is failed:
/// hands the messages still held back to the application, waits (until
/// `deadline`) for it to take them all and come back for more, and sends
/// what it queued meanwhile, its answers included. The socket is not read.
#[allow(clippy::too_many_arguments)]
async fn settle<S: Socket>(
    core: &Core,
    socket: &mut S,
    framed: bool,
    attachment: &mut crate::session::core::Attachment,
    batch: &mut Vec<crate::session::outgoing::Outgoing>,
    pending: &mut VecDeque<String>,
    send_timeout: Duration,
    deadline: Instant,
) -> Result<(), End> {
    let cutoff = tokio::time::sleep_until(deadline);
    tokio::pin!(cutoff);
    let mut caught_up = false;
    loop {
        tokio::select! {
            biased;
            next = poll_fn(|cx| attachment.poll_next(cx, batch)) => match next {
                Next::Messages => send_batch(core, socket, framed, batch, send_timeout).await?,
                // The application closed meanwhile: the failure still wins.
                Next::Close(_) => return Ok(()),
            },
            () = core.in_space(), if !pending.is_empty() => {
                for message in std::mem::take(pending) {
                    hand_over(core, pending, message);
                }
            },
            () = core.app_caught_up(), if pending.is_empty() && !caught_up => {
                // Its answers are queued by now; one more turn sends them.
                caught_up = true;
            },
            () = &mut cutoff => return Ok(()),
            () = std::future::ready(()), if caught_up => return Ok(()),
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
