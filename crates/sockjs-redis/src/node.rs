//! [`Redis`]: one node's connections to Redis, shared by its brokers and
//! its session directory.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sockjs::Rooms;
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::directory::Directory;
use crate::node_state::NodeState;
use crate::options::Options;
use crate::order;
use crate::publish;
use crate::stats::{Counters, Stats};
use crate::subscribe::{self, Subscriptions};

/// A node's handle on Redis: room messages to and from the other nodes
/// ([`broker`](Self::broker), [`rooms`](Self::rooms)) and the session
/// directory ([`directory`](Self::directory)).
///
/// Cloneable; every clone shares two connections: one multiplexed,
/// reconnecting connection for commands (publishing, the directory) and
/// one for the pub/sub subscription, which a task of its own keeps
/// subscribed, reconnecting and resubscribing after Redis was lost. The
/// tasks stop when the last clone (and every broker and directory made
/// from it) is dropped.
///
/// ```no_run
/// # async fn run() -> Result<(), sockjs_redis::Error> {
/// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
/// let rooms = redis.rooms("/chat"); // same name on every node
/// rooms.send_all("hello, every node");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Redis {
    state: Arc<NodeState>,
}

/// Redis could not be reached, or its URL is wrong.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // Not a Redis URL: refused before any connection is tried.
/// let error = sockjs_redis::Redis::connect("http://127.0.0.1:6379/").await.unwrap_err();
/// assert!(error.to_string().starts_with("redis: "));
/// # }
/// ```
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis: {}", self.0)
    }
}

impl std::error::Error for Error {}

impl Redis {
    /// Connects to the Redis at `url` (`redis://host:port/db`,
    /// `redis://:password@host:port/db` or `redis://user:password@...`
    /// with a password, `rediss://...` over TLS) with the default
    /// [`Options`]. Fails when Redis cannot be reached now or refuses the
    /// password (one `PING` is sent); once connected, an outage is ridden
    /// out (see the crate docs).
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() {
    /// let redis = match sockjs_redis::Redis::connect("redis://127.0.0.1:6379/0").await {
    ///     Ok(redis) => redis,
    ///     Err(error) => {
    ///         eprintln!("{error}");
    ///         std::process::exit(1);
    ///     }
    /// };
    /// println!("node {} connected", redis.node_id());
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Redis, Error> {
        Redis::connect_with(url, Options::default()).await
    }

    /// Connects to the Redis at `url` with `options`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sockjs_redis::{Options, Redis};
    ///
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// // Two applications on one Redis, each under its own prefix.
    /// let options = Options::default().key_prefix("billing").timeout(Duration::from_millis(200));
    /// let redis = Redis::connect_with("redis://10.0.0.9:6379/", options).await?;
    /// # let _ = redis;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(url: &str, options: Options) -> Result<Redis, Error> {
        let client = match &options.tls_ca_pem {
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| Error(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let conn = tokio::time::timeout(
            options.timeout * 4,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| Error(format!("no answer from {url}")))?
        .map_err(|e| Error(e.to_string()))?;
        // One command now: a missing or wrong password (a connection is
        // made before any command) fails here, not at every later command.
        let mut ping = conn.clone();
        tokio::time::timeout(
            options.timeout * 4,
            redis::cmd("PING").query_async::<String>(&mut ping),
        )
        .await
        .map_err(|_| Error(format!("no answer from {url}")))?
        .map_err(|e| Error(e.to_string()))?;
        let node = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        let counters = Arc::new(Counters::default());
        let (publish, queue) = mpsc::channel(options.queue_capacity);
        let (subscribe, commands) = mpsc::unbounded_channel();
        let subscriptions = Arc::new(Subscriptions::default());
        let (ordered, incoming) = mpsc::unbounded_channel();
        // The ordering task holds the subscriptions weakly: they go with
        // the handle.
        let inboxes = Arc::downgrade(&subscriptions);
        let tasks = vec![
            tokio::spawn(publish::run(
                queue,
                conn.clone(),
                node.clone(),
                options.key_prefix.clone(),
                counters.clone(),
                options.timeout,
            )),
            tokio::spawn(order::run(
                incoming,
                conn.clone(),
                options.key_prefix.clone(),
                counters.clone(),
                options.timeout,
                move |channel: &str, room: &str, position, message: &str| {
                    if let Some(subscriptions) = inboxes.upgrade() {
                        subscriptions.deliver_at(channel, room, position, message);
                    }
                },
            )),
            tokio::spawn(subscribe::run(
                client,
                subscriptions.clone(),
                commands,
                ordered,
                node.clone(),
                counters.clone(),
                options.timeout,
            )),
        ];
        tracing::debug!(node = %node, url, "connected to Redis");
        Ok(Redis {
            state: Arc::new(NodeState {
                options,
                id: node,
                conn,
                publish,
                subscriptions,
                subscribe,
                counters,
                tasks,
            }),
        })
    }

    /// A [`rooms::Broker`](sockjs::rooms::Broker) on the pub/sub channel
    /// `<prefix>:rooms:<name>`: give it to
    /// [`Rooms::with_broker`](sockjs::Rooms::with_broker). Every node uses
    /// the same name for the same rooms (a service's path, say); one
    /// `Rooms` per name per handle, since a handle never delivers its own
    /// messages back to itself.
    ///
    /// ```no_run
    /// use sockjs::{Rooms, SockJsRouter};
    ///
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let broker = redis.broker("/chat");
    /// assert_eq!(broker.channel(), "sockjs:rooms:/chat");
    /// let chat = SockJsRouter::new(|_session: sockjs::Session| async {}).rooms(Rooms::with_broker(broker));
    /// # let _ = chat;
    /// # Ok(())
    /// # }
    /// ```
    pub fn broker(&self, name: &str) -> Broker {
        Broker::new(
            self.state.clone(),
            format!("{}:rooms:{name}", self.state.options.key_prefix),
        )
    }

    /// `Rooms::with_broker(self.broker(name))`: rooms that span the nodes.
    ///
    /// ```no_run
    /// use sockjs::SockJsRouter;
    ///
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// // One Rooms shared by two services: the same name on every node.
    /// let rooms = redis.rooms("app");
    /// let chat = SockJsRouter::new(|_session: sockjs::Session| async {}).rooms(rooms.clone());
    /// let feed = SockJsRouter::new(|_session: sockjs::Session| async {}).rooms(rooms.clone());
    /// # let _ = (chat, feed);
    /// // Reaches "news" members here and on every other node.
    /// rooms.send("news", "release 2.0 is out");
    /// # Ok(())
    /// # }
    /// ```
    pub fn rooms(&self, name: &str) -> Rooms {
        Rooms::with_broker(self.broker(name))
    }

    /// The session directory of the node answering at `node_url` (its base
    /// URL as the other nodes reach it, `http://10.0.0.2:8080`): give it to
    /// `SockJsRouter::directory` when nodes are not behind sticky routing.
    /// Services may share it. Call within the tokio runtime (it starts the
    /// task that renews the node's entries).
    ///
    /// ```no_run
    /// use sockjs::SockJsRouter;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // Each node is told its own URL, as the other nodes reach it.
    /// let me = std::env::var("NODE_URL")?; // "http://10.0.0.2:8080"
    /// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let directory = redis.directory(me);
    /// let chat = SockJsRouter::new(|_session: sockjs::Session| async {})
    ///     .directory(directory.clone())
    ///     .into_router();
    /// let feed = SockJsRouter::new(|_session: sockjs::Session| async {})
    ///     .directory(directory)
    ///     .into_router();
    /// let app: axum::Router = axum::Router::new().nest("/chat", chat).nest("/feed", feed);
    /// axum::serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn directory(&self, node_url: impl Into<String>) -> Directory {
        Directory::new(self.state.clone(), node_url.into())
    }

    /// This node's id on the wire (random, new on every start).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let a = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let b = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// assert_ne!(a.node_id(), b.node_id(), "two handles are two nodes");
    /// assert_eq!(a.clone().node_id(), a.node_id());
    /// # Ok(())
    /// # }
    /// ```
    pub fn node_id(&self) -> &str {
        &self.state.id
    }

    /// What the brokers did so far, and whether they are connected.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
    /// let rooms = redis.rooms("/chat");
    /// rooms.send_all("hello");
    /// // Published by a task, soon after.
    /// tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    /// assert_eq!(redis.stats().published, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        let state = &self.state;
        state.counters.stats(state.subscriptions.is_subscribed())
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("node", &self.state.id)
            .field("stats", &self.stats())
            .finish()
    }
}
