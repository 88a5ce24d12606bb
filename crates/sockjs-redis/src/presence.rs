//! Presence on Redis, shared by every node: the [`SharedPresence`] of a
//! [`Broker`](crate::Broker).
//!
//! Each room of a channel has two keys with one hash tag (the channel and
//! the room name in braces, as the history's keys), so that on Redis
//! Cluster they live in one slot and one script uses both (`<prefix>` is
//! [`Options::key_prefix`](crate::Options::key_prefix), `<channel>` the
//! broker's channel):
//!
//! - `<prefix>:{<channel>:<room>}:here`, a sorted set: one entry
//!   `<node>|<user>` per node and user key present there, scored by the
//!   time it expires (Redis's time, in ms): [`Options::presence_ttl`](crate::Options::presence_ttl)
//!   after the node last renewed it;
//! - `<prefix>:{<channel>:<room>}:users`, a hash: each user key present,
//!   with how many entries (nodes) it has. Its size is the room's count.
//!
//! Both expire a minute after the room's latest entry. Every change goes
//! through one script per room, which first drops the entries that expired
//! (of any node), then adds and removes this node's entries, keeping the
//! hash in step; a user whose first entry it adds is published as
//! `j #<len>:<room> <user>`, one whose last entry goes as
//! `l #<len>:<room> <user>` (see [`crate::wire`]), on the broker's
//! channel, to every node.
//!
//! `<prefix>:{<channel>}:present`, a sorted set of the channel's rooms
//! with presence, scored by the expiry of their latest entry, lets any
//! node find the rooms whose entries all expired (their nodes died) and
//! sweep them, so that their users leave even where no live node has
//! anyone.
//!
//! A node renews its entries (and sweeps the due rooms) every third of the
//! TTL: the users of a node that died leave the rooms within the TTL and a
//! third of it (20 s by default) while some node uses presence.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use redis::Script;
use sockjs::rooms::{SharedPresence, Users};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::node_state::NodeState;

/// Most user keys in one script call.
const BATCH: usize = 512;

/// Most due rooms swept per renewal.
const SWEEP: usize = 256;

/// How long a room's keys outlive its latest entry (so that they are
/// swept, and their users told gone, before Redis forgets them).
const KEEP_MS: u64 = 60_000;

/// `<prefix>:{<channel>:<room>}:here` (see the module docs).
pub(crate) fn here_key(prefix: &str, channel: &str, room: &str) -> String {
    format!("{prefix}:{{{channel}:{room}}}:here")
}

/// `<prefix>:{<channel>:<room>}:users` (see the module docs).
pub(crate) fn users_key(prefix: &str, channel: &str, room: &str) -> String {
    format!("{prefix}:{{{channel}:{room}}}:users")
}

/// `<prefix>:{<channel>}:present` (see the module docs).
pub(crate) fn index_key(prefix: &str, channel: &str) -> String {
    format!("{prefix}:{{{channel}}}:present")
}

/// What every room script starts with: KEYS `here`, `users`; ARGV
/// channel, room. Drops the expired entries; `keep()` sets the keys'
/// expiry and answers the latest entry's (0: the room is empty, and its
/// keys are gone).
const PRELUDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local here, users = KEYS[1], KEYS[2]
local channel, room = ARGV[1], ARGV[2]
local function tell(kind, user)
  redis.call('PUBLISH', channel, kind .. ' #' .. #room .. ':' .. room .. ' ' .. user)
end
local function gone(entry)
  local bar = string.find(entry, '|', 1, true)
  local user = string.sub(entry, bar + 1)
  if redis.call('HINCRBY', users, user, -1) <= 0 then
    redis.call('HDEL', users, user)
    tell('l', user)
  end
end
local function keep()
  local last = redis.call('ZRANGE', here, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', here, users)
    return 0
  end
  local latest = math.floor(tonumber(last[2]))
  redis.call('PEXPIREAT', here, latest + KEEP_MS)
  redis.call('PEXPIREAT', users, latest + KEEP_MS)
  return latest
end
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', here, '-inf', now)) do
  redis.call('ZREM', here, entry)
  gone(entry)
end
";

fn prelude() -> String {
    PRELUDE.replace("KEEP_MS", &KEEP_MS.to_string())
}

/// ARGV after the prelude's: node, ttl (ms), n, then n user keys to add
/// (or renew) for this node, then the ones to remove. Answers `keep()`.
static SYNC: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}",
        prelude(),
        r"
local node, ttl, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
for i = 6, 5 + n do
  local entry = node .. '|' .. ARGV[i]
  if redis.call('ZADD', here, now + ttl, entry) == 1 then
    if redis.call('HINCRBY', users, ARGV[i], 1) == 1 then
      tell('j', ARGV[i])
    end
  end
end
for i = 6 + n, #ARGV do
  local entry = node .. '|' .. ARGV[i]
  if redis.call('ZREM', here, entry) == 1 then
    gone(entry)
  end
end
return keep()
"
    ))
});

/// Answers the room's user keys (after the prelude's sweep).
static USERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}",
        prelude(),
        r"
keep()
return redis.call('HKEYS', users)
"
    ))
});

/// KEYS the index; ARGV the most rooms: the rooms whose latest entry
/// expired.
static DUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[1])
",
    )
});

/// One channel's presence on Redis (see the module docs).
pub(crate) struct RedisPresence {
    inner: Arc<Inner>,
}

struct Inner {
    node: Arc<NodeState>,
    channel: Arc<str>,
    local: Mutex<Local>,
    /// Wakes the task: changes wait.
    wake: Arc<Notify>,
    /// Started at the first use (within the runtime).
    task: Mutex<Option<JoinHandle<()>>>,
}

/// This node's presence, as the rooms told it.
#[derive(Default)]
struct Local {
    /// The user keys present here, by room.
    here: HashMap<Box<str>, HashSet<Box<str>>>,
    /// The changes not yet in Redis: present or not, by room and user.
    pending: HashMap<Box<str>, HashMap<Box<str>, bool>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl RedisPresence {
    pub(crate) fn new(node: Arc<NodeState>, channel: Arc<str>) -> Self {
        RedisPresence {
            inner: Arc::new(Inner {
                node,
                channel,
                local: Mutex::default(),
                wake: Arc::default(),
                task: Mutex::default(),
            }),
        }
    }

    fn change(&self, room: &str, user: &str, present: bool) {
        {
            let mut local = self.inner.local.lock().expect("presence lock");
            if present {
                local
                    .here
                    .entry(room.into())
                    .or_default()
                    .insert(user.into());
            } else if let Some(users) = local.here.get_mut(room) {
                users.remove(user);
                if users.is_empty() {
                    local.here.remove(room);
                }
            }
            local
                .pending
                .entry(room.into())
                .or_default()
                .insert(user.into(), present);
        }
        start(&self.inner);
        self.inner.wake.notify_one();
    }
}

/// Starts the task that writes the changes and renews the entries, once,
/// when called within a runtime.
fn start(inner: &Arc<Inner>) {
    let mut task = inner.task.lock().expect("presence task lock");
    if task.is_none() {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let every = inner.node.options.presence_ttl / 3;
            *task = Some(runtime.spawn(run(Arc::downgrade(inner), inner.wake.clone(), every)));
        }
    }
}

/// Writes the changes as they come, and every `every` renews this node's
/// entries and sweeps the rooms whose entries all expired, until the
/// presence is dropped.
async fn run(inner: Weak<Inner>, wake: Arc<Notify>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let renew = tokio::select! {
            _ = wake.notified() => false,
            _ = tick.tick() => true,
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match inner.flush(renew).await {
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    channel = %inner.channel,
                    %error,
                    "cannot write this node's presence to Redis; retrying"
                );
            }
            Ok(()) if failing => {
                failing = false;
                tracing::info!(channel = %inner.channel, "presence written to Redis again");
            }
            _ => {}
        }
    }
}

impl Inner {
    fn prefix(&self) -> &str {
        &self.node.options.key_prefix
    }

    /// Writes the pending changes and, on `renew`, renews every entry of
    /// this node and sweeps the due rooms. Changes that failed stay
    /// pending (unless a newer one came).
    async fn flush(&self, renew: bool) -> Result<(), String> {
        let (pending, here) = {
            let mut local = self.local.lock().expect("presence lock");
            let here = if renew {
                local.here.clone()
            } else {
                HashMap::new()
            };
            (std::mem::take(&mut local.pending), here)
        };
        let mut rooms: HashSet<&str> = pending.keys().map(|r| &**r).collect();
        rooms.extend(here.keys().map(|r| &**r));
        let mut error = None;
        for room in rooms {
            let changes = pending.get(room);
            let mut add: HashSet<&str> =
                here.get(room).into_iter().flatten().map(|u| &**u).collect();
            let mut remove = Vec::new();
            for (user, present) in changes.into_iter().flatten() {
                if *present {
                    add.insert(user);
                } else {
                    remove.push(&**user);
                }
            }
            let add: Vec<&str> = add.into_iter().collect();
            if let Err(e) = self.sync(room, &add, &remove).await {
                error = Some(e);
                let mut local = self.local.lock().expect("presence lock");
                let again = local.pending.entry(room.into()).or_default();
                for (user, present) in changes.into_iter().flatten() {
                    again.entry(user.clone()).or_insert(*present);
                }
            }
        }
        if renew && error.is_none() {
            if let Err(e) = self.sweep(&here).await {
                error = Some(e);
            }
        }
        error.map_or(Ok(()), Err)
    }

    /// One room's changes of this node, in script calls of at most
    /// `BATCH` users; then the room's place in the index.
    async fn sync(&self, room: &str, add: &[&str], remove: &[&str]) -> Result<(), String> {
        let mut calls: Vec<(&[&str], &[&str])> = add.chunks(BATCH).map(|a| (a, &[][..])).collect();
        calls.extend(remove.chunks(BATCH).map(|r| (&[][..], r)));
        if calls.is_empty() {
            calls.push((&[], &[])); // a sweep
        }
        let mut latest = 0;
        for (add, remove) in calls {
            let mut invocation = SYNC.prepare_invoke();
            invocation
                .key(here_key(self.prefix(), &self.channel, room))
                .key(users_key(self.prefix(), &self.channel, room))
                .arg(&*self.channel)
                .arg(room)
                .arg(&self.node.id)
                .arg(self.node.options.presence_ttl.as_millis() as u64)
                .arg(add.len());
            for user in add.iter().chain(remove) {
                invocation.arg(*user);
            }
            let mut conn = self.node.conn.clone();
            latest = self
                .call("presence", invocation.invoke_async::<u64>(&mut conn))
                .await?;
        }
        self.index(room, latest).await
    }

    /// Records that `room`'s latest entry expires at `latest` (0: the room
    /// has none).
    async fn index(&self, room: &str, latest: u64) -> Result<(), String> {
        let key = index_key(self.prefix(), &self.channel);
        let mut cmd = redis::cmd(if latest == 0 { "ZREM" } else { "ZADD" });
        cmd.arg(&key);
        if latest != 0 {
            cmd.arg("GT").arg(latest);
        }
        cmd.arg(room);
        let mut conn = self.node.conn.clone();
        self.call("presence index", cmd.query_async::<()>(&mut conn))
            .await
    }

    /// Sweeps the rooms whose latest entry expired (but those of `here`,
    /// which were just written).
    async fn sweep(&self, here: &HashMap<Box<str>, HashSet<Box<str>>>) -> Result<(), String> {
        let mut due = DUE.prepare_invoke();
        due.key(index_key(self.prefix(), &self.channel)).arg(SWEEP);
        let mut conn = self.node.conn.clone();
        let rooms: Vec<String> = self
            .call("presence sweep", due.invoke_async(&mut conn))
            .await?;
        for room in rooms {
            if !here.contains_key(room.as_str()) {
                self.sync(&room, &[], &[]).await?;
            }
        }
        Ok(())
    }

    async fn call<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        let timeout = self.node.options.timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(format!("{what}: {e}")),
            Err(_) => Err(format!("{what}: no answer within {timeout:?}")),
        }
    }
}

impl SharedPresence for RedisPresence {
    fn join(&self, room: &str, user: &str) {
        self.change(room, user, true);
    }

    fn leave(&self, room: &str, user: &str) {
        self.change(room, user, false);
    }

    fn users(&self, room: &str) -> Users {
        let inner = self.inner.clone();
        let room: Box<str> = room.into();
        start(&inner);
        Box::pin(async move {
            let mut read = USERS.prepare_invoke();
            read.key(here_key(inner.prefix(), &inner.channel, &room))
                .key(users_key(inner.prefix(), &inner.channel, &room))
                .arg(&*inner.channel)
                .arg(&*room);
            let mut conn = inner.node.conn.clone();
            match inner
                .call("presence", read.invoke_async::<Vec<String>>(&mut conn))
                .await
            {
                Ok(mut users) => {
                    // This node's own, even those not written yet.
                    let local = inner.local.lock().expect("presence lock");
                    users.extend(
                        local
                            .here
                            .get(&room)
                            .into_iter()
                            .flatten()
                            .map(|u| u.to_string()),
                    );
                    Some(users)
                }
                Err(error) => {
                    tracing::warn!(channel = %inner.channel, %room, %error, "cannot read a room's presence");
                    None
                }
            }
        })
    }
}

impl fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPresence")
            .field("channel", &self.inner.channel)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rooms_keys_share_one_slot() {
        let (here, users) = (
            here_key("sockjs", "sockjs:rooms:/chat", "lobby"),
            users_key("sockjs", "sockjs:rooms:/chat", "lobby"),
        );
        assert_eq!(here, "sockjs:{sockjs:rooms:/chat:lobby}:here");
        assert_eq!(users, "sockjs:{sockjs:rooms:/chat:lobby}:users");
        assert_eq!(
            index_key("sockjs", "sockjs:rooms:/chat"),
            "sockjs:{sockjs:rooms:/chat}:present"
        );
        assert!(prelude().contains("latest + 60000"));
    }
}
