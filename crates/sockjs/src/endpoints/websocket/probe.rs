//! Test doubles for the session loop's plumbing ([`super::gated`],
//! [`super::inline`]): a future that counts its polls, and a task waker
//! that counts its wake-ups.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Counts its polls; pending until [`ready`](Self::ready) is set, keeping
/// the waker of its last poll. Clones share everything.
#[derive(Clone, Default)]
pub(super) struct Probe {
    polls: Arc<AtomicUsize>,
    pub(super) ready: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Probe {
    /// Wakes the waker of its last poll (it must have been polled since
    /// its last wake-up).
    pub(super) fn wake(&self) {
        self.waker
            .lock()
            .unwrap()
            .take()
            .expect("polled and waiting")
            .wake();
    }

    pub(super) fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
}

impl Future for Probe {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.ready.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A task's waker that counts its wake-ups.
#[derive(Default)]
pub(super) struct Task(AtomicUsize);

impl Task {
    pub(super) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
