//! Presence: which of the application's users are in a room, by the
//! application's own user keys ([`Sender::set_user`](crate::Sender::set_user)),
//! never by session ids; and [`SharedPresence`], the presence some brokers
//! keep for every node.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use tokio::sync::broadcast;

/// Who is in a room: the distinct user keys of its members, each once
/// however many sessions it has there ([`Rooms::presence`](crate::Rooms::presence)).
/// Sessions without a user key ([`Sender::set_user`](crate::Sender::set_user))
/// are members but not present. Session ids never appear.
///
/// ```
/// use sockjs::rooms::Presence;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let rooms = sockjs::Rooms::new();
/// let presence: Presence = rooms.presence("lobby").await;
/// assert_eq!(presence.count(), 0);
/// assert!(presence.users().is_empty());
/// assert!(presence.is_complete());
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    users: Vec<String>,
    complete: bool,
}

impl Presence {
    /// A snapshot of `users`; `complete` is false when it is only this
    /// node's (the shared presence could not be read).
    pub(crate) fn new(mut users: Vec<String>, complete: bool) -> Self {
        users.sort_unstable();
        users.dedup();
        Presence { users, complete }
    }

    /// How many distinct users are in the room.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rooms = sockjs::Rooms::new();
    /// println!("{} online", rooms.presence("lobby").await.count());
    /// # }
    /// ```
    pub fn count(&self) -> usize {
        self.users.len()
    }

    /// The user keys, sorted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rooms = sockjs::Rooms::new();
    /// for user in rooms.presence("lobby").await.users() {
    ///     println!("{user} is here");
    /// }
    /// # }
    /// ```
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// Whether `user` is in the room.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rooms = sockjs::Rooms::new();
    /// assert!(!rooms.presence("lobby").await.contains("alice"));
    /// # }
    /// ```
    pub fn contains(&self, user: &str) -> bool {
        self.users
            .binary_search_by(|u| u.as_str().cmp(user))
            .is_ok()
    }

    /// False when the broker's shared presence ([`Broker::presence`](crate::rooms::Broker::presence))
    /// could not be read in time: the snapshot is then only this node's
    /// users. Always true without one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let presence = sockjs::Rooms::new().presence("lobby").await;
    /// if !presence.is_complete() {
    ///     eprintln!("presence of this node only");
    /// }
    /// # }
    /// ```
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}

/// A change in who is in a room ([`Rooms::presence_events`](crate::Rooms::presence_events)).
///
/// ```
/// use sockjs::rooms::PresenceEvent;
///
/// fn line(event: &PresenceEvent) -> String {
///     match event {
///         PresenceEvent::Join(user) => format!("{user} joined"),
///         PresenceEvent::Leave(user) => format!("{user} left"),
///         PresenceEvent::Missed(n) => format!("{n} changes missed: read the presence again"),
///         _ => String::new(),
///     }
/// }
/// assert_eq!(line(&PresenceEvent::Join("alice".into())), "alice joined");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// The user's first session in the room joined it (on any node, with
    /// a shared presence).
    Join(String),
    /// The user's last session in the room left it or closed (or, with a
    /// shared presence, the node that held it stopped renewing it).
    Leave(String),
    /// This many events were not kept for this receiver (it read too
    /// slowly): read [`Rooms::presence`](crate::Rooms::presence) again.
    Missed(u64),
}

/// How many presence events of one room wait for a slow receiver before
/// the oldest are dropped (it gets [`PresenceEvent::Missed`]).
pub(crate) const EVENTS_KEPT: usize = 256;

/// The presence events of one room, from the moment they were asked for
/// ([`Rooms::presence_events`](crate::Rooms::presence_events)).
///
/// ```
/// use sockjs::rooms::PresenceEvent;
///
/// async fn announce(rooms: sockjs::Rooms) {
///     let mut events = rooms.presence_events("lobby");
///     while let Some(event) = events.recv().await {
///         if let PresenceEvent::Join(user) = event {
///             rooms.send("lobby", format!("{user} is here"));
///         }
///     }
/// }
/// # let _ = announce;
/// ```
pub struct PresenceEvents {
    events: broadcast::Receiver<PresenceEvent>,
}

impl PresenceEvents {
    pub(crate) fn new(events: broadcast::Receiver<PresenceEvent>) -> Self {
        PresenceEvents { events }
    }

    /// The next event; `None` once the `Rooms` is gone. A receiver that
    /// fell more than 256 events behind gets [`PresenceEvent::Missed`],
    /// then the newer ones.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let rooms = sockjs::Rooms::new();
    /// let mut events = rooms.presence_events("lobby");
    /// // Nobody came within 10 ms.
    /// assert!(tokio::time::timeout(Duration::from_millis(10), events.recv()).await.is_err());
    /// drop(rooms);
    /// assert_eq!(events.recv().await, None);
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<PresenceEvent> {
        match self.events.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(PresenceEvent::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl fmt::Debug for PresenceEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresenceEvents")
            .field("waiting", &self.events.len())
            .finish()
    }
}

/// What [`SharedPresence::users`] answers: the user keys present in a
/// room on every node, or `None` when they cannot be read in time.
pub type Users = Pin<Box<dyn Future<Output = Option<Vec<String>>> + Send>>;

/// Presence kept outside the process, by a [`Broker`](crate::rooms::Broker),
/// for every node: a room's users are the cluster's.
///
/// A `Rooms` whose broker has one ([`Broker::presence`](crate::rooms::Broker::presence))
/// tells it when a user's first session on this node joins a room
/// ([`join`](Self::join)) and when its last one here leaves
/// ([`leave`](Self::leave)); the shared presence decides when the user
/// joins or leaves the room cluster-wide, and has every node's
/// [`Inbox::presence`](crate::rooms::Inbox::presence) told (this node's
/// included), once per change. [`Rooms::presence`](crate::Rooms::presence)
/// reads [`users`](Self::users). A node that stops (or loses the store)
/// must not keep its users present for ever: its entries expire within a
/// bound the implementation documents.
///
/// An in-memory one for nodes in one process, to show the contract (the
/// `sockjs-redis` crate has one on Redis):
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::{Arc, Mutex};
/// use sockjs::rooms::{Broker, Inbox, PresenceEvent, SharedPresence, Target, Users};
///
/// /// Per room and user: how many nodes have it; and every node's inbox.
/// #[derive(Default)]
/// struct Memory {
///     nodes: Mutex<BTreeMap<(String, String), usize>>,
///     inboxes: Mutex<Vec<Inbox>>,
/// }
///
/// impl Memory {
///     fn tell(&self, room: &str, event: PresenceEvent) {
///         for inbox in self.inboxes.lock().unwrap().iter() {
///             inbox.presence(room, event.clone());
///         }
///     }
/// }
///
/// impl SharedPresence for Memory {
///     fn join(&self, room: &str, user: &str) {
///         let first = {
///             let mut nodes = self.nodes.lock().unwrap();
///             let n = nodes.entry((room.to_owned(), user.to_owned())).or_default();
///             *n += 1;
///             *n == 1
///         };
///         if first {
///             self.tell(room, PresenceEvent::Join(user.to_owned()));
///         }
///     }
///
///     fn leave(&self, room: &str, user: &str) {
///         let last = {
///             let mut nodes = self.nodes.lock().unwrap();
///             let key = (room.to_owned(), user.to_owned());
///             let n = nodes.get_mut(&key).map(|n| { *n -= 1; *n });
///             if n == Some(0) { nodes.remove(&key); }
///             n == Some(0)
///         };
///         if last {
///             self.tell(room, PresenceEvent::Leave(user.to_owned()));
///         }
///     }
///
///     fn users(&self, room: &str) -> Users {
///         let nodes = self.nodes.lock().unwrap();
///         let users = nodes.keys().filter(|(r, _)| r == room).map(|(_, u)| u.clone()).collect();
///         Box::pin(async move { Some(users) })
///     }
/// }
///
/// struct Node(Arc<Memory>);
///
/// impl Broker for Node {
///     fn start(&self, inbox: Inbox) {
///         self.0.inboxes.lock().unwrap().push(inbox);
///     }
///     fn publish(&self, _target: Target<'_>, _message: &str) {}
///     fn presence(&self) -> Option<Arc<dyn SharedPresence>> {
///         Some(self.0.clone())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let memory = Arc::new(Memory::default());
/// let node_a = sockjs::Rooms::with_broker(Node(memory.clone()));
/// let node_b = sockjs::Rooms::with_broker(Node(memory.clone()));
/// let mut events = node_a.presence_events("lobby");
/// // What node b's `Rooms` does when alice's first session there joins:
/// memory.join("lobby", "alice");
/// assert_eq!(events.recv().await, Some(PresenceEvent::Join("alice".into())));
/// assert_eq!(node_a.presence("lobby").await.users(), ["alice"]);
/// # drop(node_b);
/// # }
/// ```
pub trait SharedPresence: Send + Sync + 'static {
    /// The first session of `user` on this node joined `room`. Never
    /// waits (queue it).
    ///
    /// See [`SharedPresence`] for a whole implementation.
    ///
    /// ```
    /// use sockjs::rooms::{SharedPresence, Users};
    ///
    /// /// Presence that only logs.
    /// struct Log;
    ///
    /// impl SharedPresence for Log {
    ///     fn join(&self, room: &str, user: &str) {
    ///         println!("{user} is in {room} here");
    ///     }
    ///     fn leave(&self, room: &str, user: &str) {
    ///         println!("{user} is no longer in {room} here");
    ///     }
    ///     fn users(&self, _room: &str) -> Users {
    ///         Box::pin(async { None })
    ///     }
    /// }
    /// Log.join("lobby", "alice");
    /// ```
    fn join(&self, room: &str, user: &str);

    /// The last session of `user` on this node left `room` (or closed).
    /// Never waits (queue it).
    ///
    /// See [`SharedPresence`] for a whole implementation.
    ///
    /// ```
    /// use sockjs::rooms::{SharedPresence, Users};
    ///
    /// /// Presence that knows nothing.
    /// struct Nothing;
    ///
    /// impl SharedPresence for Nothing {
    ///     fn join(&self, _room: &str, _user: &str) {}
    ///     fn leave(&self, _room: &str, _user: &str) {}
    ///     fn users(&self, _room: &str) -> Users {
    ///         Box::pin(async { Some(Vec::new()) })
    ///     }
    /// }
    /// Nothing.leave("lobby", "alice");
    /// ```
    fn leave(&self, room: &str, user: &str);

    /// The users in `room` on every node, each once; `None` when they
    /// cannot be read in time. Must not wait unbounded.
    ///
    /// See [`SharedPresence`] for a whole implementation.
    ///
    /// ```
    /// use sockjs::rooms::Users;
    ///
    /// /// Presence read from a store that did not answer.
    /// fn unreadable() -> Users {
    ///     Box::pin(async { None })
    /// }
    /// # let _ = unreadable;
    /// ```
    fn users(&self, room: &str) -> Users;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_sorted_and_each_user_once() {
        let p = Presence::new(vec!["bob".into(), "alice".into(), "bob".into()], true);
        assert_eq!(p.count(), 2);
        assert_eq!(p.users(), ["alice", "bob"]);
        assert!(p.contains("bob") && !p.contains("carol"));
        assert!(p.is_complete());
    }

    #[tokio::test]
    async fn a_slow_receiver_is_told_what_it_missed() {
        let (tx, rx) = broadcast::channel(2);
        let mut events = PresenceEvents::new(rx);
        for user in ["a", "b", "c"] {
            tx.send(PresenceEvent::Join(user.into())).unwrap();
        }
        assert_eq!(events.recv().await, Some(PresenceEvent::Missed(1)));
        assert_eq!(events.recv().await, Some(PresenceEvent::Join("b".into())));
        assert_eq!(events.recv().await, Some(PresenceEvent::Join("c".into())));
        drop(tx);
        assert_eq!(events.recv().await, None);
        assert!(format!("{events:?}").starts_with("PresenceEvents"));
    }
}
