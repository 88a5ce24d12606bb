//! Byte budgets: what one session's queues may hold, and the service-wide
//! pool of bytes received from clients that no handler has read yet.
//!
//! A message costs its length in bytes plus [`MESSAGE_COST`] (what a queue
//! slot and the string's header take), so a body of a million empty
//! strings is not free. A queue admits a message (or a batch) that fits,
//! or any single one while it is empty: a message larger than the whole
//! budget waits for an empty queue instead of waiting forever. The pool
//! admits alike, but only when it is empty — otherwise N sessions, each
//! under its own budget, could hold N × budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// What a queued message costs on top of its bytes.
pub(crate) const MESSAGE_COST: usize = 24;

/// What `text` costs in a queue.
pub(crate) fn cost(text: &str) -> usize {
    text.len().saturating_add(MESSAGE_COST)
}

/// The bounds of one session's queues, the same for every session of a
/// service.
#[derive(Clone)]
pub(crate) struct Bounds {
    /// Messages each way.
    pub(crate) capacity: usize,
    /// Bytes of incoming messages the application has not read.
    pub(crate) inbound: usize,
    /// Bytes of outgoing messages the client has not taken.
    pub(crate) outbound: usize,
    /// The service's inbound pool.
    pub(crate) pool: Arc<Pool>,
}

impl Bounds {
    /// The bounds `config` describes, with a fresh pool.
    pub(crate) fn new(config: &crate::Config) -> Bounds {
        Bounds {
            capacity: config.queue_capacity.max(1),
            inbound: config.inbound_budget,
            outbound: config.outbound_budget,
            pool: Pool::new(config.service_inbound_budget),
        }
    }

    /// Bounds for tests: `capacity` messages and `bytes` bytes each way.
    #[cfg(test)]
    pub(crate) fn test(capacity: usize, bytes: usize) -> Bounds {
        Bounds {
            capacity,
            inbound: bytes,
            outbound: bytes,
            pool: Pool::new(usize::MAX),
        }
    }
}

/// Bytes of received, unread messages across a service's sessions.
pub(crate) struct Pool {
    limit: usize,
    used: AtomicUsize,
    /// Tasks waiting for room: [`give`](Self::give) wakes them only then,
    /// so that reads cost no lock while nobody waits.
    waiting: AtomicUsize,
    space: Notify,
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Arc<Pool> {
        Arc::new(Pool {
            limit,
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            space: Notify::new(),
        })
    }

    /// Takes `bytes` if they fit (or the pool is empty).
    pub(crate) fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used == 0 || used.saturating_add(bytes) <= self.limit)
                    .then(|| used.saturating_add(bytes))
            })
            .is_ok()
    }

    /// Whether `bytes` would fit now.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        let used = self.used.load(Ordering::SeqCst);
        used == 0 || used.saturating_add(bytes) <= self.limit
    }

    /// Gives `bytes` back, waking waiters.
    pub(crate) fn give(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.space.notify_waiters();
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    /// Counts the caller as waiting until the guard is dropped. Register
    /// (and `enable()` a [`notified`](Self::notified) future) before
    /// checking for room, so that no [`give`](Self::give) is missed.
    pub(crate) fn waiter(&self) -> Waiter<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiter(self)
    }

    /// A future for the next [`give`](Self::give) while waiting.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.space.notified()
    }
}

/// A task waiting for room in a [`Pool`].
pub(crate) struct Waiter<'a>(&'a Pool);

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_admits_what_fits_or_anything_when_empty() {
        let pool = Pool::new(100);
        assert!(pool.take(1000), "alone, even over the limit");
        assert!(!pool.take(1));
        pool.give(1000);
        assert!(pool.take(60));
        assert!(pool.take(40));
        assert!(!pool.has_room(1) && !pool.take(1));
        pool.give(40);
        assert!(pool.has_room(40) && !pool.has_room(41));
        assert_eq!(pool.used(), 60);
    }

    #[test]
    fn costs_count_a_slot_per_message() {
        assert_eq!(cost(""), MESSAGE_COST);
        assert_eq!(cost("héllo"), 6 + MESSAGE_COST);
    }
}
