//! [`Rooms`]: who is in which room, and delivery to them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;

use super::broker::{Broker, Deliver, Inbox, Target};
use super::member::{Member, SharedText};

/// Named groups of sessions, and messages to a group or to every session.
///
/// Cloneable; every [`SockJsRouter`](crate::SockJsRouter) has one
/// ([`rooms_handle`](crate::SockJsRouter::rooms_handle)), which several
/// services may share ([`SockJsRouter::rooms`](crate::SockJsRouter::rooms)).
/// Sessions join and leave with [`Sender::join`](crate::Sender::join) and
/// [`Sender::leave`](crate::Sender::leave), and leave every room when they
/// close. Every open session of the services is in [`Target::All`].
///
/// Sending never waits: a message is encoded once and queued for each
/// member. A member whose outgoing queue is full still gets it, up to twice
/// its [`queue_capacity`](crate::Config::queue_capacity); past that it
/// cannot keep up and is closed with `c[1013,"Outgoing queue full"]`. No
/// member is skipped, and none holds up the others.
///
/// ```
/// use axum::Router;
/// use sockjs::{Session, SockJsRouter};
/// use sockjs_client::Client;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// let service = SockJsRouter::new(|session: Session| async move {
///     let (tx, mut rx) = session.split();
///     tx.join("lobby");
///     while rx.recv().await.is_some() {}
/// });
/// let rooms = service.rooms_handle();
/// let app: Router = Router::new().nest("/chat", service.into_router());
///
/// let client = Client::in_process(app);
/// let mut alice = client.open("/chat").await?;
/// let mut bob = client.open("/chat").await?;
/// assert_eq!(rooms.members("lobby"), 2);
/// assert_eq!(rooms.send("lobby", "hi all"), 2);
/// assert_eq!(alice.recv().await?, "hi all");
/// assert_eq!(bob.recv().await?, "hi all");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Rooms {
    shared: Arc<Shared>,
}

/// The state every clone of a `Rooms` (and its broker's inbox) shares.
#[derive(Default)]
pub(crate) struct Shared {
    rooms: DashMap<Arc<str>, HashMap<u64, Arc<dyn Member>>>,
    everyone: DashMap<u64, Arc<dyn Member>>,
    broker: OnceLock<Box<dyn Broker>>,
}

impl Rooms {
    /// Rooms of this process only.
    ///
    /// ```
    /// use sockjs::{Rooms, Session, SockJsRouter};
    ///
    /// let rooms = Rooms::new();
    /// let service = SockJsRouter::new(|_session: Session| async {}).rooms(rooms.clone());
    /// assert_eq!(rooms.sessions(), 0);
    /// ```
    pub fn new() -> Self {
        Rooms::default()
    }

    /// Rooms that span the nodes sharing `broker`'s channel.
    ///
    /// See [`Broker`] for a whole example with two nodes.
    ///
    /// ```
    /// use sockjs::rooms::{Broker, Inbox, Target};
    /// use sockjs::{Rooms, Session, SockJsRouter};
    ///
    /// /// A broker that only logs (a real one talks to Redis, NATS, ...).
    /// struct LogBroker;
    ///
    /// impl Broker for LogBroker {
    ///     fn start(&self, _inbox: Inbox) {}
    ///     fn publish(&self, target: Target<'_>, message: &str) {
    ///         println!("to the other nodes: {target:?} {message}");
    ///     }
    /// }
    ///
    /// let rooms = Rooms::with_broker(LogBroker);
    /// let service = SockJsRouter::new(|_session: Session| async {}).rooms(rooms);
    /// ```
    pub fn with_broker(broker: impl Broker) -> Self {
        let rooms = Rooms::new();
        let shared: Arc<dyn Deliver> = rooms.shared.clone();
        broker.start(Inbox::new(Arc::downgrade(&shared)));
        let _ = rooms.shared.broker.set(Box::new(broker));
        rooms
    }

    /// Sends `message` to every member of `room`, here and, with a broker,
    /// on every other node. Returns how many sessions of this node got it.
    ///
    /// ```
    /// use sockjs::{Session, SockJsRouter};
    ///
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     session.sender().join("alerts");
    /// });
    /// let rooms = service.rooms_handle();
    /// // From a webhook handler, say: nobody has joined yet.
    /// assert_eq!(rooms.send("alerts", "disk almost full"), 0);
    /// ```
    pub fn send(&self, room: &str, message: impl Into<String>) -> usize {
        self.send_to(Target::Room(room), message.into())
    }

    /// Sends `message` to every open session, here and, with a broker, on
    /// every other node. Returns how many sessions of this node got it.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// // Sessions that joined no room get it too.
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let rooms = service.rooms_handle();
    /// let app: Router = Router::new().nest("/feed", service.into_router());
    /// let mut connection = Client::in_process(app).open("/feed").await?;
    ///
    /// assert_eq!(rooms.send_all("maintenance at noon"), 1);
    /// assert_eq!(connection.recv().await?, "maintenance at noon");
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_all(&self, message: impl Into<String>) -> usize {
        self.send_to(Target::All, message.into())
    }

    fn send_to(&self, target: Target<'_>, message: String) -> usize {
        if let Some(broker) = self.shared.broker.get() {
            broker.publish(target, &message);
        }
        self.shared.deliver(target, message)
    }

    /// How many sessions of this node are in `room`.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.split();
    ///     tx.join("game-7");
    ///     if tx.rooms().members("game-7") == 2 {
    ///         tx.rooms().send("game-7", "start");
    ///     }
    /// }
    /// # let _ = handler;
    /// ```
    pub fn members(&self, room: &str) -> usize {
        self.shared
            .rooms
            .get(room)
            .map_or(0, |members| members.len())
    }

    /// How many sessions of this node are open (in [`Target::All`]).
    ///
    /// ```
    /// use axum::{extract::State, routing::get, Router};
    /// use http_body_util::BodyExt;
    /// use sockjs::{Rooms, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let rooms = service.rooms_handle();
    /// let app: Router = Router::new()
    ///     .nest("/chat", service.into_router())
    ///     .route(
    ///         "/online",
    ///         get(|State(rooms): State<Rooms>| async move { rooms.sessions().to_string() }),
    ///     )
    ///     .with_state(rooms);
    ///
    /// let _connection = sockjs_client::Client::in_process(app.clone()).open("/chat").await?;
    /// let request = axum::http::Request::get("/online").body(axum::body::Body::empty()).unwrap();
    /// let online = app.oneshot(request).await.unwrap().into_body().collect().await.unwrap();
    /// assert_eq!(online.to_bytes(), "1");
    /// # Ok(())
    /// # }
    /// ```
    pub fn sessions(&self) -> usize {
        self.shared.everyone.len()
    }

    /// Enters a new session in [`Target::All`].
    pub(crate) fn enter(&self, member: Arc<dyn Member>) {
        self.shared.everyone.insert(member.key(), member);
    }

    /// Puts the session in `room`.
    pub(crate) fn join(&self, room: &str, member: Arc<dyn Member>) {
        let room: Arc<str> = room.into();
        self.shared
            .rooms
            .entry(room)
            .or_default()
            .insert(member.key(), member);
    }

    /// Takes the session out of `room`.
    pub(crate) fn leave(&self, room: &str, id: u64) {
        self.shared.rooms.remove_if_mut(room, |_, members| {
            members.remove(&id);
            members.is_empty()
        });
    }

    /// Takes a closed session out of every room it was in, and out of
    /// [`Target::All`].
    pub(crate) fn leave_all(&self, rooms: &[Arc<str>], id: u64) {
        for room in rooms {
            self.leave(room, id);
        }
        self.shared.everyone.remove(&id);
    }
}

impl Deliver for Shared {
    fn deliver(&self, target: Target<'_>, message: String) -> usize {
        // Members are collected first: queueing may close a member (its
        // queue overflowed), and a closing session leaves its rooms, which
        // takes their locks.
        let members: Vec<Arc<dyn Member>> = match target {
            Target::Room(room) => match self.rooms.get(room) {
                Some(members) => members.values().cloned().collect(),
                None => return 0,
            },
            Target::All => self.everyone.iter().map(|e| e.value().clone()).collect(),
        };
        let message = SharedText::new(message);
        members
            .iter()
            .filter(|member| member.push_shared(&message))
            .count()
    }
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("rooms", &self.shared.rooms.len())
            .field("sessions", &self.sessions())
            .field("broker", &self.shared.broker.get().is_some())
            .finish()
    }
}
