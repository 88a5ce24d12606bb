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
use super::socket::{close_cleanly, After, Goodbye, Incoming, Out, RecvError, Socket};
use super::wakes::{Wakes, CUT_OFF, HANDLER, HEARTBEAT, KEEPALIVE, MAIN};
use crate::lease::Lease;
use crate::protocol::Transport;
use crate::protocol::{parse_websocket_message, Frame};
use crate::session::core::{Attachment, Core, Next, PushError};
use crate::session::outgoing::messages_frame;
use crate::session::outgoing::Outgoing;
use crate::session::queue::Queue;
use crate::session::{close_code, standard_reason, CloseReason, ConnectionInfo};
use crate::state::{Admitted, Handler, ServiceState, Started};

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

/// Starts the session of one upgraded socket; the future (its task, see
/// [`Connection`]) runs it until its connection is closed or the
/// shutdown's deadline cuts it off.
///
/// The session starts here, before the future: what it is started from
/// (`info`, `admitted`) is not kept in the session's task.
pub(crate) fn run<S: Socket>(
    service: Arc<ServiceState>,
    socket: S,
    info: ConnectionInfo,
    admitted: Admitted,
    span: tracing::Span,
) -> impl Future<Output = ()> + Send {
    let framed = info.transport != Transport::RawWebSocket;
    let (core, handler, started, lease) = service.start_unlisted(info, admitted, span.clone());
    // Everything is polled at the first poll; the gates of the loop's
    // timers open as they are made.
    let wakes = Wakes::new(MAIN | HANDLER | CUT_OFF);
    let shutdown = service.shutdown.clone();
    // Polled only when the deadline's notification comes.
    let cut_off = async move { shutdown.forced().await };
    let session = run_session(
        service,
        core,
        started,
        socket,
        framed,
        span.clone(),
        wakes.clone(),
    );
    Connection {
        inline: Inline::new(&wakes, session, handler, cut_off),
        lease: Some(lease),
        span,
    }
}

pin_project_lite::pin_project! {
    /// The session's task: its loop, the shutdown's cut-off, and the
    /// application's handler polled beside them. A struct rather than an
    /// `async fn`: the task's first cache line is the loop's, where an
    /// `async fn` around it would keep its own state at both ends of the
    /// task (two more lines read per message at thousands of sessions).
    struct Connection<M, C> {
        #[pin]
        inline: Inline<M, Handler, C>,
        lease: Option<Lease>,
        span: tracing::Span,
    }
}

impl<M: Future<Output = ()>, C: Future<Output = ()>> Future for Connection<M, C> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if std::task::ready!(this.inline.as_mut().poll(cx)).is_none() {
            let span = &*this.span;
            span.in_scope(|| tracing::debug!("websocket cut off by the shutdown deadline"));
        }
        this.lease.take();
        // The handler outlives its connection.
        if let Some(handler) = this.inline.take_handler() {
            tokio::spawn(handler);
        }
        Poll::Ready(())
    }
}

async fn run_session<S: Socket>(
    service: Arc<ServiceState>,
    core: Arc<Core>,
    started: Started,
    mut socket: S,
    framed: bool,
    span: tracing::Span,
    wakes: Arc<Wakes>,
) {
    let (service, core, span, wakes) = (&*service, &core, &span, &wakes);
    let Ok(attachment) = core.attach() else {
        return;
    };
    started.wait().await;
    let config = &service.config;
    let send_timeout = config.send_timeout;
    let heartbeat_delay = config.heartbeat_delay;
    // The loop is written out here rather than in a function of its own:
    // each level of `async fn` keeps its state at its own place in the
    // task, one more cache line to read per message at thousands of
    // sessions.
    let keepalive = config
        .websocket_ping
        .filter(|_| socket.can_ping())
        .map(|(interval, timeout)| Box::new(Keepalive::new(interval, timeout, wakes)));
    let mut sources = Sources {
        turns: 0,
        out_streak: 0,
        framed,
        attachment,
        socket: &mut socket,
        pending: VecDeque::new(),
        core,
        batch: Queue::default(),
        sent: 0,
        unflushed: false,
        last_frame: Instant::now(),
        wakes,
        heartbeat: framed
            .then(|| Gated::new(tokio::time::sleep(heartbeat_delay), wakes, HEARTBEAT)),
        keepalive,
        space: None,
    };
    let end = 'serve: {
        if framed {
            let open = Out::Text(Frame::open().into_string());
            if let Err(end) = send_one(&mut sources, open, send_timeout).await {
                break 'serve end;
            }
        }
        sources.last_frame = Instant::now();
        loop {
            let src = &mut sources;
            match poll_fn(|cx| src.poll_serve(cx)).await {
                Step::SendPending => {
                    if let Err(end) = send_rest(src, send_timeout).await {
                        break 'serve end;
                    }
                    src.last_frame = Instant::now();
                }
                Step::Violation {
                    code,
                    reason,
                    detail,
                } => {
                    // What came before the violation is the application's,
                    // and so are its answers.
                    let deadline = Instant::now() + config.close_timeout;
                    if let Err(end) = settle(src, send_timeout, deadline).await {
                        break 'serve end;
                    }
                    break 'serve End::Failed(code, reason, CloseReason::TransportError(detail));
                }
                Step::End(end) => break 'serve end,
                Step::Heartbeat => {
                    let due = src.heartbeat_due(heartbeat_delay);
                    let Some(heartbeat) = src.heartbeat.as_mut() else {
                        continue;
                    };
                    if Instant::now() < due {
                        heartbeat.inner().reset(due);
                        continue;
                    }
                    src.core.metrics().heartbeat();
                    let beat = Out::Text(Frame::heartbeat().into_string());
                    if let Err(end) = send_one(src, beat, send_timeout).await {
                        break 'serve end;
                    }
                    src.last_frame = Instant::now();
                    let due = src.heartbeat_due(heartbeat_delay);
                    if let Some(heartbeat) = src.heartbeat.as_mut() {
                        heartbeat.inner().reset(due);
                    }
                }
                Step::Keepalive => {
                    let Some(k) = src.keepalive.as_mut() else {
                        continue;
                    };
                    if Instant::now() < k.due() {
                        k.rearm();
                        continue;
                    }
                    if k.pinged.is_none() {
                        if let Err(end) = send_one(src, Out::Ping, send_timeout).await {
                            break 'serve end;
                        }
                        if let Some(k) = src.keepalive.as_mut() {
                            k.pinged = Some(Instant::now());
                            k.rearm();
                        }
                    } else if !src.pending.is_empty() {
                        // While the application's queue is full the socket is
                        // not read, so an answer may be waiting unread: that is
                        // no sign of a dead peer.
                        k.pinged = None;
                        k.rearm();
                    } else {
                        break 'serve End::Failed(
                            close_code::GOING_AWAY,
                            "Keepalive timeout",
                            CloseReason::TimedOut,
                        );
                    }
                }
            }
        }
    };
    // The loop's timers and waits end here, before the closing handshake.
    let mut attachment = {
        let sources = sources;
        sources.attachment
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
    fn new(interval: Duration, timeout: Duration, wakes: &Arc<Wakes>) -> Self {
        let heard = Instant::now();
        Keepalive {
            interval,
            timeout,
            heard,
            pinged: None,
            timer: Gated::new(tokio::time::sleep_until(heard + interval), wakes, KEEPALIVE),
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
}

/// What the session loop was woken for.
enum Event {
    /// The application queued messages, or closed the session.
    Out(Next),
    /// The client sent something.
    In(Result<Incoming, RecvError>),
    /// The application's queue has room again for what is held back.
    Space,
    /// The heartbeat timer fired.
    Heartbeat,
    /// The keepalive timer fired.
    Keepalive,
}

/// What the session loop awaits: the events that have to wait for more
/// than one poll, or that are rare; [`Sources::poll_serve`] handles the
/// others in place.
enum Step {
    /// A batch could not be written at once.
    SendPending,
    /// The client violated the protocol.
    Violation {
        code: u16,
        reason: &'static str,
        detail: String,
    },
    /// The heartbeat timer fired.
    Heartbeat,
    /// The keepalive timer fired.
    Keepalive,
    /// The session ends.
    End(End),
}

/// Everything the session loop waits on, polled by one function.
///
/// A `select!` would build the future of every branch at each turn (and
/// drop it again), draw a random number and keep each future at its own
/// place in the task: at thousands of sessions, where every session's
/// state is out of the cache when its turn comes, each of those places is
/// one more cache line read per message. Here the loop's state is this one
/// struct, and polling it builds nothing.
///
/// Laid out in the order it is read (`repr(C)`): what every event reads
/// first, what most read next. Not aligned to a cache line (see
/// [`Inline`]'s layout).
#[repr(C)]
struct Sources<'a, S> {
    /// Events so far (wrapping), to look at the timers now and then even
    /// while messages keep coming both ways.
    turns: u8,
    /// Outgoing events in a row since the socket was last looked at.
    out_streak: u8,
    /// SockJS framing (`o`, `a[...]`, heartbeats), or raw.
    framed: bool,
    /// The socket holds a frame not yet flushed.
    unflushed: bool,
    /// The gates of the timers below: a look at this word tells whether
    /// either is open.
    wakes: &'a Wakes,
    attachment: Attachment,
    socket: &'a mut S,
    /// Outgoing messages taken from the queue, to be sent.
    batch: Queue<Outgoing>,
    /// When the last frame was sent, for the heartbeat.
    last_frame: Instant,
    // The second line.
    core: &'a Core,
    /// Boxed: without it (the default), the look every client frame takes
    /// is at a null pointer here, not at the keepalive's state.
    keepalive: Option<Box<Keepalive>>,
    /// Client messages held back while the application's queue is full;
    /// the socket is not read meanwhile.
    pending: VecDeque<String>,
    /// Frames handed to the socket (wrapping): whether a slow batch is
    /// moving.
    sent: usize,
    /// Framed sessions only. Armed for the earliest moment a heartbeat may
    /// be due and re-armed from `last_frame` when it fires early, so frames
    /// never touch it.
    heartbeat: Option<Gated<tokio::time::Sleep>>,
    /// While `pending` holds messages: the wait for room in the queue.
    space: Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>,
}

/// Outgoing events in a row after which the socket is looked at first.
const OUT_STREAK: u8 = 8;
/// Every this many events the timers are looked at first.
const TIMER_TURNS: u8 = 32;

impl<S: Socket> Sources<'_, S> {
    /// The next event. The application's queue is looked at first: an
    /// echoed message then costs two reads of the socket (its message, and
    /// the read that finds nothing more), where looking at the socket first
    /// costs a third after the answer is sent; and a read is the costliest
    /// look (tungstenite clears its read buffer for it). The socket is
    /// looked at first after [`OUT_STREAK`] outgoing events in a row, so a
    /// busy application does not starve the client, and the timers when
    /// nothing else is ready, or first every [`TIMER_TURNS`] events.
    fn poll_event(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Event> {
        self.turns = self.turns.wrapping_add(1);
        if self.turns % TIMER_TURNS == 0 {
            if let Poll::Ready(event) = self.poll_timers(cx) {
                return Poll::Ready(event);
            }
        }
        let socket_first = self.out_streak >= OUT_STREAK;
        if !socket_first {
            if let Poll::Ready(next) = self.attachment.poll_next(cx, &mut self.batch) {
                self.out_streak += 1;
                return Poll::Ready(Event::Out(next));
            }
        }
        self.out_streak = 0;
        if self.pending.is_empty() {
            if let Poll::Ready(incoming) = self.socket.poll_recv(cx) {
                return Poll::Ready(Event::In(incoming));
            }
        } else {
            let core = self.core;
            let space = self.space.get_or_insert_with(|| Box::pin(core.in_space()));
            if space.as_mut().poll(cx).is_ready() {
                self.space = None;
                return Poll::Ready(Event::Space);
            }
        }
        if socket_first {
            if let Poll::Ready(next) = self.attachment.poll_next(cx, &mut self.batch) {
                return Poll::Ready(Event::Out(next));
            }
        }
        self.poll_timers(cx)
    }

    /// When a heartbeat is due: `delay` after the last frame sent.
    fn heartbeat_due(&self, delay: Duration) -> Instant {
        self.last_frame + delay
    }

    /// Serves events until one needs the loop ([`Step`]): messages both
    /// ways are handled here, within the poll, so that the loop's own
    /// state (an `async fn`'s, at its own place in the task) is not read
    /// or written per message.
    fn poll_serve(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Step> {
        loop {
            match std::task::ready!(self.poll_event(cx)) {
                Event::Out(Next::Messages) => match self.poll_send(cx) {
                    // Written at once, most of the time: without the send
                    // timeout's timer.
                    Poll::Ready(Ok(())) => self.last_frame = Instant::now(),
                    Poll::Ready(Err(e)) => return Poll::Ready(Step::End(transport_error(e))),
                    Poll::Pending => return Poll::Ready(Step::SendPending),
                },
                Event::Out(Next::Close(frame)) => {
                    return Poll::Ready(Step::End(End::Server(frame)))
                }
                Event::In(incoming) => {
                    if let Some(step) = self.take_in(incoming) {
                        return Poll::Ready(step);
                    }
                }
                Event::Space => {
                    for message in std::mem::take(&mut self.pending) {
                        hand_over(self.core, &mut self.pending, message);
                    }
                }
                Event::Heartbeat => return Poll::Ready(Step::Heartbeat),
                Event::Keepalive => return Poll::Ready(Step::Keepalive),
            }
        }
    }

    /// Hands what the client sent to the application; or the step that
    /// ends the session.
    fn take_in(&mut self, incoming: Result<Incoming, RecvError>) -> Option<Step> {
        if let Some(k) = self.keepalive.as_mut() {
            k.heard();
        }
        match incoming {
            Ok(Incoming::Text(text)) if self.framed => match parse_websocket_message(&text) {
                Ok(messages) => {
                    for message in messages {
                        hand_over(self.core, &mut self.pending, message);
                    }
                    None
                }
                Err(_) => Some(Step::End(End::Refused(
                    close_code::GO_AWAY,
                    "Broken framing.",
                    CloseReason::TransportError("broken JSON framing".into()),
                ))),
            },
            Ok(Incoming::Text(text)) => {
                hand_over(self.core, &mut self.pending, text);
                None
            }
            Ok(Incoming::Nothing) => None,
            Ok(Incoming::Closed) => Some(Step::End(End::Client)),
            Err(RecvError::Violation {
                code,
                reason,
                detail,
            }) => Some(Step::Violation {
                code,
                reason,
                detail,
            }),
            Err(RecvError::Failed(e)) => {
                Some(Step::End(End::Dropped(CloseReason::TransportError(e))))
            }
        }
    }

    /// Writes the batch taken from the queue: one `a[...]` frame (framed)
    /// or one WebSocket message each (raw), each flushed before the next
    /// is queued. `Ready` once all of it is written; after `Pending`, a
    /// later call goes on where this one stopped.
    fn poll_send(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), String>> {
        loop {
            if self.unflushed {
                std::task::ready!(self.socket.poll_flush(cx))?;
                self.unflushed = false;
            }
            let text = if self.framed {
                if self.batch.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                messages_frame(&mut self.batch)
            } else {
                let Some(message) = self.batch.pop_front() else {
                    return Poll::Ready(Ok(()));
                };
                message.into_text()
            };
            self.sent = self.sent.wrapping_add(1);
            self.core.metrics().sent_bytes(text.len());
            self.socket.start(Out::Text(text))?;
            self.unflushed = true;
        }
    }

    fn poll_timers(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Event> {
        if !self.wakes.is_set(HEARTBEAT | KEEPALIVE) {
            return Poll::Pending;
        }
        if let Some(heartbeat) = self.heartbeat.as_mut() {
            if Pin::new(heartbeat).poll(cx).is_ready() {
                return Poll::Ready(Event::Heartbeat);
            }
        }
        if let Some(k) = self.keepalive.as_mut() {
            if Pin::new(&mut k.timer).poll(cx).is_ready() {
                return Poll::Ready(Event::Keepalive);
            }
        }
        Poll::Pending
    }
}

/// Writes what is left of the batch ([`Sources::poll_send`]), bounded by
/// `send_timeout` from the last frame written: a client that stopped
/// reading ends the session as [`CloseReason::Stalled`].
async fn send_rest<S: Socket>(src: &mut Sources<'_, S>, send_timeout: Duration) -> Result<(), End> {
    let timer = tokio::time::sleep(send_timeout);
    tokio::pin!(timer);
    poll_fn(|cx| {
        let before = src.sent;
        if let Poll::Ready(sent) = src.poll_send(cx) {
            return Poll::Ready(sent.map_err(transport_error));
        }
        if src.sent != before {
            timer.as_mut().reset(Instant::now() + send_timeout);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(End::Dropped(CloseReason::Stalled))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Sends one frame outside the batches (the open frame, a heartbeat, a
/// ping) the way a batch is sent: bounded by `send_timeout`. Only called
/// with the batch written out.
async fn send_one<S: Socket>(
    src: &mut Sources<'_, S>,
    frame: Out<'_>,
    send_timeout: Duration,
) -> Result<(), End> {
    src.socket.start(frame).map_err(transport_error)?;
    src.unflushed = true;
    send_rest(src, send_timeout).await
}

/// A write that failed.
fn transport_error(e: String) -> End {
    End::Dropped(CloseReason::TransportError(e))
}

/// After a client's protocol violation, before the connection is failed:
/// hands the messages still held back to the application, waits (until
/// `deadline`) for it to take them all and come back for more, and sends
/// what it queued meanwhile, its answers included. The socket is not read.
#[allow(clippy::too_many_arguments)]
async fn settle<S: Socket>(
    src: &mut Sources<'_, S>,
    send_timeout: Duration,
    deadline: Instant,
) -> Result<(), End> {
    let cutoff = tokio::time::sleep_until(deadline);
    tokio::pin!(cutoff);
    let mut caught_up = false;
    let core = src.core;
    loop {
        tokio::select! {
            biased;
            next = poll_fn(|cx| src.attachment.poll_next(cx, &mut src.batch)) => match next {
                Next::Messages => send_rest(src, send_timeout).await?,
                // The application closed meanwhile: the failure still wins.
                Next::Close(_) => return Ok(()),
            },
            () = core.in_space(), if !src.pending.is_empty() => {
                for message in std::mem::take(&mut src.pending) {
                    hand_over(core, &mut src.pending, message);
                }
            },
            () = core.app_caught_up(), if src.pending.is_empty() && !caught_up => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Rooms;
    use crate::session::budget::Bounds;
    use std::task::{Context, Waker};

    /// A socket with a client message always waiting; counts its reads.
    struct Chatty {
        reads: usize,
        io: tokio::io::DuplexStream,
    }

    impl Socket for Chatty {
        fn start(&mut self, _: Out<'_>) -> Result<(), String> {
            Ok(())
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            Poll::Ready(Ok(()))
        }
        fn can_ping(&self) -> bool {
            true
        }
        fn poll_recv(&mut self, _: &mut Context<'_>) -> Poll<Result<Incoming, RecvError>> {
            self.reads += 1;
            Poll::Ready(Ok(Incoming::Nothing))
        }
        fn io(&mut self) -> &mut dyn super::super::socket::Io {
            &mut self.io
        }
    }

    fn core() -> Arc<Core> {
        let metrics = crate::metrics::SessionMetrics::opened(&"test".into(), Transport::WebSocket);
        Core::new(Bounds::test(1 << 16, 1 << 26), Rooms::new(), metrics)
    }

    /// The loop's sources over `socket`, the application always with a
    /// message queued (`core.push_out` before each event) and the client
    /// always with one: what events come, in order.
    fn events(
        core: &Arc<Core>,
        socket: &mut Chatty,
        heartbeat: Option<Gated<tokio::time::Sleep>>,
        wakes: &Arc<Wakes>,
        count: usize,
    ) -> Vec<char> {
        let mut sources = Sources {
            turns: 0,
            out_streak: 0,
            framed: true,
            attachment: core.attach().unwrap_or_else(|_| panic!("attached")),
            socket,
            pending: VecDeque::new(),
            core,
            batch: Queue::default(),
            sent: 0,
            unflushed: false,
            last_frame: Instant::now(),
            wakes,
            heartbeat,
            keepalive: None,
            space: None,
        };
        let mut cx = Context::from_waker(Waker::noop());
        (0..count)
            .map(|_| {
                assert!(core.push_out("a".into()).is_ok(), "room");
                let event = match sources.poll_event(&mut cx) {
                    Poll::Ready(Event::Out(_)) => 'o',
                    Poll::Ready(Event::In(_)) => 'i',
                    Poll::Ready(Event::Heartbeat) => 'h',
                    Poll::Ready(_) => '?',
                    Poll::Pending => '-',
                };
                sources.batch.drain().for_each(drop);
                event
            })
            .collect()
    }

    fn chatty() -> Chatty {
        Chatty {
            reads: 0,
            io: tokio::io::duplex(64).0,
        }
    }

    #[test]
    fn a_busy_application_does_not_starve_the_client() {
        let core = core();
        let mut socket = chatty();
        let seen: String = events(&core, &mut socket, None, &Wakes::new(0), 90)
            .into_iter()
            .collect();
        // The queue first, eight times in a row at most; then the socket.
        assert_eq!(seen, "ooooooooi".repeat(10));
        assert_eq!(socket.reads, 10);
    }

    /// The events of a busy session whose heartbeat is due at once, its
    /// gate open or (`shut`) shut.
    fn busy_with_a_due_heartbeat(shut: bool) -> Vec<char> {
        let core = core();
        let mut socket = chatty();
        let wakes = Wakes::new(0);
        let heartbeat = Gated::new(tokio::time::sleep(Duration::ZERO), &wakes, HEARTBEAT);
        if shut {
            wakes.clear(HEARTBEAT);
        }
        events(&core, &mut socket, Some(heartbeat), &wakes, 40)
    }

    #[tokio::test(start_paused = true)]
    async fn the_timers_are_looked_at_while_both_sides_are_busy() {
        let seen = busy_with_a_due_heartbeat(false);
        let at = seen.iter().position(|e| *e == 'h');
        assert_eq!(at, Some(usize::from(TIMER_TURNS) - 1), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_gate_keeps_a_due_timer_unpolled() {
        // A timer whose gate is shut is not polled, even when due: its
        // wake-up opens the gate.
        let seen = busy_with_a_due_heartbeat(true);
        assert!(!seen.contains(&'h'), "{seen:?}");
    }
}
