//! [`Broker`]: what carries room messages between nodes.

use std::sync::Weak;

use super::registry::Shared;

/// Where a room message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// The members of one room.
    Room(&'a str),
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
pub trait Broker: Send + Sync + 'static {
    /// Called once, when a `Rooms` starts using the broker: messages from
    /// other nodes are to be given to `inbox` from then on.
    fn start(&self, inbox: Inbox);

    /// Publishes a message this node sent to `target`, for the other nodes.
    fn publish(&self, target: Target<'_>, message: &str);
}

/// Where a [`Broker`] delivers the messages of other nodes: this node's
/// [`Rooms`](crate::Rooms).
#[derive(Clone)]
pub struct Inbox {
    pub(super) rooms: Weak<Shared>,
}

impl Inbox {
    /// Delivers a message another node published to this node's sessions
    /// (not published again). Returns how many sessions got it; 0 once the
    /// `Rooms` is gone.
    pub fn deliver(&self, target: Target<'_>, message: String) -> usize {
        match self.rooms.upgrade() {
            Some(rooms) => rooms.deliver(target, message),
            None => 0,
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
