//! [`Broker`]: a `rooms::Broker` on one Redis pub/sub channel.

use std::fmt;
use std::sync::Arc;

use sockjs::rooms::{self, Inbox, SharedHistory, SharedPresence, Target};

use crate::history::StreamHistory;
use crate::node_state::NodeState;
use crate::presence::RedisPresence;
use crate::publish::{self, Outgoing};

/// Carries the room messages of one [`Rooms`](sockjs::Rooms) to the other
/// nodes over a Redis pub/sub channel ([`Redis::broker`](crate::Redis::broker)).
///
/// - `publish` never waits: the message joins the handle's bounded queue
///   ([`Options::queue_capacity`](crate::Options::queue_capacity)), which
///   one task drains in order; when it is full the message reaches only
///   this node's sessions and is counted in
///   [`Stats::dropped`](crate::Stats::dropped).
/// - Every other node subscribed to the channel delivers each message
///   once, in the order this node published; a node never gets its own
///   messages back.
/// - When Redis is lost, this node's sessions are still served (local
///   delivery does not go through Redis); messages queue while there is
///   room and are published when Redis is back, and the subscription is
///   renewed. Pub/sub keeps nothing: what other nodes published while this
///   one was not subscribed is lost (counted in
///   [`Stats::missed`](crate::Stats::missed)).
/// - It keeps room history for every node ([`rooms::Broker::history`]):
///   with [`Rooms::history`](sockjs::Rooms::history) set, room messages
///   get their positions in Redis Streams and reach every node's members,
///   this node's too, in position order, and a session resumes on any node
///   (see the [crate docs](crate#room-history-on-redis-streams)).
///
/// ```no_run
/// # async fn run() -> Result<(), sockjs_redis::Error> {
/// use sockjs::{Rooms, SockJsRouter};
///
/// let redis = sockjs_redis::Redis::connect("redis://127.0.0.1:6379/").await?;
/// let chat = SockJsRouter::new(|session: sockjs::Session| async move {
///     let (tx, mut rx) = session.split();
///     tx.join("lobby");
///     while let Some(line) = rx.recv().await {
///         tx.rooms().send("lobby", line); // members on every node
///     }
/// })
/// .rooms(Rooms::with_broker(redis.broker("/chat")));
/// # let _ = chat;
/// # Ok(())
/// # }
/// ```
pub struct Broker {
    node: Arc<NodeState>,
    channel: Arc<str>,
}

impl Broker {
    pub(crate) fn new(node: Arc<NodeState>, channel: String) -> Self {
        Broker {
            node,
            channel: channel.into(),
        }
    }

    /// The Redis channel this broker publishes and listens on.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sockjs_redis::Error> {
    /// use sockjs_redis::{Options, Redis};
    ///
    /// let redis = Redis::connect_with("redis://127.0.0.1:6379/", Options::default().key_prefix("shop")).await?;
    /// // `redis-cli subscribe shop:rooms:/chat` shows this service's room traffic.
    /// assert_eq!(redis.broker("/chat").channel(), "shop:rooms:/chat");
    /// # Ok(())
    /// # }
    /// ```
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl rooms::Broker for Broker {
    fn start(&self, inbox: Inbox) {
        let node = &self.node;
        if node.subscriptions.add(&self.channel, inbox) {
            let _ = node.subscribe.send(self.channel.to_string());
        }
    }

    fn publish(&self, target: Target<'_>, message: &str) {
        let node = &self.node;
        let outgoing = Outgoing {
            channel: self.channel.clone(),
            room: match target {
                Target::Room(room) => Some(room.into()),
                Target::All | Target::User(_) => None,
            },
            user: match target {
                Target::User(user) => Some(user.into()),
                Target::All | Target::Room(_) => None,
            },
            message: message.into(),
            kept: None,
        };
        publish::enqueue(&node.publish, &node.counters, outgoing);
    }

    fn history(&self) -> Option<Arc<dyn SharedHistory>> {
        Some(Arc::new(StreamHistory::new(
            self.node.clone(),
            self.channel.clone(),
        )))
    }

    fn presence(&self) -> Option<Arc<dyn SharedPresence>> {
        Some(Arc::new(RedisPresence::new(
            self.node.clone(),
            self.channel.clone(),
        )))
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("channel", &self.channel)
            .field("node", &self.node.id)
            .finish()
    }
}
