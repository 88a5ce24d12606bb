//! [`Directory`]: a `cluster::Directory` on Redis keys with an expiry.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::{RedisResult, Script};
use sockjs::cluster::{self, DirectoryError, Owner};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::node_state::NodeState;

/// Most entries renewed by one script call.
const RENEW_BATCH: usize = 256;

/// How long the directory answers with an error at once after Redis
/// failed to answer.
const DOWN_FOR: Duration = Duration::from_secs(1);

/// Sets the key to ours unless it is set; answers the value it has then
/// (nil when ours was set).
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
",
    )
});

/// Deletes the key if it still holds our value.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Renews each key holding our value (ARGV[i + 1] for KEYS[i]) for ARGV[1]
/// ms, sets the ones that are gone (Redis restarted without its data), and
/// answers the keys that now hold another node's value.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local lost = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not v then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
  else
    lost[#lost + 1] = key
  end
end
return lost
",
    )
});

/// Sets the cluster's forwarding secret to ARGV[1] unless it is set;
/// answers the one it holds then.
static SECRET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
",
    )
});

/// Which node holds which session, in Redis ([`Redis::directory`](crate::Redis::directory)).
///
/// One key per session, `<prefix>:session:<service path>/<session id>`,
/// holding the owner's base URL and a claim token
/// (`http://10.0.0.2:8080 <node id>.<n>`), set with an expiry of
/// [`Options::claim_ttl`](crate::Options::claim_ttl) (15 s):
///
/// - [`claim`](cluster::Directory::claim) is one Lua script (set unless
///   set, else answer the holder), so two nodes claiming one session agree
///   on the winner;
/// - [`release`](cluster::Directory::release) deletes the key only if it
///   still holds this claim's token (a script), queued to a task so that
///   it never waits;
/// - a task renews every entry of this node every third of the expiry
///   (re-creating those Redis lost), so the entries of a node that died
///   are gone at most `claim_ttl` after its death, and the other nodes
///   forget its sessions;
/// - an entry naming this node's URL that this process did not make (a
///   previous run of the node) is stale: it is deleted and the session is
///   unknown;
/// - the secret that signs forwarded requests
///   ([`shared_secret`](cluster::Directory::shared_secret)) is
///   `<prefix>:forwarding-secret`: 64 random hex digits, set by the first
///   node that needs it (`SET NX`), read by the others, kept by each
///   node and set again by the renewal if Redis lost it (nodes agree
///   again within a third of the expiry). **Anyone who can read Redis can
///   forge forwarded requests**: the nodes trust Redis already (it says
///   where to send a session's requests), but give the nodes a secret of
///   their own (`sockjs::cluster::Forwarding::secret`, which takes
///   precedence) when Redis is shared more widely than the nodes.
///
/// Every answer waits at most [`Options::timeout`](crate::Options::timeout);
/// after a failure the directory answers with an error at once for a
/// second. On an error the library serves the request on the node that got
/// it.
///
/// ```no_run
/// # async fn run() -> Result<(), sockjs_redis::Error> {
/// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
/// let echo = sockjs::SockJsRouter::new(|_session: sockjs::Session| async {})
///     .directory(redis.directory("http://10.0.0.2:8080"));
/// # let _ = echo;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

struct Inner {
    node: Arc<NodeState>,
    /// This node's base URL.
    me: String,
    /// This process's entries: Redis key → value.
    claims: Mutex<HashMap<String, String>>,
    next_token: AtomicU64,
    /// Until when to answer with an error at once.
    down_until: Mutex<Option<Instant>>,
    releases: mpsc::UnboundedSender<(String, String)>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The forwarding secret as Redis last gave it.
    secret: Mutex<Option<Arc<str>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .map(|t| t.drain(..))
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Directory {
    pub(crate) fn new(node: Arc<NodeState>, me: String) -> Self {
        let (releases, queue) = mpsc::unbounded_channel();
        let ttl = node.options.claim_ttl;
        let inner = Arc::new(Inner {
            node: node.clone(),
            me: me.trim_end_matches('/').to_owned(),
            claims: Mutex::default(),
            next_token: AtomicU64::new(1),
            down_until: Mutex::default(),
            releases,
            tasks: Mutex::default(),
            secret: Mutex::default(),
        });
        let tasks = vec![
            tokio::spawn(renew(Arc::downgrade(&inner), ttl)),
            tokio::spawn(release_queued(queue, node)),
        ];
        *inner.tasks.lock().expect("tasks lock") = tasks;
        Directory { inner }
    }

    /// This node's base URL, as entries name it.
    ///
    /// A trailing `/` is dropped, so that every node names itself alike:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let directory = redis.directory("http://10.0.0.2:8080/");
    /// assert_eq!(directory.node_url(), "http://10.0.0.2:8080");
    /// # Ok(())
    /// # }
    /// ```
    pub fn node_url(&self) -> &str {
        &self.inner.me
    }

    /// How many sessions this node holds in the directory.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sockjs::SockJsRouter;
    ///
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let directory = redis.directory("http://10.0.0.2:8080");
    /// let chat = SockJsRouter::new(|_session: sockjs::Session| async {}).directory(directory.clone());
    /// # let _ = chat;
    /// // A gauge of the HTTP sessions this node holds (WebSockets are not entered).
    /// tokio::spawn(async move {
    ///     loop {
    ///         println!("sessions held: {}", directory.claims());
    ///         tokio::time::sleep(Duration::from_secs(10)).await;
    ///     }
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub fn claims(&self) -> usize {
        self.inner.claims.lock().expect("claims lock").len()
    }
}

impl Inner {
    fn key(&self, key: &str) -> String {
        format!("{}:session:{key}", self.node.options.key_prefix)
    }

    fn ttl_ms(&self) -> u64 {
        self.node.options.claim_ttl.as_millis() as u64
    }

    fn conn(&self) -> redis::aio::ConnectionManager {
        self.node.conn.clone()
    }

    /// Whether `value` is this process's entry for `key`.
    fn is_ours(&self, key: &str, value: &str) -> bool {
        let claims = self.claims.lock().expect("claims lock");
        claims.get(key).is_some_and(|v| v == value)
    }

    fn forget(&self, key: &str, value: &str) {
        let mut claims = self.claims.lock().expect("claims lock");
        if claims.get(key).is_some_and(|v| v == value) {
            claims.remove(key);
        }
    }

    /// Runs a Redis call within the timeout, failing at once while Redis
    /// is known to be down.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, DirectoryError> {
        {
            let down = self.down_until.lock().expect("down lock");
            if down.is_some_and(|until| Instant::now() < until) {
                return Err(DirectoryError("Redis unreachable".into()));
            }
        }
        let timeout = self.node.options.timeout;
        let error = match tokio::time::timeout(timeout, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => format!("{what}: {e}"),
            Err(_) => format!("{what}: no answer within {timeout:?}"),
        };
        *self.down_until.lock().expect("down lock") = Some(Instant::now() + DOWN_FOR);
        Err(DirectoryError(error))
    }

    async fn owner(&self, key: &str) -> Result<Owner, DirectoryError> {
        let key = self.key(key);
        let mut conn = self.conn();
        let value: Option<String> = self
            .call("GET", redis::cmd("GET").arg(&key).query_async(&mut conn))
            .await?;
        let Some(value) = value else {
            return Ok(Owner::Unknown);
        };
        let url = owner_url(&value);
        if url != self.me {
            return Ok(Owner::Remote(url.to_owned()));
        }
        if self.is_ours(&key, &value) {
            return Ok(Owner::Local);
        }
        // Left by an earlier run of this node: that session is gone.
        self.delete_stale(&key, &value).await;
        Ok(Owner::Unknown)
    }

    async fn delete_stale(&self, key: &str, value: &str) {
        let mut conn = self.conn();
        let deleted = self
            .call(
                "release",
                RELEASE.key(key).arg(value).invoke_async::<i64>(&mut conn),
            )
            .await;
        tracing::debug!(key, ?deleted, "stale session entry of an earlier run");
    }

    async fn claim(&self, key: &str) -> Result<Owner, DirectoryError> {
        let key = self.key(key);
        for _ in 0..2 {
            let token = self.next_token.fetch_add(1, Ordering::Relaxed);
            let value = format!("{} {}.{token}", self.me, self.node.id);
            // Entered before the claim, so that a concurrent `owner` of this
            // node sees it as this node's.
            self.claims
                .lock()
                .expect("claims lock")
                .insert(key.clone(), value.clone());
            let mut conn = self.conn();
            let result = self
                .call(
                    "claim",
                    CLAIM
                        .key(&key)
                        .arg(&value)
                        .arg(self.ttl_ms())
                        .invoke_async::<Option<String>>(&mut conn),
                )
                .await;
            let holder = match result {
                Ok(None) => return Ok(Owner::Local),
                Ok(Some(holder)) => holder,
                Err(e) => {
                    self.forget(&key, &value);
                    return Err(e);
                }
            };
            self.forget(&key, &value);
            let url = owner_url(&holder);
            if url != self.me {
                return Ok(Owner::Remote(url.to_owned()));
            }
            if self.is_ours(&key, &holder) {
                // Another request of this node claimed it first.
                return Ok(Owner::Local);
            }
            self.delete_stale(&key, &holder).await;
        }
        Err(DirectoryError(format!("{key}: could not be claimed")))
    }

    fn secret_key(&self) -> String {
        format!("{}:forwarding-secret", self.node.options.key_prefix)
    }

    /// The forwarding secret: the one at hand, else Redis's (set now to a
    /// new random one if Redis has none).
    async fn shared_secret(&self) -> Result<Option<Vec<u8>>, DirectoryError> {
        if let Some(secret) = self.secret.lock().expect("secret lock").as_ref() {
            return Ok(Some(secret.as_bytes().to_vec()));
        }
        let candidate = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut conn = self.conn();
        let secret: String = self
            .call(
                "forwarding secret",
                SECRET
                    .key(self.secret_key())
                    .arg(&candidate)
                    .invoke_async(&mut conn),
            )
            .await?;
        *self.secret.lock().expect("secret lock") = Some(Arc::from(secret.as_str()));
        Ok(Some(secret.into_bytes()))
    }

    /// Sets the secret at hand again if Redis lost it; takes Redis's if it
    /// differs (another node set a new one after Redis lost it).
    async fn keep_secret(&self) {
        let Some(secret) = self.secret.lock().expect("secret lock").clone() else {
            return;
        };
        let mut conn = self.conn();
        let timeout = self.node.options.timeout;
        let mut invocation = SECRET.prepare_invoke();
        invocation.key(self.secret_key()).arg(&*secret);
        if let Ok(Ok(held)) =
            tokio::time::timeout(timeout, invocation.invoke_async::<String>(&mut conn)).await
        {
            if *held != *secret {
                tracing::warn!(
                    "the cluster's forwarding secret changed in Redis; using the new one"
                );
                *self.secret.lock().expect("secret lock") = Some(Arc::from(held.as_str()));
            }
        }
    }

    fn release(&self, key: &str) {
        let key = self.key(key);
        let value = self.claims.lock().expect("claims lock").remove(&key);
        if let Some(value) = value {
            let _ = self.releases.send((key, value));
        }
    }
}

/// The base URL in an entry's value (`<url> <token>`).
fn owner_url(value: &str) -> &str {
    value.split(' ').next().unwrap_or(value)
}

/// Deletes released entries, in the background.
async fn release_queued(
    mut queue: mpsc::UnboundedReceiver<(String, String)>,
    node: Arc<NodeState>,
) {
    let mut conn = node.conn.clone();
    let timeout = node.options.timeout;
    while let Some((key, value)) = queue.recv().await {
        let mut release = RELEASE.prepare_invoke();
        release.key(&key).arg(&value);
        match tokio::time::timeout(timeout, release.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            // The entry expires by itself: it is not renewed any more.
            Ok(Err(e)) => tracing::debug!(key, error = %e, "release failed"),
            Err(_) => tracing::debug!(key, "release timed out"),
        }
    }
}

/// Renews this node's entries every third of `ttl`, until the directory
/// is dropped.
async fn renew(inner: Weak<Inner>, ttl: Duration) {
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.keep_secret().await;
        let entries: Vec<(String, String)> = {
            let claims = inner.claims.lock().expect("claims lock");
            claims.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut conn = inner.conn();
        let timeout = inner.node.options.timeout;
        let mut error = None;
        for chunk in entries.chunks(RENEW_BATCH) {
            let mut invocation = RENEW.prepare_invoke();
            invocation.arg(inner.ttl_ms());
            for (key, value) in chunk {
                invocation.key(key).arg(value);
            }
            match tokio::time::timeout(timeout, invocation.invoke_async::<Vec<String>>(&mut conn))
                .await
            {
                Ok(Ok(lost)) => {
                    for key in lost {
                        if let Some((_, value)) = chunk.iter().find(|(k, _)| *k == key) {
                            tracing::warn!(
                                key,
                                "a session of this node is now claimed by another node"
                            );
                            inner.forget(&key, value);
                        }
                    }
                }
                Ok(Err(e)) => {
                    error = Some(e.to_string());
                    break;
                }
                Err(_) => {
                    error = Some(format!("no answer within {timeout:?}"));
                    break;
                }
            }
        }
        match error {
            Some(error) if !failing => {
                failing = true;
                tracing::warn!(
                    %error,
                    entries = entries.len(),
                    "cannot renew this node's session entries in Redis; retrying"
                );
            }
            None if failing => {
                failing = false;
                tracing::info!(entries = entries.len(), "session entries renewed again");
            }
            _ => {}
        }
    }
}

impl cluster::Directory for Directory {
    fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
        Box::pin(self.inner.owner(key))
    }

    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
        Box::pin(self.inner.claim(key))
    }

    fn release(&self, key: &str) {
        self.inner.release(key);
    }

    fn shared_secret(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, DirectoryError>> {
        Box::pin(self.inner.shared_secret())
    }
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("node_url", &self.inner.me)
            .field("claims", &self.claims())
            .finish()
    }
}
