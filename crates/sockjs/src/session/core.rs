//! The state one session shares between its halves, its receiving
//! connection and its reaper.
//!
//! Both queues are plain `VecDeque`s under the session's one mutex, with a
//! waker per consumer: a session has exactly one consumer on each side (the
//! attached transport for outgoing messages, the application's `Receiver`
//! for incoming ones), so a general-purpose channel would only add memory
//! (two tokio channels cost ~2.6 KiB per idle session) and atomics.
//!
//! Each queue is bounded in messages and in bytes ([`Bounds`]); incoming
//! bytes are also charged to the service's [`Pool`](super::budget::Pool)
//! until the application reads them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use super::budget::{cost, Bounds};
use super::close::{close_code, standard_reason, CloseReason};
use super::outgoing::{Outgoing, SharedText};
use super::queue::Queue;
use crate::metrics::{QueueFull, SessionMetrics};
use crate::protocol::Frame;
use crate::rooms::{Lost, Member, Position, Rooms};

/// Where the outgoing queue's consumer is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outbox {
    /// No receiving connection: messages wait in the session.
    Idle,
    /// A receiving connection is attached and drains the queue.
    Attached,
    /// The session is over and forgotten; nothing will be delivered.
    Gone,
}

#[repr(C)]
struct State {
    /// Messages for the client, oldest first.
    out: Queue<Outgoing>,
    /// Messages from the client the application has not read yet.
    inbox: Queue<String>,
    /// The `c[...]` frame every receiver gets once the session is closing.
    close_frame: Option<Arc<str>>,
    /// Bytes of `out` (see [`cost`]).
    out_bytes: usize,
    /// Bytes of `inbox`, also charged to the service's pool.
    in_bytes: usize,
    /// How many [`Core::app_caught_up`] wait for `unanswered` to clear:
    /// without any, clearing it wakes no one (a notification costs three
    /// atomic operations and a cache line of its own, at every message).
    caught_up_waiters: usize,
    outbox: Outbox,
    /// A sender found `out` full: wake `out_space` when it is drained.
    out_waiting: bool,
    /// A transport found `inbox` full: wake `in_space` on the next read.
    in_waiting: bool,
    /// False once the session closed: the application's stream ends when
    /// `inbox` is drained.
    inbox_open: bool,
    /// A receiving connection took the close frame.
    close_delivered: bool,
    /// A client message was queued and the application has not yet come
    /// back for more since: it may still be answering it.
    unanswered: bool,
    // The rest is not read per message.
    /// The cost of the last incoming message or batch refused for want of
    /// room, which [`Core::in_space`] waits to fit.
    in_wanted: usize,
    /// The rooms the session is in, which it leaves when it closes.
    joined: Vec<Arc<str>>,
}

/// One session's shared state. The lock is held only for a few field
/// moves, never across an `.await`.
///
/// In declaration order (`repr(C)`): what every message reads or writes
/// comes first, so that a session that has gone cold (one of thousands
/// served in turn) costs a message five cache lines here rather than the
/// eight of the compiler's order; the rest is touched when a session
/// opens, closes, joins a room or waits for room. BENCHMARKS.md ("Where
/// the cost above the floor at thousands of sessions goes") counts them.
#[repr(C)]
pub(crate) struct Core {
    state: Mutex<State>,
    closed: AtomicBool,
    /// The application's `Receiver`: new incoming messages, close.
    app_waker: AtomicWaker,
    /// The attached receiving connection: new outgoing messages, close.
    receiver_waker: AtomicWaker,
    bounds: Bounds,
    metrics: SessionMetrics,
    /// Room in the outgoing queue (or close), for waiting senders.
    out_space: Notify,
    /// Room in the incoming queue (or close), for transports holding
    /// client messages back.
    in_space: Notify,
    /// Attach, detach and close: the reaper and `closed()` watch it.
    changed: Notify,
    /// Unique in the process: the session's key in its rooms.
    id: u64,
    /// The rooms of the session's service.
    rooms: Rooms,
    /// The application's user key for the session (presence, and
    /// messages to a user), set once.
    user: OnceLock<Arc<str>>,
    reason: OnceLock<CloseReason>,
    /// One HTTP send at a time reads its body and waits for room: the
    /// others wait their turn with their bodies unread (closed with the
    /// session).
    sends: tokio::sync::Semaphore,
    /// The client address the session is bound to
    /// ([`Config::bind_to_address`](crate::Config::bind_to_address)), set
    /// before the session is in the store.
    owner: OnceLock<std::net::IpAddr>,
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

/// Why there is no room for incoming messages.
enum Refused {
    Full,
    Closed,
}

/// Why a message was not queued; it is handed back.
pub(crate) enum PushError<T = String> {
    /// The queue is full, in messages or in bytes (or, for incoming
    /// messages, the service's pool is).
    Full(T),
    /// The session is closed.
    Closed(T),
}

impl Core {
    /// A new open session whose queues are bounded by `bounds`, of a
    /// service with `rooms`.
    pub(crate) fn new(bounds: Bounds, rooms: Rooms, metrics: SessionMetrics) -> Arc<Core> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Arc::new(Core {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            rooms,
            user: OnceLock::new(),
            metrics,
            state: Mutex::new(State {
                outbox: Outbox::Idle,
                out: Queue::default(),
                out_bytes: 0,
                out_waiting: false,
                close_frame: None,
                inbox: Queue::default(),
                in_bytes: 0,
                in_waiting: false,
                in_wanted: 0,
                inbox_open: true,
                close_delivered: false,
                joined: Vec::new(),
                unanswered: false,
                caught_up_waiters: 0,
            }),
            bounds,
            closed: AtomicBool::new(false),
            reason: OnceLock::new(),
            receiver_waker: AtomicWaker::new(),
            app_waker: AtomicWaker::new(),
            changed: Notify::new(),
            out_space: Notify::new(),
            in_space: Notify::new(),
            sends: tokio::sync::Semaphore::new(1),
            owner: OnceLock::new(),
        })
    }

    /// Binds the session to the client at `address`.
    pub(crate) fn bind(&self, address: std::net::IpAddr) {
        let _ = self.owner.set(address);
    }

    /// The client address the session is bound to, if any.
    pub(crate) fn owner(&self) -> Option<std::net::IpAddr> {
        self.owner.get().copied()
    }

    /// The rooms of the session's service.
    pub(crate) fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// The session's metrics.
    pub(crate) fn metrics(&self) -> &SessionMetrics {
        &self.metrics
    }

    /// Enters the open session in its service's every-session room.
    pub(crate) fn enter_rooms(self: &Arc<Self>) {
        let state = self.lock();
        if state.close_frame.is_none() {
            // Under the session's lock, so that a close cannot come between
            // (it takes the session out of its rooms after this lock).
            self.rooms.enter(self.clone());
        }
        drop(state);
    }

    /// Puts the session in `room` (nothing once it is closed).
    pub(crate) fn join(self: &Arc<Self>, room: &str) {
        let mut state = self.lock();
        if state.close_frame.is_some() || state.joined.iter().any(|r| &**r == room) {
            return;
        }
        state.joined.push(room.into());
        self.rooms.join(room, self.clone());
    }

    /// Puts the session in `room` and replays what it missed since
    /// `since` (see `Rooms::join_since`). Not under the session's lock: the
    /// replay queues messages, which takes it; a close or a leave that
    /// comes meanwhile takes the session out again.
    pub(crate) async fn join_since(
        self: &Arc<Self>,
        room: &str,
        since: Position,
    ) -> Result<(), Lost> {
        {
            let mut state = self.lock();
            if state.close_frame.is_some() {
                return Ok(());
            }
            if !state.joined.iter().any(|r| &**r == room) {
                state.joined.push(room.into());
            }
        }
        let resumed = self.rooms.join_since(room, self.clone(), since).await;
        let wanted = {
            let state = self.lock();
            state.close_frame.is_none() && state.joined.iter().any(|r| &**r == room)
        };
        if !wanted {
            self.rooms.leave(room, self.id);
        }
        resumed
    }

    /// Gives the session the user key `user` (once): false when it has
    /// another one, or is closed.
    pub(crate) fn set_user(self: &Arc<Self>, user: &str) -> bool {
        let state = self.lock();
        if let Some(current) = self.user.get() {
            return **current == *user;
        }
        if state.close_frame.is_some() {
            return false;
        }
        // Under the session's lock, so that a close cannot come between
        // (it takes the session out of its user's sessions after it).
        let user: Arc<str> = user.into();
        let _ = self.user.set(user.clone());
        self.rooms.identify(self.clone(), &user, &state.joined);
        drop(state);
        true
    }

    /// The session's user key, if it was given one.
    pub(crate) fn user(&self) -> Option<&str> {
        self.user.get().map(|user| &**user)
    }

    /// Takes the session out of `room`.
    pub(crate) fn leave(&self, room: &str) {
        let mut state = self.lock();
        state.joined.retain(|r| &**r != room);
        self.rooms.leave(room, self.id);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the outgoing queue for a receiving connection.
    pub(crate) fn attach(self: &Arc<Self>) -> Result<Attachment, Busy> {
        {
            let mut state = self.lock();
            match state.outbox {
                Outbox::Attached => return Err(Busy),
                Outbox::Idle => state.outbox = Outbox::Attached,
                Outbox::Gone => {}
            }
        }
        self.changed.notify_waiters();
        Ok(Attachment {
            core: self.clone(),
            clean: false,
        })
    }

    /// Whether a receiving connection holds the outgoing queue.
    pub(crate) fn is_attached(&self) -> bool {
        self.lock().outbox == Outbox::Attached
    }

    /// Whether `out` has room for one more message of `bytes` within
    /// `factor` times the bounds: any message fits an empty queue.
    fn out_fits(&self, state: &State, bytes: usize, factor: usize) -> bool {
        state.out.is_empty()
            || (state.out.len() < self.bounds.capacity.saturating_mul(factor)
                && state.out_bytes.saturating_add(bytes)
                    <= self.bounds.outbound.saturating_mul(factor))
    }

    /// Queues a message for the client: if the outgoing queue has room for
    /// it in messages and in bytes, or is empty.
    pub(crate) fn push_out(&self, message: String) -> Result<(), PushError> {
        let bytes = cost(&message);
        {
            let mut state = self.lock();
            if state.close_frame.is_some() || state.outbox == Outbox::Gone {
                return Err(PushError::Closed(message));
            }
            if !self.out_fits(&state, bytes, 1) {
                state.out_waiting = true;
                drop(state);
                self.metrics.queue_full(QueueFull::Out);
                return Err(PushError::Full(message));
            }
            state.out_bytes += bytes;
            state.out.push_back(Outgoing::Text(message));
        }
        self.receiver_waker.wake();
        Ok(())
    }

    /// Queues a message shared with other sessions, never waiting: up to
    /// twice the bounds, in messages and in bytes (a room message must not
    /// wait for one slow member, nor be lost for it). Past that the client
    /// cannot keep up, and the session is closed with 1013. False when not
    /// queued.
    pub(crate) fn push_shared(&self, message: &Arc<SharedText>) -> bool {
        let bytes = cost(message.text());
        let overflow = {
            let mut state = self.lock();
            if state.close_frame.is_some() || state.outbox == Outbox::Gone {
                return false;
            }
            if self.out_fits(&state, bytes, 2) {
                state.out_bytes += bytes;
                state.out.push_back(Outgoing::Shared(message.clone()));
                false
            } else {
                true
            }
        };
        if overflow {
            self.metrics.queue_full(QueueFull::Out);
            self.metrics.queue_full(QueueFull::OutClosed);
            let reason = "Outgoing queue full";
            self.close(
                close_code::TRY_AGAIN_LATER,
                reason,
                CloseReason::ServerClosed {
                    code: close_code::TRY_AGAIN_LATER,
                    reason: reason.into(),
                },
            );
            return false;
        }
        self.receiver_waker.wake();
        true
    }

    /// Queues a message for the client, waiting while the queue is full.
    pub(crate) async fn send_out(&self, mut message: String) -> Result<(), String> {
        loop {
            let space = self.out_space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            match self.push_out(message) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(m)) => return Err(m),
                Err(PushError::Full(m)) => message = m,
            }
            space.await;
        }
    }

    /// Hands client messages to the application's `Receiver`, all of them
    /// or none: if the incoming queue has room for them in messages and in
    /// bytes (or is empty), and the service's pool has room for their
    /// bytes (or is empty).
    pub(crate) fn push_in_batch(&self, batch: Vec<String>) -> Result<(), PushError<Vec<String>>> {
        let bytes = batch
            .iter()
            .fold(0usize, |sum, m| sum.saturating_add(cost(m)));
        let text: usize = batch.iter().map(String::len).sum();
        let count = batch.len();
        let mut state = match self.room_in(count, bytes) {
            Ok(state) => state,
            Err(Refused::Closed) => return Err(PushError::Closed(batch)),
            Err(Refused::Full) => return Err(PushError::Full(batch)),
        };
        state.inbox.extend(batch);
        drop(state);
        self.received(count, text);
        Ok(())
    }

    /// Hands a client message to the application's `Receiver`
    /// ([`push_in_batch`](Self::push_in_batch) of one, without the batch:
    /// a WebSocket hands over each message this way).
    pub(crate) fn push_in(&self, message: String) -> Result<(), PushError> {
        let text = message.len();
        let mut state = match self.room_in(1, cost(&message)) {
            Ok(state) => state,
            Err(Refused::Closed) => return Err(PushError::Closed(message)),
            Err(Refused::Full) => return Err(PushError::Full(message)),
        };
        state.inbox.push_back(message);
        drop(state);
        self.received(1, text);
        Ok(())
    }

    /// Takes room for `count` incoming messages costing `bytes` in all:
    /// the lock, held for the caller to queue them, with their bytes
    /// counted; or why not (a full queue or pool is marked as awaited).
    fn room_in(&self, count: usize, bytes: usize) -> Result<MutexGuard<'_, State>, Refused> {
        let mut state = self.lock();
        if !state.inbox_open {
            return Err(Refused::Closed);
        }
        let fits = state.inbox.is_empty()
            || (state.inbox.len().saturating_add(count) <= self.bounds.capacity
                && state.in_bytes.saturating_add(bytes) <= self.bounds.inbound);
        if !fits || !self.bounds.pool.take(bytes) {
            state.in_waiting = true;
            state.in_wanted = bytes;
            drop(state);
            self.metrics.queue_full(QueueFull::In);
            return Err(Refused::Full);
        }
        state.in_bytes += bytes;
        if count > 0 {
            state.unanswered = true;
        }
        Ok(state)
    }

    /// Counts `count` messages of `text` bytes received and wakes the
    /// application for them.
    fn received(&self, count: usize, text: usize) {
        if count > 0 {
            // The counters add up the same as one call per message.
            for _ in 1..count {
                self.metrics.received(0);
            }
            self.metrics.received(text);
            self.app_waker.wake();
        }
    }

    /// Hands client messages to the application, all or none, waiting at
    /// most `wait` for room (in the session's incoming queue and in the
    /// service's pool). The batch is handed back when there was no room in
    /// time (`Full`) or the session is closed.
    ///
    /// A WebSocket reader that must not stall for ever calls this with its
    /// bound (then closes the socket with 1013 on `Full`, say); the HTTP
    /// sends call [`deliver_until`](Self::deliver_until).
    #[allow(dead_code)]
    pub(crate) async fn deliver(
        &self,
        batch: Vec<String>,
        wait: Duration,
    ) -> Result<(), PushError<Vec<String>>> {
        self.deliver_until(batch, deadline(wait)).await
    }

    /// Waits, until `deadline` at most, for this session's turn to take an
    /// HTTP send: one send at a time reads its body and waits for room, so
    /// that concurrent sends to one session hold no more than one body.
    /// `Err(true)` when the deadline passed, `Err(false)` when the session
    /// closed.
    pub(crate) async fn send_turn(
        &self,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, bool> {
        tokio::select! {
            permit = self.sends.acquire() => permit.map_err(|_| false),
            () = until(deadline) => Err(true),
        }
    }

    /// [`deliver`](Self::deliver) with a deadline (`None`: no bound).
    pub(crate) async fn deliver_until(
        &self,
        mut batch: Vec<String>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), PushError<Vec<String>>> {
        let mut waiter = None;
        loop {
            let local = self.in_space.notified();
            tokio::pin!(local);
            local.as_mut().enable();
            let global = self.bounds.pool.notified();
            tokio::pin!(global);
            global.as_mut().enable();
            match self.push_in_batch(batch) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(b)) => return Err(PushError::Closed(b)),
                Err(PushError::Full(b)) => batch = b,
            }
            if waiter.is_none() {
                // Registered, then tried again: a read in between is seen.
                waiter = Some(self.bounds.pool.waiter());
                continue;
            }
            tokio::select! {
                () = local => {}
                () = global => {}
                () = until(deadline) => return Err(PushError::Full(batch)),
            }
        }
    }

    /// Hands a client message to the application, waiting without a bound
    /// while there is no room. Fails once the session is closed.
    #[cfg(test)]
    pub(crate) async fn send_in(&self, message: String) -> Result<(), String> {
        match self.deliver(vec![message], Duration::MAX).await {
            Ok(()) => Ok(()),
            Err(PushError::Full(mut b) | PushError::Closed(mut b)) => {
                Err(b.pop().unwrap_or_default())
            }
        }
    }

    /// Resolves when the last incoming message (or batch) refused for want
    /// of room may fit now (the application read, or another session's
    /// application freed room in the service's pool), or the session closed.
    /// A transport holding a refused message back waits on this, then tries
    /// again; bound the wait with a timeout to give up.
    pub(crate) async fn in_space(&self) {
        let _waiter = self.bounds.pool.waiter();
        let local = self.in_space.notified();
        tokio::pin!(local);
        local.as_mut().enable();
        let global = self.bounds.pool.notified();
        tokio::pin!(global);
        global.as_mut().enable();
        {
            let mut state = self.lock();
            let wanted = state.in_wanted;
            let fits = state.inbox.is_empty()
                || (state.inbox.len() < self.bounds.capacity
                    && state.in_bytes.saturating_add(wanted) <= self.bounds.inbound);
            if !state.inbox_open || (fits && self.bounds.pool.has_room(wanted)) {
                return;
            }
            state.in_waiting = true;
        }
        tokio::select! {
            () = local => {}
            () = global => {}
        }
    }

    /// Resolves once the application has taken every client message queued
    /// so far and come back for more (so it is done with them), or the
    /// session closed. A transport that must fail a connection waits for
    /// this (bounded) so that what came before the failure is answered.
    pub(crate) async fn app_caught_up(&self) {
        /// Counts its waiter in `caught_up_waiters` while it lives.
        struct Waiting<'a>(&'a Core);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.lock().caught_up_waiters -= 1;
            }
        }
        loop {
            let space = self.in_space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            let _waiting = {
                let mut state = self.lock();
                if !state.unanswered || !state.inbox_open {
                    return;
                }
                state.caught_up_waiters += 1;
                Waiting(self)
            };
            space.await;
        }
    }

    /// The application's side of the incoming queue.
    pub(crate) fn poll_in(&self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        let (message, bytes, waiting) = {
            let mut state = self.lock();
            match state.inbox.pop_front() {
                Some(message) => {
                    let bytes = cost(&message);
                    state.in_bytes -= bytes;
                    (message, bytes, std::mem::take(&mut state.in_waiting))
                }
                None if state.inbox_open => {
                    // Under the lock: a message pushed from now on wakes
                    // this waker (pushers wake after their lock). Not on
                    // the ready paths, which need no waking.
                    self.app_waker.register(cx.waker());
                    // Back for more with nothing left: every earlier
                    // message has been handled (and answered, if it was).
                    if std::mem::take(&mut state.unanswered) && state.caught_up_waiters > 0 {
                        drop(state);
                        self.in_space.notify_waiters();
                    }
                    return Poll::Pending;
                }
                None => return Poll::Ready(None),
            }
        };
        self.bounds.pool.give(bytes);
        if waiting {
            self.in_space.notify_waiters();
        }
        Poll::Ready(Some(message))
    }

    /// Starts closing: every receiver from now on gets `c[code,"reason"]`,
    /// the application's `Receiver` ends after what it has buffered, and
    /// `why` is what it reports. Returns false when already closing.
    pub(crate) fn close(&self, code: u16, reason: &str, why: CloseReason) -> bool {
        let joined = {
            let mut state = self.lock();
            if state.close_frame.is_some() {
                return false;
            }
            // Under the lock, before the frame: whoever reads the close
            // frame finds the reason set.
            let _ = self.reason.set(why);
            state.close_frame = Some(Frame::close(code, reason).into_string().into());
            state.inbox_open = false;
            std::mem::take(&mut state.joined)
        };
        self.rooms.leave_all(&joined, self.id, self.user.get());
        self.closed.store(true, Ordering::Release);
        self.sends.close();
        self.receiver_waker.wake();
        self.app_waker.wake();
        self.changed.notify_waiters();
        self.out_space.notify_waiters();
        self.in_space.notify_waiters();
        true
    }

    /// Whether the session is closing or closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Whether a receiving connection took the close frame: nothing is left
    /// to deliver.
    pub(crate) fn close_delivered(&self) -> bool {
        self.lock().close_delivered
    }

    /// Whether the session was forgotten ([`finish`](Self::finish)).
    pub(crate) fn is_gone(&self) -> bool {
        self.lock().outbox == Outbox::Gone
    }

    /// Why the session ended, once it has.
    pub(crate) fn reason(&self) -> Option<CloseReason> {
        self.reason.get().cloned()
    }

    /// Forgets the session for good: queued outgoing messages are dropped
    /// and senders fail from now on.
    pub(crate) fn finish(&self, why: CloseReason) {
        self.close(close_code::NORMAL, standard_reason(close_code::NORMAL), why);
        let dropped = {
            let mut state = self.lock();
            state.outbox = Outbox::Gone;
            state.out_bytes = 0;
            std::mem::take(&mut state.out)
        };
        drop(dropped);
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

/// The instant `wait` from now; `None` past the clock's range (such as
/// `Duration::MAX`), meaning no bound.
pub(crate) fn deadline(wait: Duration) -> Option<tokio::time::Instant> {
    tokio::time::Instant::now().checked_add(wait)
}

/// Resolves at `deadline`, never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Unread messages leave with the session: their bytes go back to
        // the service's pool.
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        self.bounds.pool.give(state.in_bytes);
    }
}

/// A receiving connection's hold on the session's outgoing queue. Dropping
/// it hands the queue back; dropping it before [`finish`](Self::finish) is
/// how an aborted connection is noticed, and closes the session with
/// `c[1002,"Connection interrupted"]`.
pub(crate) struct Attachment {
    core: Arc<Core>,
    clean: bool,
}

impl Attachment {
    /// Polls for the next thing to send: queued messages (moved into
    /// `batch`) first, then the close frame once the session is closing.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut Queue<Outgoing>,
    ) -> Poll<Next> {
        let core = &self.core;
        let waiting = {
            let mut state = core.lock();
            if state.out.is_empty() {
                return match state.close_frame.clone() {
                    Some(frame) => {
                        state.close_delivered = true;
                        Poll::Ready(Next::Close(frame))
                    }
                    None => {
                        // Under the lock, as in `Core::poll_in`.
                        core.receiver_waker.register(cx.waker());
                        Poll::Pending
                    }
                };
            }
            core.metrics.sent_messages(state.out.len());
            batch.extend(state.out.drain());
            state.out_bytes = 0;
            std::mem::take(&mut state.out_waiting)
        };
        if waiting {
            core.out_space.notify_waiters();
        }
        Poll::Ready(Next::Messages)
    }

    /// The session.
    pub(crate) fn core(&self) -> &Core {
        &self.core
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
                standard_reason(close_code::INTERRUPTED),
                CloseReason::Interrupted,
            );
        }
        {
            let mut state = self.core.lock();
            if state.outbox == Outbox::Attached {
                state.outbox = Outbox::Idle;
            }
        }
        self.core.changed.notify_waiters();
    }
}

impl Member for Core {
    fn key(&self) -> u64 {
        self.id
    }

    fn user(&self) -> Option<Arc<str>> {
        self.user.get().cloned()
    }

    fn push_shared(&self, message: &Arc<SharedText>) -> bool {
        Core::push_shared(self, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    fn test_metrics() -> SessionMetrics {
        SessionMetrics::opened(&"test".into(), crate::Transport::XhrPolling)
    }

    fn texts(batch: &mut Queue<Outgoing>) -> Vec<String> {
        batch.drain().map(Outgoing::into_text).collect()
    }

    #[tokio::test]
    async fn one_receiver_at_a_time_and_queue_survives_detach() {
        let core = Core::new(Bounds::test(8, 1 << 20), Rooms::new(), test_metrics());
        let mut first = core.attach().unwrap();
        assert!(core.attach().is_err());
        core.send_out("a".into()).await.unwrap();
        core.send_out("b".into()).await.unwrap();
        let mut batch = Queue::default();
        let next = poll_fn(|cx| first.poll_next(cx, &mut batch)).await;
        assert!(matches!(next, Next::Messages));
        assert_eq!(texts(&mut batch), ["a", "b"]);
        first.finish();
        drop(first);
        core.send_out("c".into()).await.unwrap();
        let mut second = core.attach().unwrap();
        batch.drain().for_each(drop);
        poll_fn(|cx| second.poll_next(cx, &mut batch)).await;
        assert_eq!(texts(&mut batch), ["c"]);
        second.finish();
    }

    #[tokio::test]
    async fn a_wait_for_the_application_ends_when_it_comes_back_for_more() {
        let core = Core::new(Bounds::test(8, 1 << 20), Rooms::new(), test_metrics());
        core.push_in("a".into()).ok().unwrap();
        let waiting = tokio::spawn({
            let core = core.clone();
            async move { core.app_caught_up().await }
        });
        while core.lock().caught_up_waiters == 0 {
            tokio::task::yield_now().await;
        }
        // Nothing wakes the wait while the application still holds the
        // message ...
        assert_eq!(
            poll_fn(|cx| Poll::Ready(core.poll_in(cx))).await,
            Poll::Ready(Some("a".to_owned()))
        );
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // ... and coming back for more does.
        assert!(poll_fn(|cx| Poll::Ready(core.poll_in(cx)))
            .await
            .is_pending());
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(core.lock().caught_up_waiters, 0);
    }

    #[tokio::test]
    async fn an_empty_batch_leaves_nothing_to_answer() {
        use futures_util::FutureExt;
        let core = Core::new(Bounds::test(8, 1 << 20), Rooms::new(), test_metrics());
        // An xhr_send of `[]`: a poll that follows must not wait for the
        // application to answer (it has nothing to answer).
        assert!(core.push_in_batch(Vec::new()).is_ok());
        assert_eq!(core.app_caught_up().now_or_never(), Some(()));
        // A message does make it wait, until the application is back for
        // more.
        core.push_in("a".into()).ok().unwrap();
        assert_eq!(core.app_caught_up().now_or_never(), None);
        assert_eq!(
            poll_fn(|cx| Poll::Ready(core.poll_in(cx))).await,
            Poll::Ready(Some("a".to_owned()))
        );
        assert!(poll_fn(|cx| Poll::Ready(core.poll_in(cx)))
            .await
            .is_pending());
        assert_eq!(core.app_caught_up().now_or_never(), Some(()));
    }

    #[tokio::test]
    async fn queued_messages_come_before_the_close_frame() {
        let core = Core::new(Bounds::test(8, 1 << 20), Rooms::new(), test_metrics());
        core.send_out("last".into()).await.unwrap();
        core.close(3000, "Go away!", CloseReason::ClientClosed);
        assert!(core.push_out("late".into()).is_err());
        let mut att = core.attach().unwrap();
        let mut batch = Queue::default();
        assert!(matches!(
            poll_fn(|cx| att.poll_next(cx, &mut batch)).await,
            Next::Messages
        ));
        assert_eq!(texts(&mut batch), ["last"]);
        match poll_fn(|cx| att.poll_next(cx, &mut batch)).await {
            Next::Close(frame) => assert_eq!(&*frame, r#"c[3000,"Go away!"]"#),
            Next::Messages => panic!("expected the close frame"),
        }
        att.finish();
    }

    #[tokio::test]
    async fn an_aborted_receiver_closes_with_1002() {
        let core = Core::new(Bounds::test(8, 1 << 20), Rooms::new(), test_metrics());
        drop(core.attach().unwrap());
        assert_eq!(core.reason(), Some(CloseReason::Interrupted));
        let mut att = core.attach().unwrap();
        let mut batch = Queue::default();
        match poll_fn(|cx| att.poll_next(cx, &mut batch)).await {
            Next::Close(frame) => assert_eq!(&*frame, r#"c[1002,"Connection interrupted"]"#),
            Next::Messages => panic!(),
        }
        att.finish();
    }

    #[tokio::test]
    async fn close_wakes_an_idle_receiver_and_ends_the_inbox_after_draining() {
        let core = Core::new(Bounds::test(8, 1 << 20), Rooms::new(), test_metrics());
        core.push_in("buffered".into()).ok().unwrap();
        let mut att = core.attach().unwrap();
        let closer = core.clone();
        tokio::spawn(async move {
            closer.close(3001, "bye", CloseReason::TimedOut);
        });
        let mut batch = Queue::default();
        assert!(matches!(
            poll_fn(|cx| att.poll_next(cx, &mut batch)).await,
            Next::Close(_)
        ));
        assert_eq!(
            poll_fn(|cx| core.poll_in(cx)).await.as_deref(),
            Some("buffered")
        );
        assert_eq!(poll_fn(|cx| core.poll_in(cx)).await, None);
        assert!(core.push_in("late".into()).is_err());
        att.finish();
        assert!(!core.close(1000, "again", CloseReason::TimedOut));
        assert_eq!(core.reason(), Some(CloseReason::TimedOut));
    }

    #[tokio::test]
    async fn full_queues_make_their_producers_wait_until_drained_or_closed() {
        let core = Core::new(Bounds::test(2, 1 << 20), Rooms::new(), test_metrics());
        core.send_out("1".into()).await.unwrap();
        core.send_out("2".into()).await.unwrap();
        assert!(matches!(core.push_out("3".into()), Err(PushError::Full(_))));
        let sender = core.clone();
        let waiting = tokio::spawn(async move { sender.send_out("3".into()).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let mut att = core.attach().unwrap();
        let mut batch = Queue::default();
        poll_fn(|cx| att.poll_next(cx, &mut batch)).await;
        assert_eq!(waiting.await.unwrap(), Ok(()));

        core.push_in("a".into()).ok().unwrap();
        core.push_in("b".into()).ok().unwrap();
        let producer = core.clone();
        let blocked = tokio::spawn(async move { producer.send_in("c".into()).await });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished());
        core.close(1000, "x", CloseReason::TimedOut);
        assert_eq!(blocked.await.unwrap(), Err("c".to_owned()));
        att.finish();
    }

    #[tokio::test]
    async fn room_freed_in_the_service_pool_wakes_another_session() {
        let pool = super::super::budget::Pool::new(100);
        let bounds = Bounds {
            pool: pool.clone(),
            ..Bounds::test(8, 1 << 20)
        };
        let a = Core::new(bounds.clone(), Rooms::new(), test_metrics());
        let b = Core::new(bounds, Rooms::new(), test_metrics());
        a.push_in("x".repeat(60)).ok().unwrap();
        assert!(matches!(b.push_in("y".repeat(30)), Err(PushError::Full(_))));
        let waiter = b.clone();
        let space = tokio::spawn(async move { waiter.in_space().await });
        tokio::task::yield_now().await;
        assert!(!space.is_finished(), "no room yet");
        assert!(poll_fn(|cx| a.poll_in(cx)).await.is_some());
        tokio::time::timeout(Duration::from_secs(5), space)
            .await
            .expect("woken by a's read")
            .unwrap();
        b.push_in("y".repeat(30)).ok().unwrap();
        drop(b);
        assert_eq!(pool.used(), 0, "a dropped session gives its bytes back");
    }

    #[tokio::test(start_paused = true)]
    async fn deliver_waits_its_bound_and_takes_no_bound_without_panicking() {
        let core = Core::new(Bounds::test(8, 10), Rooms::new(), test_metrics());
        core.push_in("x".into()).ok().unwrap();
        let started = tokio::time::Instant::now();
        let refused = core.deliver(vec!["y".into()], Duration::from_secs(2)).await;
        assert!(matches!(refused, Err(PushError::Full(b)) if b == ["y"]));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let waiting = core.clone();
        let forever =
            tokio::spawn(async move { waiting.deliver(vec!["z".into()], Duration::MAX).await });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!forever.is_finished());
        core.close(1000, "x", CloseReason::TimedOut);
        assert!(matches!(forever.await.unwrap(), Err(PushError::Closed(_))));
    }

    fn session(rooms: &Rooms) -> Arc<Core> {
        let core = Core::new(Bounds::test(8, 1 << 20), rooms.clone(), test_metrics());
        core.enter_rooms();
        core
    }

    async fn next(events: &mut crate::rooms::PresenceEvents) -> crate::rooms::PresenceEvent {
        tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
            .await
            .expect("an event")
            .expect("rooms still there")
    }

    #[tokio::test]
    async fn presence_counts_users_once_by_their_keys_and_closing_leaves() {
        use crate::rooms::PresenceEvent::{Join, Leave};
        let rooms = Rooms::new();
        let mut events = rooms.presence_events("lobby");
        let (phone, laptop, bob, anonymous) = (
            session(&rooms),
            session(&rooms),
            session(&rooms),
            session(&rooms),
        );
        // A key given before joining, and one given after.
        assert!(phone.set_user("alice"));
        phone.join("lobby");
        laptop.join("lobby");
        assert!(laptop.set_user("alice"));
        assert!(laptop.set_user("alice"), "the same key again");
        assert!(!laptop.set_user("mallory"), "set once");
        bob.set_user("bob");
        bob.join("lobby");
        anonymous.join("lobby");
        assert_eq!(next(&mut events).await, Join("alice".into()));
        assert_eq!(next(&mut events).await, Join("bob".into()));

        let presence = rooms.presence("lobby").await;
        assert_eq!(presence.users(), ["alice", "bob"]);
        assert_eq!(presence.count(), 2);
        assert_eq!(rooms.members("lobby"), 4);
        // No session id anywhere: only the keys.
        assert!(presence.users().iter().all(|u| u == "alice" || u == "bob"));

        // One of alice's two sessions goes: she is still there.
        phone.leave("lobby");
        assert_eq!(rooms.presence("lobby").await.users(), ["alice", "bob"]);
        // Closing is leaving.
        laptop.close(1000, "x", CloseReason::ClientClosed);
        assert_eq!(next(&mut events).await, Leave("alice".into()));
        assert_eq!(rooms.presence("lobby").await.users(), ["bob"]);
        let late = session(&rooms);
        late.close(1000, "x", CloseReason::ClientClosed);
        assert!(!late.set_user("alice"), "closed");
        bob.leave("lobby");
        assert_eq!(next(&mut events).await, Leave("bob".into()));
        assert_eq!(rooms.presence("lobby").await.count(), 0);
        // alice's phone is no longer in the lobby, but still hers.
        assert_eq!(rooms.send_to_user("alice", "hi"), 1);
        phone.close(1000, "x", CloseReason::ClientClosed);
        assert_eq!(rooms.send_to_user("alice", "hi"), 0);
        assert_eq!(rooms.send_to_user("bob", "hi"), 1);
        anonymous.leave("lobby");
        assert_eq!(rooms.members("lobby"), 0);
    }

    #[tokio::test]
    async fn messages_to_a_user_reach_each_of_its_sessions_once() {
        let rooms = Rooms::new();
        let (a, b, c) = (session(&rooms), session(&rooms), session(&rooms));
        a.set_user("alice");
        b.set_user("alice");
        c.set_user("carol");
        a.join("x");
        a.join("y");
        assert_eq!(rooms.send_to_user("alice", "for alice"), 2);
        assert_eq!(rooms.send_to_user("nobody", "lost"), 0);
        for (core, expected) in [(&a, 1), (&b, 1), (&c, 0)] {
            let mut receiver = core.attach().unwrap();
            let mut batch = Queue::default();
            if expected > 0 {
                assert!(matches!(
                    poll_fn(|cx| receiver.poll_next(cx, &mut batch)).await,
                    Next::Messages
                ));
            }
            assert_eq!(texts(&mut batch).len(), expected);
        }
    }
}
