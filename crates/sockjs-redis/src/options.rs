//! [`Options`]: what a [`Redis`](crate::Redis) handle can be tuned with.

use std::time::Duration;

/// Settings of a [`Redis`](crate::Redis) handle. Every setter consumes and
/// returns the options.
///
/// ```
/// use std::time::Duration;
/// use sockjs_redis::Options;
///
/// let options = Options::default()
///     .key_prefix("chat")
///     .claim_ttl(Duration::from_secs(30));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) key_prefix: String,
    pub(crate) queue_capacity: usize,
    pub(crate) claim_ttl: Duration,
    pub(crate) presence_ttl: Duration,
    pub(crate) timeout: Duration,
    pub(crate) tls_ca_pem: Option<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key_prefix: "sockjs".into(),
            queue_capacity: 4096,
            claim_ttl: Duration::from_secs(15),
            presence_ttl: Duration::from_secs(15),
            timeout: Duration::from_millis(500),
            tls_ca_pem: None,
        }
    }
}

impl Options {
    /// What every Redis key and channel name of this crate starts with,
    /// followed by `:`, so that several applications can share one Redis.
    /// Default: `sockjs`.
    ///
    /// ```no_run
    /// use sockjs_redis::{Options, Redis};
    ///
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let redis = Redis::connect_with("redis://127.0.0.1:6379/", Options::default().key_prefix("staging")).await?;
    /// assert_eq!(redis.broker("/chat").channel(), "staging:rooms:/chat");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How many room messages may wait to be published. Publishing never
    /// waits: when Redis is slow or unreachable messages queue here, and
    /// once the queue is full further messages are not sent to the other
    /// nodes (this node's sessions still get them), counted in
    /// [`Stats::dropped`](crate::Stats::dropped) and logged. Default: 4096.
    ///
    /// ```
    /// use sockjs_redis::Options;
    ///
    /// // Bursts of up to 100 000 broadcasts ride out a Redis hiccup.
    /// let options = Options::default().queue_capacity(100_000);
    /// # let _ = options;
    /// // A queue holds one message at least.
    /// assert!(format!("{:?}", Options::default().queue_capacity(0)).contains("queue_capacity: 1,"));
    /// ```
    #[must_use]
    pub fn queue_capacity(mut self, messages: usize) -> Self {
        self.queue_capacity = messages.max(1);
        self
    }

    /// How long a session directory entry outlives its node. A node renews
    /// its entries every third of this, so the sessions of a node that
    /// died are forgotten by the others at most this long after it died.
    /// Default: 15 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs_redis::Options;
    ///
    /// // A dead node's sessions are forgotten within 6 s; entries renewed every 2 s.
    /// let options = Options::default().claim_ttl(Duration::from_secs(6));
    /// # let _ = options;
    /// // 30 ms at least.
    /// let floor = Options::default().claim_ttl(Duration::ZERO);
    /// assert!(format!("{floor:?}").contains("claim_ttl: 30ms"));
    /// ```
    #[must_use]
    pub fn claim_ttl(mut self, ttl: Duration) -> Self {
        self.claim_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// How long a node's presence entries outlive it
    /// ([`Broker`](crate::Broker)'s presence: who is in a room on every
    /// node). A node renews its entries, and sweeps the rooms whose
    /// entries all expired, every third of this, so the users of a node
    /// that died leave its rooms (and a leave event is published) at most
    /// this and a third of it after its death, while some node uses
    /// presence. Default: 15 s (a dead node's users gone within 20 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs_redis::Options;
    ///
    /// // A dead node's users leave within 8 s; entries renewed every 2 s.
    /// let options = Options::default().presence_ttl(Duration::from_secs(6));
    /// # let _ = options;
    /// // 30 ms at least.
    /// let floor = Options::default().presence_ttl(Duration::ZERO);
    /// assert!(format!("{floor:?}").contains("presence_ttl: 30ms"));
    /// ```
    #[must_use]
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// The longest a request waits for a directory answer (and a
    /// connection attempt or a command takes) before it is given up and
    /// the request served by the node that got it. After a failure, the
    /// directory answers with an error at once for a second, so that an
    /// outage does not slow every request. Default: 500 ms.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs_redis::Options;
    ///
    /// // Redis on the same host: give up on it sooner.
    /// let options = Options::default().timeout(Duration::from_millis(50));
    /// assert!(format!("{options:?}").contains("timeout: 50ms"));
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// For a `rediss://` URL: trust the certificate authorities in `pem`
    /// (a private CA's `ca.pem`) instead of the system's trust store.
    /// Default: the system's.
    ///
    /// ```no_run
    /// use sockjs_redis::{Options, Redis};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let ca = std::fs::read("/etc/redis/ca.pem")?;
    /// let options = Options::default().tls_ca_pem(ca);
    /// let redis = Redis::connect_with("rediss://:password@redis.internal:6380/", options).await?;
    /// # let _ = redis;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca_pem = Some(pem.into());
        self
    }
}
