//! The state one session shares between its halves, its receiving
//! connection and its reaper.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::{mpsc, Notify};

use super::close::{close_code, CloseReason};
use crate::protocol::Frame;

/// Where the consuming end of the outgoing queue is.
enum Outbox {
    /// Waiting in the session for the next receiving connection.
    Idle(mpsc::Receiver<String>),
    /// Held by the receiving connection that is attached now.
    Attached,
    /// The session is over and forgotten; nothing will be delivered.
    Gone,
}

struct State {
    outbox: Outbox,
    /// The `c[...]` frame every receiver gets once the session is closing.
    close_frame: Option<Arc<str>>,
    /// Feeds the application's [`Receiver`](super::Receiver); dropped on
    /// close so its stream ends once drained.
    inbox: Option<mpsc::Sender<String>>,
}

/// One session's shared state. Locks are held only for a few field moves,
/// never across an `.await`.
pub(crate) struct Core {
    state: Mutex<State>,
    closed: AtomicBool,
    reason: OnceLock<CloseReason>,
    /// The attached receiving connection, woken when the session closes.
    receiver_waker: AtomicWaker,
    /// Signalled on attach, detach and close: the reaper and senders
    /// waiting for queue space watch it.
    changed: Notify,
}

/// What an attached receiving connection reads next.
pub(crate) enum Next {
    /// Queued messages, moved into the caller's batch (at least one).
    Messages,
    /// The session is closing: send this `c[...]` frame and end.
    Close(Arc<str>),
}

/// A second receiving connection while one is attached.
#[derive(Debug)]
pub(crate) struct Busy;

impl Core {
    /// A new open session with both queues of `capacity` messages, plus the
    /// producing end of the outgoing queue and the consuming end of the
    /// incoming one (for the halves).
    pub(crate) fn new(
        capacity: usize,
    ) -> (Arc<Core>, mpsc::Sender<String>, mpsc::Receiver<String>) {
        let (out_tx, out_rx) = mpsc::channel(capacity);
        let (in_tx, in_rx) = mpsc::channel(capacity);
        let core = Arc::new(Core {
            state: Mutex::new(State {
                outbox: Outbox::Idle(out_rx),
                close_frame: None,
                inbox: Some(in_tx),
            }),
            closed: AtomicBool::new(false),
            reason: OnceLock::new(),
            receiver_waker: AtomicWaker::new(),
            changed: Notify::new(),
        });
        (core, out_tx, in_rx)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the outgoing queue for a receiving connection.
    pub(crate) fn attach(self: &Arc<Self>) -> Result<Attachment, Busy> {
        let rx = {
            let mut state = self.lock();
            match std::mem::replace(&mut state.outbox, Outbox::Attached) {
                Outbox::Idle(rx) => Some(rx),
                Outbox::Gone => {
                    state.outbox = Outbox::Gone;
                    None
                }
                Outbox::Attached => return Err(Busy),
            }
        };
        self.changed.notify_waiters();
        Ok(Attachment {
            core: self.clone(),
            rx,
            clean: false,
        })
    }

    /// Whether a receiving connection holds the outgoing queue.
    pub(crate) fn is_attached(&self) -> bool {
        matches!(self.lock().outbox, Outbox::Attached)
    }

    /// Starts closing: every receiver from now on gets `c[code,"reason"]`,
    /// the application's `Receiver` ends after what it has buffered, and
    /// `why` is what it reports. Returns false when already closing.
    pub(crate) fn close(&self, code: u16, reason: &str, why: CloseReason) -> bool {
        let inbox = {
            let mut state = self.lock();
            if state.close_frame.is_some() {
                return false;
            }
            state.close_frame = Some(Frame::close(code, reason).into_string().into());
            state.inbox.take()
        };
        drop(inbox);
        let _ = self.reason.set(why);
        self.closed.store(true, Ordering::Release);
        self.receiver_waker.wake();
        self.changed.notify_waiters();
        true
    }

    /// Whether the session is closing or closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Why the session ended, once it has.
    pub(crate) fn reason(&self) -> Option<CloseReason> {
        self.reason.get().cloned()
    }

    /// The producing end of the incoming queue, while the session is open.
    pub(crate) fn inbox(&self) -> Option<mpsc::Sender<String>> {
        self.lock().inbox.clone()
    }

    /// Forgets the session for good: queued outgoing messages are dropped
    /// and senders fail from now on.
    pub(crate) fn finish(&self, why: CloseReason) {
        self.close(close_code::NORMAL, "Normal closure", why);
        let outbox = std::mem::replace(&mut self.lock().outbox, Outbox::Gone);
        drop(outbox);
        self.changed.notify_waiters();
    }

    /// Resolves once the session is closing.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// A future for the next attach, detach or close. Pin it and call
    /// `enable()` before checking the state, so no change is missed.
    pub(crate) fn on_change(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

/// A receiving connection's hold on the session's outgoing queue. Dropping
/// it hands the queue back; dropping it before [`finish`](Self::finish) is
/// how an aborted connection is noticed, and closes the session with
/// `c[1002,"Connection interrupted"]`.
pub(crate) struct Attachment {
    core: Arc<Core>,
    /// `None` when the session was already gone at attach time.
    rx: Option<mpsc::Receiver<String>>,
    clean: bool,
}

impl Attachment {
    /// Polls for the next thing to send: queued messages (moved into
    /// `batch`) first, then the close frame once the session is closing.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut Vec<String>,
    ) -> Poll<Next> {
        self.core.receiver_waker.register(cx.waker());
        if let Some(rx) = &mut self.rx {
            if let Poll::Ready(n) = rx.poll_recv_many(cx, batch, usize::MAX) {
                if n > 0 {
                    return Poll::Ready(Next::Messages);
                }
            }
        }
        match &self.core.lock().close_frame {
            Some(frame) => Poll::Ready(Next::Close(frame.clone())),
            None => Poll::Pending,
        }
    }

    /// Marks the connection as ended by the server, not aborted.
    pub(crate) fn finish(&mut self) {
        self.clean = true;
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if !self.clean {
            self.core.close(
                close_code::INTERRUPTED,
                "Connection interrupted",
                CloseReason::Interrupted,
            );
        }
        {
            let mut state = self.core.lock();
            if matches!(state.outbox, Outbox::Attached) {
                state.outbox = match self.rx.take() {
                    Some(rx) => Outbox::Idle(rx),
                    None => Outbox::Gone,
                };
            }
        }
        self.core.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test]
    async fn one_receiver_at_a_time_and_queue_survives_detach() {
        let (core, tx, _in_rx) = Core::new(8);
        let mut first = core.attach().unwrap();
        assert!(core.attach().is_err());
        tx.send("a".into()).await.unwrap();
        tx.send("b".into()).await.unwrap();
        let mut batch = Vec::new();
        let next = poll_fn(|cx| first.poll_next(cx, &mut batch)).await;
        assert!(matches!(next, Next::Messages));
        assert_eq!(batch, ["a", "b"]);
        first.finish();
        drop(first);
        tx.send("c".into()).await.unwrap();
        let mut second = core.attach().unwrap();
        batch.clear();
        poll_fn(|cx| second.poll_next(cx, &mut batch)).await;
        assert_eq!(batch, ["c"]);
        second.finish();
    }

    #[tokio::test]
    async fn queued_messages_come_before_the_close_frame() {
        let (core, tx, _in_rx) = Core::new(8);
        tx.send("last".into()).await.unwrap();
        core.close(3000, "Go away!", CloseReason::ClientClosed);
        let mut att = core.attach().unwrap();
        let mut batch = Vec::new();
        assert!(matches!(
            poll_fn(|cx| att.poll_next(cx, &mut batch)).await,
            Next::Messages
        ));
        match poll_fn(|cx| att.poll_next(cx, &mut batch)).await {
            Next::Close(frame) => assert_eq!(&*frame, r#"c[3000,"Go away!"]"#),
            Next::Messages => panic!("expected the close frame"),
        }
        att.finish();
    }

    #[tokio::test]
    async fn an_aborted_receiver_closes_with_1002() {
        let (core, _tx, _in_rx) = Core::new(8);
        drop(core.attach().unwrap());
        assert_eq!(core.reason(), Some(CloseReason::Interrupted));
        let mut att = core.attach().unwrap();
        let mut batch = Vec::new();
        match poll_fn(|cx| att.poll_next(cx, &mut batch)).await {
            Next::Close(frame) => assert_eq!(&*frame, r#"c[1002,"Connection interrupted"]"#),
            Next::Messages => panic!(),
        }
        att.finish();
    }

    #[tokio::test]
    async fn close_wakes_an_idle_receiver_and_ends_the_inbox() {
        let (core, _tx, mut in_rx) = Core::new(8);
        let mut att = core.attach().unwrap();
        let closer = core.clone();
        tokio::spawn(async move {
            closer.close(3001, "bye", CloseReason::TimedOut);
        });
        let mut batch = Vec::new();
        assert!(matches!(
            poll_fn(|cx| att.poll_next(cx, &mut batch)).await,
            Next::Close(_)
        ));
        assert_eq!(in_rx.recv().await, None);
        att.finish();
        assert!(!core.close(1000, "again", CloseReason::TimedOut));
        assert_eq!(core.reason(), Some(CloseReason::TimedOut));
    }
}
