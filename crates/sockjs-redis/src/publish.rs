//! The publishing side of the broker: a bounded queue that `publish` fills
//! without waiting, drained in order by one task that pipelines `PUBLISH`
//! commands (and, for rooms with history on Redis, calls of the script
//! that appends to the room's stream and publishes with the position) and
//! retries a batch until Redis takes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use sockjs::rooms::History;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::script;
use crate::stats::Counters;
use crate::wire::{self, Target};

/// Most messages published in one pipeline.
const BATCH: usize = 256;

/// Longest pause between two attempts while Redis is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One room message waiting to be published.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) channel: Arc<str>,
    /// `None`: every session (or `user`'s).
    pub(crate) room: Option<Box<str>>,
    /// Every session of this user key (`room` is then `None`).
    pub(crate) user: Option<Box<str>>,
    pub(crate) message: Box<str>,
    /// Kept in the room's history on Redis, within these bounds (for a
    /// room only).
    pub(crate) kept: Option<History>,
}

/// The append script (see [`script::append`]).
fn append_script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(&script::append()))
}

/// Queues `outgoing` without waiting; when the queue is full it is counted
/// as dropped (and logged at most once a second).
pub(crate) fn enqueue(queue: &mpsc::Sender<Outgoing>, counters: &Counters, outgoing: Outgoing) {
    match queue.try_send(outgoing) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            let dropped = counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if should_log(&LAST_FULL_WARNING) {
                tracing::warn!(
                    dropped,
                    capacity = queue.max_capacity(),
                    "Redis publish queue full: room messages reach this node's sessions only"
                );
            }
        }
        Err(TrySendError::Closed(_)) => {}
    }
}

static LAST_FULL_WARNING: AtomicU64 = AtomicU64::new(0);

/// True at most once a second per `last` (milliseconds since the first
/// call of the process).
fn should_log(last: &AtomicU64) -> bool {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let now = START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1000;
    let before = last.load(Ordering::Relaxed);
    now >= before + 1000
        && last
            .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// Drains the queue until every sender is gone: numbers each message on
/// its channel, publishes batches in order, and retries a batch that
/// failed (receivers drop the copies a retry may make).
pub(crate) async fn run(
    mut queue: mpsc::Receiver<Outgoing>,
    mut conn: ConnectionManager,
    node: String,
    prefix: String,
    counters: Arc<Counters>,
    timeout: Duration,
) {
    counters.publishing.store(true, Ordering::Relaxed);
    let mut numbers: HashMap<Arc<str>, u64> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut failing_since: Option<Instant> = None;
    // Whether Redis has the append script (EVALSHA needs it).
    let mut loaded = false;
    loop {
        let n = queue.recv_many(&mut batch, BATCH).await;
        if n == 0 {
            return;
        }
        let mut pipe = redis::pipe();
        let mut appends = false;
        for out in batch.drain(..) {
            let seq = numbers.entry(out.channel.clone()).or_insert(0);
            *seq += 1;
            if let (Some(room), Some(limits)) = (&out.room, &out.kept) {
                appends = true;
                let age = script::millis(limits.age_limit());
                pipe.cmd("EVALSHA")
                    .arg(append_script().get_hash())
                    .arg(2)
                    .arg(script::pos_key(&prefix, &out.channel, room))
                    .arg(script::log_key(&prefix, &out.channel, room))
                    .arg(&*out.channel)
                    .arg(&**room)
                    .arg(&*out.message)
                    .arg(script::new_epoch())
                    .arg(&node)
                    .arg(*seq)
                    .arg(limits.message_limit())
                    .arg(limits.byte_limit())
                    .arg(age)
                    .arg(script::millis(script::pos_ttl(limits)))
                    .ignore();
                continue;
            }
            let target = match (&out.room, &out.user) {
                (Some(room), _) => Target::Room(room),
                (None, Some(user)) => Target::User(user),
                (None, None) => Target::All,
            };
            pipe.cmd("PUBLISH")
                .arg(&*out.channel)
                .arg(wire::encode(&node, *seq, target, &out.message))
                .ignore();
        }
        let mut backoff = Duration::from_millis(20);
        loop {
            let attempt = async {
                if appends && !loaded {
                    append_script().load_async(&mut conn).await?;
                    loaded = true;
                }
                pipe.query_async::<()>(&mut conn).await
            };
            let result = tokio::time::timeout(timeout, attempt).await;
            if !matches!(result, Ok(Ok(()))) {
                // Redis may have restarted without the script: load it
                // again before the retry.
                loaded = false;
            }
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {timeout:?}")),
            };
            let Some(error) = error else {
                counters.published.fetch_add(n as u64, Ordering::Relaxed);
                counters.publishing.store(true, Ordering::Relaxed);
                if let Some(since) = failing_since.take() {
                    tracing::info!(
                        after = ?since.elapsed(),
                        "publishing room messages to Redis again"
                    );
                }
                break;
            };
            counters.publishing.store(false, Ordering::Relaxed);
            if failing_since.is_none() {
                failing_since = Some(Instant::now());
                tracing::warn!(
                    %error,
                    "cannot publish room messages to Redis: queueing them and retrying"
                );
            }
            if queue.is_closed() && queue.is_empty() {
                // The handle is gone: nobody is left to publish for.
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
