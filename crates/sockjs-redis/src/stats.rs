//! [`Stats`]: what a node's brokers did so far, and the [`Counters`] the
//! publishing and subscribing tasks keep them in.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) missed: AtomicU64,
    pub(crate) filled: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) publishing: AtomicBool,
}

/// What a [`Redis`](crate::Redis) handle's brokers did so far
/// ([`Redis::stats`](crate::Redis::stats)).
///
/// ```no_run
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), sockjs_redis::Error> {
/// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
/// let _rooms = redis.rooms("/chat");
/// // A health check: warn when this node is cut off from the others.
/// loop {
///     let stats = redis.stats();
///     if !stats.subscribed || !stats.publishing {
///         eprintln!("Redis unreachable; {} room messages not published", stats.dropped);
///     }
///     if stats.missed > 0 {
///         eprintln!("{} messages of other nodes lost so far", stats.missed);
///     }
///     tokio::time::sleep(Duration::from_secs(5)).await;
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Room messages published to Redis for the other nodes.
    pub published: u64,
    /// Room messages not published because the queue was full (Redis slow
    /// or unreachable for a long time); this node's sessions got them.
    pub dropped: u64,
    /// Room messages of other nodes (and, with history on Redis, of this
    /// node too) delivered to this node's rooms.
    pub received: u64,
    /// Messages received twice (a publish retried after a lost
    /// connection) and delivered once.
    pub duplicates: u64,
    /// Messages of other nodes that never arrived, counted from the gaps
    /// in their numbers (published while this node was not subscribed).
    pub missed: u64,
    /// With history on Redis: room messages that pub/sub did not bring
    /// (or not in time) and that were read from the room's stream, so
    /// that members got them in position order.
    pub filled: u64,
    /// With history on Redis: positions that neither pub/sub nor the
    /// room's stream had any more (trimmed, or Redis lost its data): the
    /// members got what came after them.
    pub skipped: u64,
    /// Whether the subscription is up: messages of other nodes arrive.
    pub subscribed: bool,
    /// Whether the last attempt to publish succeeded.
    pub publishing: bool,
}

impl Counters {
    /// The counts so far, with whether the subscription is up.
    pub(crate) fn stats(&self, subscribed: bool) -> Stats {
        Stats {
            published: self.published.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            missed: self.missed.load(Ordering::Relaxed),
            filled: self.filled.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            subscribed,
            publishing: self.publishing.load(Ordering::Relaxed),
        }
    }
}
