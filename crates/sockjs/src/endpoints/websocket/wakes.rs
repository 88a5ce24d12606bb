//! [`Wakes`]: one word that says which parts of a WebSocket session's task
//! were woken, and the wakers that set its bits.
//!
//! A session's task holds several futures that wake it: the session loop,
//! the application's handler polled beside it ([`super::inline`]), the
//! shutdown's cut-off and the loop's timers ([`super::gated`]). Each gets a
//! waker that sets its own bit here and then wakes the task, so the task
//! polls only what was woken. All the bits are in one word, which the task
//! reads at every poll anyway: at thousands of sessions, where a session's
//! state is out of the cache when its turn comes, looking at a timer that
//! did not fire costs no cache line of its own.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

use futures_util::task::AtomicWaker;

/// The task is being polled: a wake-up only sets its bits.
pub(super) const POLLING: u8 = 1;
/// The session loop was woken.
pub(super) const MAIN: u8 = 2;
/// The application's handler was woken.
pub(super) const HANDLER: u8 = 4;
/// The shutdown's cut-off was woken.
pub(super) const CUT_OFF: u8 = 8;
/// The heartbeat timer fired or was reset (a gate: see [`super::gated`]).
pub(super) const HEARTBEAT: u8 = 16;
/// The keepalive timer fired or was reset (a gate).
pub(super) const KEEPALIVE: u8 = 32;

/// Which parts of a task were woken, and the task's own waker.
///
/// Padded so that its `Arc` (two counts and this) is 64 bytes, one cache
/// line: the allocator's 64-byte class starts each on a line, where its
/// 48-byte class started every other one across two (a wake-up, and the
/// poll that follows it, then read both at thousands of sessions).
pub(super) struct Wakes {
    state: AtomicU8,
    task: AtomicWaker,
    _line: [u64; 2],
}

impl Wakes {
    /// Every bit in `woken` set: everything is polled at the first poll.
    pub(super) fn new(woken: u8) -> Arc<Wakes> {
        Arc::new(Wakes {
            state: AtomicU8::new(woken),
            task: AtomicWaker::new(),
            _line: [0; 2],
        })
    }

    /// A waker that sets `bits` and wakes the task, unless it is being
    /// polled (the poll looks at the bits before it ends).
    ///
    /// The session loop's ([`MAIN`] alone) is this word itself: the loop
    /// is woken for every message (the socket's readiness, the
    /// application's answer), and its wake-up then touches nothing but the
    /// word. The others are a small allocation each.
    pub(super) fn waker(self: &Arc<Self>, bits: u8) -> Waker {
        if bits == MAIN {
            return Waker::from(self.clone());
        }
        Waker::from(Arc::new(Part {
            wakes: self.clone(),
            bits,
        }))
    }

    /// Sets `bits`; wakes the task unless it is being polled.
    fn wake_with(&self, bits: u8) {
        let before = self.state.fetch_or(bits, Ordering::AcqRel);
        if before & POLLING == 0 {
            self.task.wake();
        }
    }

    /// Registers the task's waker, which the wakers wake.
    pub(super) fn register(&self, task: &Waker) {
        self.task.register(task);
    }

    /// Whether `bit` is set.
    pub(super) fn is_set(&self, bit: u8) -> bool {
        self.state.load(Ordering::Acquire) & bit != 0
    }

    /// Sets `bits`, without waking the task.
    pub(super) fn set(&self, bits: u8) {
        self.state.fetch_or(bits, Ordering::AcqRel);
    }

    /// Clears `bits`.
    pub(super) fn clear(&self, bits: u8) {
        self.state.fetch_and(!bits, Ordering::AcqRel);
    }

    /// Marks the task as being polled and takes the bits of `bits` that are
    /// set (cleared now; the others stay).
    pub(super) fn start_round(&self, bits: u8) -> u8 {
        let before = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s & !bits) | POLLING)
            })
            .unwrap_or_else(|s| s);
        before & bits
    }

    /// Ends the poll, unless one of `bits` was set meanwhile: whether it
    /// ended (from now on a wake-up wakes the task).
    pub(super) fn try_end(&self, bits: u8) -> bool {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & bits == 0).then_some(s & !POLLING)
            })
            .is_ok()
    }
}

/// The waker of one part of the task.
struct Part {
    wakes: Arc<Wakes>,
    bits: u8,
}

impl Wake for Part {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.wake_with(self.bits);
    }
}

/// The session loop's waker.
impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_with(MAIN);
    }
}
