//! [`Broker`]: what carries room messages between nodes, and
//! [`SharedHistory`]: the room history some brokers keep for all of them
//! ([`SharedPresence`]: their presence, is in `presence`).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use super::history::{History, Lost, Position};
use super::presence::{PresenceEvent, SharedPresence};

/// Where a room message goes.
///
/// ```
/// use sockjs::rooms::Target;
///
/// // A broker on a pub/sub service: one channel per room, one per user,
/// // one for all.
/// fn channel(target: Target<'_>) -> String {
///     match target {
///         Target::Room(room) => format!("sockjs:room:{room}"),
///         Target::User(user) => format!("sockjs:user:{user}"),
///         Target::All => "sockjs:all".to_owned(),
///     }
/// }
/// assert_eq!(channel(Target::Room("lobby")), "sockjs:room:lobby");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// The members of one room.
    Room(&'a str),
    /// Every session of one user key
    /// ([`Sender::set_user`](crate::Sender::set_user)), in any room or none.
    User(&'a str),
    /// Every session.
    All,
}

/// Carries room messages between the nodes of a cluster, each running its
/// own [`Rooms`](crate::Rooms) with the same broker.
///
/// A message sent on one node is delivered to that node's sessions at once
/// by its `Rooms`, which then hands it to [`publish`](Self::publish); the
/// broker carries it to every *other* node, whose broker gives it to its
/// [`Inbox`]. Implementations must:
///
/// - never wait in `publish` (queue the message; `Rooms::send` is sync and
///   must not be slowed by the network);
/// - deliver each message to each other node once, in the order this node
///   published, and never back to this node;
/// - keep going when the network fails: local delivery does not depend on
///   the broker, so a node that loses it keeps serving its own sessions.
///
/// A broker over an in-memory bus, standing in for Redis pub/sub or NATS:
/// two nodes in one process, where a message sent to a room on one node
/// reaches that room's members on the other.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use axum::Router;
/// use sockjs::rooms::{Broker, Inbox, Target};
/// use sockjs::{Rooms, Session, SockJsRouter};
/// use sockjs_client::Client;
///
/// /// The nodes' inboxes, by node number.
/// type Bus = Arc<Mutex<Vec<Option<Inbox>>>>;
///
/// struct BusBroker {
///     bus: Bus,
///     node: usize,
/// }
///
/// impl Broker for BusBroker {
///     fn start(&self, inbox: Inbox) {
///         let mut bus = self.bus.lock().unwrap();
///         if bus.len() <= self.node {
///             bus.resize(self.node + 1, None);
///         }
///         bus[self.node] = Some(inbox);
///     }
///
///     fn publish(&self, target: Target<'_>, message: &str) {
///         let bus = self.bus.lock().unwrap();
///         let others = bus.iter().enumerate().filter(|(node, _)| *node != self.node);
///         for inbox in others.filter_map(|(_, inbox)| inbox.as_ref()) {
///             inbox.deliver(target, message.to_owned());
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// let bus = Bus::default();
/// let node_a = Rooms::with_broker(BusBroker { bus: bus.clone(), node: 0 });
/// let node_b = Rooms::with_broker(BusBroker { bus: bus.clone(), node: 1 });
///
/// // A session on node b joins "lobby".
/// let service = SockJsRouter::new(|session: Session| async move {
///     let (tx, mut rx) = session.split();
///     tx.join("lobby");
///     while rx.recv().await.is_some() {}
/// })
/// .rooms(node_b);
/// let app: Router = Router::new().nest("/chat", service.into_router());
/// let mut connection = Client::in_process(app).open("/chat").await?;
///
/// // Sent on node a: no member there, delivered on node b through the broker.
/// assert_eq!(node_a.send("lobby", "hello from a"), 0);
/// assert_eq!(connection.recv().await?, "hello from a");
/// # Ok(())
/// # }
/// ```
pub trait Broker: Send + Sync + 'static {
    /// Called once, when a `Rooms` starts using the broker: messages from
    /// other nodes are to be given to `inbox` from then on.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use sockjs::rooms::{Broker, Inbox, Target};
    /// use tokio::sync::mpsc;
    ///
    /// /// Messages from the other nodes arrive on a channel (fed by the
    /// /// network client of the broker); a task hands them to the inbox.
    /// struct ChannelBroker {
    ///     incoming: Mutex<Option<mpsc::UnboundedReceiver<(Option<String>, String)>>>,
    ///     outgoing: mpsc::UnboundedSender<(Option<String>, String)>,
    /// }
    ///
    /// impl Broker for ChannelBroker {
    ///     fn start(&self, inbox: Inbox) {
    ///         let Some(mut incoming) = self.incoming.lock().unwrap().take() else {
    ///             return; // started once only
    ///         };
    ///         tokio::spawn(async move {
    ///             while let Some((room, message)) = incoming.recv().await {
    ///                 let target = room.as_deref().map_or(Target::All, Target::Room);
    ///                 inbox.deliver(target, message);
    ///             }
    ///         });
    ///     }
    ///
    ///     fn publish(&self, target: Target<'_>, message: &str) {
    ///         let room = match target {
    ///             Target::Room(room) => Some(room.to_owned()),
    ///             Target::All => None,
    ///             Target::User(_) => return, // not carried by this one
    ///         };
    ///         let _ = self.outgoing.send((room, message.to_owned()));
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (to_network, mut network) = mpsc::unbounded_channel();
    /// let (_from_network, incoming) = mpsc::unbounded_channel();
    /// let rooms = sockjs::Rooms::with_broker(ChannelBroker {
    ///     incoming: Mutex::new(Some(incoming)),
    ///     outgoing: to_network,
    /// });
    /// rooms.send("lobby", "hi");
    /// assert_eq!(network.recv().await, Some((Some("lobby".to_owned()), "hi".to_owned())));
    /// # }
    /// ```
    fn start(&self, inbox: Inbox);

    /// Publishes a message this node sent to `target`, for the other nodes.
    ///
    /// ```
    /// use sockjs::rooms::{Broker, Inbox, Target};
    /// use tokio::sync::mpsc;
    ///
    /// /// Publishes into a queue that a network task drains: never waits.
    /// struct Publisher(mpsc::UnboundedSender<String>);
    ///
    /// impl Broker for Publisher {
    ///     fn start(&self, _inbox: Inbox) {}
    ///
    ///     fn publish(&self, target: Target<'_>, message: &str) {
    ///         let channel = match target {
    ///             Target::Room(room) => room,
    ///             Target::User(user) => user,
    ///             Target::All => "*",
    ///         };
    ///         let _ = self.0.send(format!("{channel} {message}"));
    ///     }
    /// }
    ///
    /// let (queue, mut outgoing) = mpsc::unbounded_channel();
    /// let rooms = sockjs::Rooms::with_broker(Publisher(queue));
    /// rooms.send_all("maintenance at noon");
    /// assert_eq!(outgoing.try_recv().unwrap(), "* maintenance at noon");
    /// ```
    fn publish(&self, target: Target<'_>, message: &str);

    /// The room history this broker keeps for every node, if it keeps one
    /// (default: none). When it does and the [`Rooms`](crate::Rooms) keeps
    /// history ([`Rooms::history`](crate::Rooms::history)), room messages
    /// get their [`Position`] from the broker, once for the whole cluster,
    /// and [`Sender::join_since`](crate::Sender::join_since) resumes from
    /// a position given on any node. Without it, each node keeps its own
    /// history.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sockjs::rooms::{Broker, Inbox, SharedHistory, Target};
    ///
    /// /// A broker that carries messages but keeps no history: the default.
    /// struct Plain;
    ///
    /// impl Broker for Plain {
    ///     fn start(&self, _inbox: Inbox) {}
    ///     fn publish(&self, _target: Target<'_>, _message: &str) {}
    /// }
    ///
    /// assert!(Plain.history().is_none());
    /// ```
    fn history(&self) -> Option<Arc<dyn SharedHistory>> {
        None
    }

    /// The presence this broker keeps for every node, if it keeps one
    /// (default: none). When it does, [`Rooms::presence`](crate::Rooms::presence)
    /// and [`Rooms::presence_events`](crate::Rooms::presence_events) are
    /// the cluster's: a user is in a room while it has a session there on
    /// any node. Without it, presence is this node's. See
    /// [`SharedPresence`] for a whole implementation.
    ///
    /// ```
    /// use sockjs::rooms::{Broker, Inbox, Target};
    ///
    /// /// A broker without presence of its own: the default.
    /// struct Plain;
    ///
    /// impl Broker for Plain {
    ///     fn start(&self, _inbox: Inbox) {}
    ///     fn publish(&self, _target: Target<'_>, _message: &str) {}
    /// }
    ///
    /// assert!(Plain.presence().is_none());
    /// ```
    fn presence(&self) -> Option<Arc<dyn SharedPresence>> {
        None
    }
}

/// What [`SharedHistory::since`] answers: the kept messages after a
/// position, each with its own, oldest first; or [`Lost`].
pub type Replay = Pin<Box<dyn Future<Output = Result<Vec<(Position, String)>, Lost>> + Send>>;

/// A room history kept outside the process, by a [`Broker`], for every
/// node: positions are given once for the cluster, so a session resumes on
/// any node from a position it got on another.
///
/// A `Rooms` with history whose broker has one
/// ([`Broker::history`]) hands each room message to
/// [`append`](Self::append) instead of delivering it at once; the
/// history gives it the room's next position and has the broker bring it,
/// with that position, to every node's [`Inbox::deliver_at`] (this node's
/// included), in position order per room, once. A resume reads what it
/// missed with [`since`](Self::since).
///
/// An in-memory one for a single process, to show the contract (the
/// `sockjs-redis` crate has one on Redis Streams):
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sockjs::rooms::{Broker, History, Inbox, Lost, Position, Replay, SharedHistory, Target};
/// use sockjs::Rooms;
///
/// #[derive(Default)]
/// struct Memory {
///     inbox: Mutex<Option<Inbox>>,
///     /// Every message of one room (a real one keeps each room's, within its `History`).
///     kept: Mutex<Vec<String>>,
/// }
///
/// impl SharedHistory for Memory {
///     fn append(&self, room: &str, message: &str, _limits: &History) {
///         let offset = {
///             let mut kept = self.kept.lock().unwrap();
///             kept.push(message.to_owned());
///             kept.len() as u64
///         };
///         if let Some(inbox) = self.inbox.lock().unwrap().as_ref() {
///             inbox.deliver_at(room, Position::new(1, offset), message);
///         }
///     }
///
///     fn since(&self, _room: &str, since: Position, _limits: &History) -> Replay {
///         let kept = self.kept.lock().unwrap().clone();
///         let now = Position::new(1, kept.len() as u64);
///         Box::pin(async move {
///             if since.epoch() != 1 || since.offset() > now.offset() {
///                 return Err(Lost { now });
///             }
///             Ok(kept
///                 .into_iter()
///                 .enumerate()
///                 .map(|(i, m)| (Position::new(1, i as u64 + 1), m))
///                 .skip(since.offset() as usize)
///                 .collect())
///         })
///     }
/// }
///
/// struct MemoryBroker(Arc<Memory>);
///
/// impl Broker for MemoryBroker {
///     fn start(&self, inbox: Inbox) {
///         *self.0.inbox.lock().unwrap() = Some(inbox);
///     }
///     fn publish(&self, _target: Target<'_>, _message: &str) {}
///     fn history(&self) -> Option<Arc<dyn SharedHistory>> {
///         Some(self.0.clone())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let memory = Arc::new(Memory::default());
/// let rooms = Rooms::with_broker(MemoryBroker(memory.clone())).history(History::messages(100));
/// rooms.send("news", "one");
/// rooms.send("news", "two");
/// let replay = memory.since("news", "1-1".parse().unwrap(), &History::messages(100)).await;
/// assert_eq!(replay, Ok(vec![(Position::new(1, 2), "two".to_owned())]));
/// # }
/// ```
pub trait SharedHistory: Send + Sync + 'static {
    /// Gives `message` the next position of `room`, keeps it within
    /// `limits`, and has it delivered to every node's inbox
    /// ([`Inbox::deliver_at`]), this node's too. Never waits (queue it).
    ///
    /// See [`SharedHistory`] for a whole implementation.
    ///
    /// ```
    /// use sockjs::rooms::{History, Inbox, Position};
    ///
    /// /// What the receiving side does once the history answered with a position.
    /// fn positioned(inbox: &Inbox, room: &str, epoch: u64, offset: u64, message: &str) {
    ///     inbox.deliver_at(room, Position::new(epoch, offset), message);
    /// }
    /// # let _ = positioned;
    /// ```
    fn append(&self, room: &str, message: &str, limits: &History);

    /// The messages of `room` after `since` that are kept, with their
    /// positions, oldest first; [`Lost`] (with the room's latest position)
    /// when `since` is of another epoch, not reached yet, or older than
    /// what is kept, and when the history cannot be read in time. Must
    /// not wait unbounded.
    ///
    /// See [`SharedHistory`] for a whole implementation.
    ///
    /// ```
    /// use sockjs::rooms::{Lost, Position, Replay};
    ///
    /// /// A history that has lost everything.
    /// fn nothing_kept(now: Position) -> Replay {
    ///     Box::pin(async move { Err(Lost { now }) })
    /// }
    /// # let _ = nothing_kept;
    /// ```
    fn since(&self, room: &str, since: Position, limits: &History) -> Replay;
}

/// Where a [`Broker`] delivers the messages of other nodes: this node's
/// [`Rooms`](crate::Rooms).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sockjs::rooms::{Broker, Inbox, Target};
/// use sockjs::Rooms;
///
/// /// Keeps the inbox where the broker's receiving side finds it.
/// struct Receiving(Arc<Mutex<Option<Inbox>>>);
///
/// impl Broker for Receiving {
///     fn start(&self, inbox: Inbox) {
///         *self.0.lock().unwrap() = Some(inbox);
///     }
///     fn publish(&self, _target: Target<'_>, _message: &str) {}
/// }
///
/// let slot = Arc::new(Mutex::new(None));
/// let rooms = Rooms::with_broker(Receiving(slot.clone()));
/// let inbox = slot.lock().unwrap().clone().expect("started");
/// // A message from another node, for this node's sessions (none yet).
/// assert_eq!(inbox.deliver(Target::All, "hello".to_owned()), 0);
/// ```
#[derive(Clone)]
pub struct Inbox {
    rooms: Weak<dyn Deliver>,
}

/// What an [`Inbox`] delivers into: the sessions of one `Rooms`.
pub(super) trait Deliver: Send + Sync {
    /// Queues `message` for every member of `target` on this node; returns
    /// how many took it.
    fn deliver(&self, target: Target<'_>, message: String) -> usize;

    /// Queues `message`, which has `position` in `room`'s shared history,
    /// for the room's members on this node; returns how many took it.
    fn deliver_at(&self, room: &str, position: Position, message: &str) -> usize;

    /// Tells this node's receivers of `room`'s presence events.
    fn presence(&self, room: &str, event: PresenceEvent);
}

impl Inbox {
    /// The inbox of the rooms behind `rooms`.
    pub(super) fn new(rooms: Weak<dyn Deliver>) -> Self {
        Inbox { rooms }
    }

    /// Delivers a message another node published to this node's sessions
    /// (not published again). Returns how many sessions got it; 0 once the
    /// `Rooms` is gone.
    ///
    /// ```
    /// use sockjs::rooms::{Inbox, Target};
    ///
    /// /// What a broker's receiving task does with each message of the network.
    /// fn on_network_message(inbox: &Inbox, room: Option<&str>, message: String) {
    ///     let target = room.map_or(Target::All, Target::Room);
    ///     let delivered = inbox.deliver(target, message);
    ///     println!("delivered to {delivered} sessions here");
    /// }
    /// # let _ = on_network_message;
    /// ```
    pub fn deliver(&self, target: Target<'_>, message: String) -> usize {
        match self.rooms.upgrade() {
            Some(rooms) => rooms.deliver(target, message),
            None => 0,
        }
    }
}

impl Inbox {
    /// Delivers a message of `room` that has `position` in the room's
    /// [`SharedHistory`] to this node's members, in the envelope that
    /// carries its position (see [`Rooms::history`](crate::Rooms::history)),
    /// and to the sessions resuming there. A history calls it in position
    /// order per room, once per message. Returns how many sessions got it
    /// now (resuming ones get it with their replay); 0 once the `Rooms` is
    /// gone.
    ///
    /// ```
    /// use sockjs::rooms::{Inbox, Position};
    ///
    /// /// A history's receiving side, once a message is next in its room.
    /// fn in_order(inbox: &Inbox, room: &str, position: Position, message: &str) {
    ///     let delivered = inbox.deliver_at(room, position, message);
    ///     println!("{room} {position}: {delivered} sessions here");
    /// }
    /// # let _ = in_order;
    /// ```
    pub fn deliver_at(&self, room: &str, position: Position, message: &str) -> usize {
        match self.rooms.upgrade() {
            Some(rooms) => rooms.deliver_at(room, position, message),
            None => 0,
        }
    }
}

impl Inbox {
    /// Tells this node's receivers of `room`'s presence events
    /// ([`Rooms::presence_events`](crate::Rooms::presence_events)) of a
    /// change its [`SharedPresence`] decided, on any node (this one's
    /// included). Does nothing once the `Rooms` is gone.
    ///
    /// ```
    /// use sockjs::rooms::{Inbox, PresenceEvent};
    ///
    /// /// A shared presence's receiving side, for `j <room> <user>` and
    /// /// `l <room> <user>` notices of its store.
    /// fn on_notice(inbox: &Inbox, kind: &str, room: &str, user: &str) {
    ///     let event = match kind {
    ///         "j" => PresenceEvent::Join(user.to_owned()),
    ///         _ => PresenceEvent::Leave(user.to_owned()),
    ///     };
    ///     inbox.presence(room, event);
    /// }
    /// # let _ = on_notice;
    /// ```
    pub fn presence(&self, room: &str, event: PresenceEvent) {
        if let Some(rooms) = self.rooms.upgrade() {
            rooms.presence(room, event);
        }
    }
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("open", &(self.rooms.strong_count() > 0))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rooms::Rooms;
    use std::sync::{Arc, Mutex};

    /// A broker that hands its inbox to the test.
    struct Keep(Arc<Mutex<Option<Inbox>>>);

    impl Broker for Keep {
        fn start(&self, inbox: Inbox) {
            *self.0.lock().unwrap() = Some(inbox);
        }
        fn publish(&self, _target: Target<'_>, _message: &str) {}
    }

    #[test]
    fn an_inbox_says_whether_its_rooms_are_still_there() {
        let slot = Arc::new(Mutex::new(None));
        let rooms = Rooms::with_broker(Keep(slot.clone()));
        let inbox = slot.lock().unwrap().clone().unwrap();
        assert_eq!(
            format!("{rooms:?}"),
            "Rooms { rooms: 0, sessions: 0, broker: true, history: None }"
        );
        assert_eq!(format!("{inbox:?}"), "Inbox { open: true }");
        assert_eq!(inbox.deliver(Target::All, "x".into()), 0);
        drop(rooms);
        assert_eq!(format!("{inbox:?}"), "Inbox { open: false }");
        assert_eq!(inbox.deliver(Target::All, "x".into()), 0);
    }
}
