//! The response body every HTTP receiving transport shares.
//!
//! A [`ReceiverBody`] holds the session's outgoing queue while the response
//! is open and writes, one body chunk per frame: an optional prelude, `o`
//! for a new session, message batches `a[...]`, heartbeats `h` when idle,
//! and finally the close frame. Polling transports end after one frame;
//! streaming ones after `response_limit` bytes of frames. The transports
//! differ only in how a frame is wrapped ([`Framing`]).
//!
//! Dropping the body before it ended (the client went away) closes the
//! session as interrupted.
//!
//! A client that stops reading without going away (its receive window
//! full) never drops the body: hyper just stops asking it for frames once
//! its write buffer is full. A streaming body therefore has a [`Watch`]:
//! from the moment it hands a frame over until hyper asks for the next
//! one, a clock runs, and a small task per response ends the session as
//! [`CloseReason::Stalled`] when it passes `send_timeout`.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame as BodyFrame, SizeHint};
use tokio::time::{Instant, Sleep};

use axum::response::IntoResponse;
use http::request::Parts;
use http::{header, HeaderValue};

use crate::close_code;
use crate::headers;
use crate::protocol::{write_event_data, write_html_safe_json_string, write_json_string, Frame};
use crate::rejection::Rejection;
use crate::session::core::{Attachment, Busy, Core, Next};
use crate::session::outgoing::{messages_frame, Outgoing};
use crate::session::queue::Queue;
use crate::session::{standard_reason, CloseReason};
use crate::state::ServiceState;

/// How a transport wraps one frame in its response body.
pub(crate) enum Framing {
    /// `xhr` and `xhr_streaming`: `<frame>\n`.
    Xhr,
    /// `eventsource`: `data: <frame, \r \n \0 % percent-escaped>\r\n\r\n`.
    EventSource,
    /// `htmlfile`: `<script>\np("<frame as JSON>");\n</script>\r\n`, with
    /// `<`, `>`, `&` escaped too so that no message can end the script.
    HtmlFile,
    /// `jsonp`: `/**/<callback>("<frame as JSON>");\r\n`.
    Jsonp(Box<str>),
}

impl Framing {
    /// `frame` wrapped for the wire.
    pub(crate) fn wrap(&self, frame: &str) -> Bytes {
        let mut out = String::with_capacity(frame.len() + 32);
        match self {
            Framing::Xhr => {
                out.push_str(frame);
                out.push('\n');
            }
            Framing::EventSource => {
                out.push_str("data: ");
                write_event_data(&mut out, frame);
                out.push_str("\r\n\r\n");
            }
            Framing::HtmlFile => {
                out.push_str("<script>\np(");
                write_html_safe_json_string(&mut out, frame);
                out.push_str(");\n</script>\r\n");
            }
            Framing::Jsonp(callback) => {
                out.push_str("/**/");
                out.push_str(callback);
                out.push('(');
                write_json_string(&mut out, frame);
                out.push_str(");\r\n");
            }
        }
        Bytes::from(out)
    }
}

/// When a receiving response ends.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    /// After the first frame.
    Polling,
    /// Once this many bytes of frames were written.
    Streaming { limit: usize },
}

/// The body of a receiving response. See the module docs.
pub(crate) struct ReceiverBody {
    framing: Framing,
    mode: Mode,
    /// Written before anything else, not counted against the limit.
    prelude: Option<Bytes>,
    /// Frames to write before reading the queue (`o`, or a lone `c[2010,..]`).
    first: Option<Bytes>,
    attachment: Option<Attachment>,
    batch: Queue<Outgoing>,
    written: usize,
    heartbeat_delay: Duration,
    /// Fires at the earliest moment a heartbeat may be due; re-armed from
    /// `last_frame` when it fires early, so frames never touch the timer.
    heartbeat: Pin<Box<Sleep>>,
    last_frame: Instant,
    /// Streaming bodies: the clock their stall watchdog reads.
    watch: Option<Arc<Watch>>,
}

impl ReceiverBody {
    /// A body reading the session through `attachment`. `open` writes `o`
    /// first (a new session).
    pub(crate) fn attached(
        framing: Framing,
        mode: Mode,
        prelude: Option<Bytes>,
        attachment: Attachment,
        open: bool,
        heartbeat_delay: Duration,
    ) -> Self {
        let first = open.then(|| framing.wrap(Frame::open().as_str()));
        ReceiverBody {
            framing,
            mode,
            prelude,
            first,
            attachment: Some(attachment),
            batch: Queue::default(),
            written: 0,
            heartbeat_delay,
            heartbeat: Box::pin(tokio::time::sleep(heartbeat_delay)),
            last_frame: Instant::now(),
            watch: None,
        }
    }

    /// Ends `core` as [`CloseReason::Stalled`] when a frame this body
    /// handed over is not followed by a request for the next one within
    /// `timeout` (spawns the watchdog task).
    pub(crate) fn watched(mut self, core: Arc<Core>, timeout: Duration) -> Self {
        let watch = Arc::new(Watch::new());
        tokio::spawn(watch.clone().run(core, timeout));
        self.watch = Some(watch);
        self
    }

    /// A body that writes the prelude and one frame, then ends (the answer
    /// to a second receiving connection: `c[2010,"Another connection still open"]`).
    pub(crate) fn single(framing: Framing, prelude: Option<Bytes>, frame: &str) -> Self {
        let first = Some(framing.wrap(frame));
        ReceiverBody {
            framing,
            mode: Mode::Polling,
            prelude,
            first,
            attachment: None,
            batch: Queue::default(),
            written: 0,
            heartbeat_delay: Duration::ZERO,
            heartbeat: Box::pin(tokio::time::sleep(Duration::ZERO)),
            last_frame: Instant::now(),
            watch: None,
        }
    }

    /// The one frame of a polling response (with nothing before it: polling
    /// transports have no prelude).
    pub(crate) async fn into_single_frame(mut self) -> Bytes {
        debug_assert!(matches!(self.mode, Mode::Polling) && self.prelude.is_none());
        match std::future::poll_fn(|cx| Pin::new(&mut self).poll_frame(cx)).await {
            Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
            _ => Bytes::new(),
        }
    }

    /// Counts a frame and ends the response when the mode says so.
    fn emit(
        &mut self,
        bytes: Bytes,
        last: bool,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, std::convert::Infallible>>> {
        self.written += bytes.len();
        let recycled = matches!(self.mode, Mode::Streaming { limit } if self.written >= limit);
        let done = last || recycled || matches!(self.mode, Mode::Polling);
        if let Some(attachment) = &self.attachment {
            let metrics = attachment.core().metrics();
            metrics.sent_bytes(bytes.len());
            if recycled && !last {
                metrics.recycled();
            }
        }
        if done {
            if let Some(mut attachment) = self.attachment.take() {
                attachment.finish();
            }
        } else {
            self.last_frame = Instant::now();
            self.handed_over();
        }
        Poll::Ready(Some(Ok(BodyFrame::data(bytes))))
    }

    /// A frame goes to hyper and the response goes on: the stall clock
    /// runs until the next poll.
    fn handed_over(&self) {
        if let Some(watch) = &self.watch {
            watch.arm();
        }
    }
}

impl Drop for ReceiverBody {
    fn drop(&mut self) {
        if let Some(watch) = &self.watch {
            watch.end();
        }
    }
}

/// What a streaming body shares with its stall watchdog.
struct Watch {
    /// Milliseconds after `base` (plus one) at which a frame was handed
    /// over and not yet followed by a poll; 0 when polled since.
    handed: AtomicU64,
    base: Instant,
    /// The body is gone: the watchdog ends.
    ended: AtomicBool,
    wake: tokio::sync::Notify,
}

impl Watch {
    fn new() -> Self {
        Watch {
            handed: AtomicU64::new(0),
            base: Instant::now(),
            ended: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// A frame was handed over.
    fn arm(&self) {
        let ms = self.base.elapsed().as_millis() as u64 + 1;
        self.handed.store(ms, Ordering::Release);
    }

    /// hyper asks for the next frame: it took the last one.
    fn polled(&self) {
        if self.handed.load(Ordering::Relaxed) != 0 {
            self.handed.store(0, Ordering::Release);
        }
    }

    /// The body was dropped.
    fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The watchdog: wakes once per `timeout` while the body is polled in
    /// time, and at the deadline of a frame handed over; closes and
    /// forgets the session when a deadline passes without a poll.
    async fn run(self: Arc<Self>, core: Arc<Core>, timeout: Duration) {
        loop {
            if self.ended.load(Ordering::Acquire) || core.is_gone() {
                return;
            }
            let handed = self.handed.load(Ordering::Acquire);
            let deadline = if handed == 0 {
                Instant::now() + timeout
            } else {
                let deadline = self.base + Duration::from_millis(handed - 1) + timeout;
                if Instant::now() >= deadline {
                    break;
                }
                deadline
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.wake.notified() => {}
            }
        }
        tracing::debug!(?timeout, "the client stopped reading: session closed");
        core.close(
            close_code::INTERRUPTED,
            standard_reason(close_code::INTERRUPTED),
            CloseReason::Stalled,
        );
        // Forgotten now, not `disconnect_delay` later: the stuck response
        // still holds the session's receiving slot, so the reaper would
        // wait for it for as long as the TCP connection lives.
        core.finish(CloseReason::Stalled);
    }
}

impl Body for ReceiverBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(watch) = &this.watch {
            watch.polled();
        }
        if let Some(prelude) = this.prelude.take() {
            this.handed_over();
            return Poll::Ready(Some(Ok(BodyFrame::data(prelude))));
        }
        if let Some(first) = this.first.take() {
            let last = this.attachment.is_none();
            return this.emit(first, last);
        }
        let Some(attachment) = this.attachment.as_mut() else {
            return Poll::Ready(None);
        };
        match attachment.poll_next(cx, &mut this.batch) {
            Poll::Ready(Next::Messages) => {
                let frame = messages_frame(&mut this.batch);
                let bytes = this.framing.wrap(&frame);
                this.emit(bytes, false)
            }
            Poll::Ready(Next::Close(frame)) => {
                let bytes = this.framing.wrap(&frame);
                this.emit(bytes, true)
            }
            Poll::Pending => loop {
                if this.heartbeat.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let due = this.last_frame + this.heartbeat_delay;
                if Instant::now() >= due {
                    attachment.core().metrics().heartbeat();
                    let bytes = this.framing.wrap(Frame::heartbeat().as_str());
                    this.heartbeat
                        .as_mut()
                        .reset(Instant::now() + this.heartbeat_delay);
                    return this.emit(bytes, false);
                }
                // A frame went out since the timer was armed: not idle yet.
                this.heartbeat.as_mut().reset(due);
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prelude.is_none() && self.first.is_none() && self.attachment.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// What distinguishes one receiving transport's response from another's.
pub(crate) struct Receiving {
    /// Recorded in the session's connection facts when it opens.
    pub(crate) transport: crate::protocol::Transport,
    /// How frames are wrapped.
    pub(crate) framing: Framing,
    /// Streaming (ends at `response_limit`) or polling (ends after a frame).
    pub(crate) streaming: bool,
    /// Written first, not counted against the limit.
    pub(crate) prelude: Option<Bytes>,
    /// The response's `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Which CORS answer it gives.
    pub(crate) cors: Cors,
}

/// Which CORS answer a receiving transport gives.
#[derive(Clone, Copy)]
pub(crate) enum Cors {
    /// None (same-origin or script-tag transports).
    No,
    /// The xhr family's.
    Xhr,
    /// `eventsource`'s (`Origin: null` answered with `*`).
    EventSource,
}

/// Serves a receiving request for session `id`: attaches it (creating the
/// session when it is new and admitted; a second receiver gets
/// `c[2010,..]`) and answers 200 with the transport's headers and a
/// [`ReceiverBody`]. A refusal gets the same headers.
pub(crate) async fn serve(
    service: &ServiceState,
    id: &str,
    parts: &mut Parts,
    receiving: Receiving,
) -> axum::response::Response {
    let Receiving {
        transport,
        framing,
        streaming,
        prelude,
        content_type,
        cors,
    } = receiving;
    let config = &service.config;
    let (core, started) = match service.session(id, parts, transport).await {
        Ok(session) => session,
        Err(mut refusal) => {
            add_headers(service, parts, &cors, refusal.headers_mut());
            return refusal;
        }
    };
    let created = started.is_some();
    let body = match attach_or_wait(&core).await {
        Ok(attachment) => {
            if let Some(started) = started {
                started.wait().await;
            }
            let mode = if streaming {
                Mode::Streaming {
                    limit: config.response_limit,
                }
            } else {
                Mode::Polling
            };
            let body = ReceiverBody::attached(
                framing,
                mode,
                prelude,
                attachment,
                created,
                config.heartbeat_delay,
            );
            if streaming {
                body.watched(core.clone(), config.send_timeout)
            } else {
                body
            }
        }
        Err(_busy) => {
            core.metrics().another_connection();
            let busy = Frame::close(
                close_code::ANOTHER_CONNECTION,
                standard_reason(close_code::ANOTHER_CONNECTION),
            );
            ReceiverBody::single(framing, prelude, busy.as_str())
        }
    };
    let body = if streaming {
        axum::body::Body::new(body)
    } else {
        // A poll that finds the handler still at work on messages the
        // client sent gives it a moment to answer them, so that the
        // answers travel in this response rather than the next round trip
        // (sockjs-node's handlers answer in the same tick as the send).
        let _ = tokio::time::timeout(POLL_CATCH_UP, core.app_caught_up()).await;
        // A polling response carries exactly one frame: wait for it and
        // answer with a Content-Length body, which hyper writes at once
        // with the head (no chunked framing, one write instead of three).
        // A client that goes away meanwhile drops this future, and with it
        // the attachment: the session sees the interruption as before.
        axum::body::Body::from(body.into_single_frame().await)
    };
    let mut response = axum::response::Response::new(body);
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    add_headers(service, parts, &cors, out);
    response
}

/// How long a receiving request that finds another one attached waits for
/// it to go before it is answered `c[2010,..]`: a client that aborts a
/// request and at once opens the next one (sockjs-client after an error,
/// the protocol suite's abort tests) races the server's noticing the abort
/// on the other connection.
const BUSY_GRACE: Duration = Duration::from_millis(150);

/// How long a poll waits for the handler to finish with the client's
/// messages before it takes what is queued.
const POLL_CATCH_UP: Duration = Duration::from_millis(50);

/// Attaches a receiving request to `core`; when another one holds the
/// session, waits up to [`BUSY_GRACE`] for it to let go.
async fn attach_or_wait(core: &Arc<Core>) -> Result<Attachment, Busy> {
    let deadline = Instant::now() + BUSY_GRACE;
    loop {
        let change = core.on_change();
        tokio::pin!(change);
        change.as_mut().enable();
        match core.attach() {
            Ok(attachment) => return Ok(attachment),
            Err(busy) => {
                if tokio::time::timeout_at(deadline, change).await.is_err() {
                    return Err(busy);
                }
            }
        }
    }
}

/// The session-transport headers (no caching, JSESSIONID) and the
/// transport's CORS answer.
fn add_headers(service: &ServiceState, parts: &Parts, cors: &Cors, out: &mut http::HeaderMap) {
    let config = &service.config;
    headers::session_response(config, &parts.headers, out);
    match cors {
        Cors::No => {}
        Cors::Xhr => headers::cors(config, &parts.headers, out),
        Cors::EventSource => headers::cors_eventsource(config, &parts.headers, out),
    }
}

/// A rejection answered with the session-transport headers (no caching,
/// JSESSIONID), as every answer on a session URL has them.
pub(crate) fn reject(
    service: &ServiceState,
    parts: &Parts,
    rejection: Rejection,
) -> axum::response::Response {
    let mut response = rejection.into_response();
    headers::session_response(&service.config, &parts.headers, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame handed over in the watch's first millisecond is watched too
    /// (0 means "nothing handed over").
    #[tokio::test(start_paused = true)]
    async fn a_frame_handed_over_at_once_is_watched() {
        let watch = Watch::new();
        watch.arm();
        assert_ne!(watch.handed.load(Ordering::Acquire), 0);
        watch.polled();
        assert_eq!(watch.handed.load(Ordering::Acquire), 0);
    }

    #[test]
    fn framings() {
        let f = r#"a["x\u2028"]"#;
        assert_eq!(Framing::Xhr.wrap(f), "a[\"x\\u2028\"]\n");
        assert_eq!(
            Framing::HtmlFile.wrap(f),
            "<script>\np(\"a[\\\"x\\\\u2028\\\"]\");\n</script>\r\n"
        );
        assert_eq!(
            Framing::HtmlFile.wrap(r#"a["</script><img src=x onerror=alert(1)>&"]"#),
            "<script>\np(\"a[\\\"\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e\\u0026\\\"]\");\n</script>\r\n"
        );
        assert_eq!(Framing::Jsonp("cb".into()).wrap("o"), "/**/cb(\"o\");\r\n");
        assert_eq!(
            Framing::EventSource.wrap("a[\"%\r\n\"]"),
            "data: a[\"%25%0D%0A\"]\r\n\r\n"
        );
    }
}
