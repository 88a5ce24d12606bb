//! [`Rooms`]: who is in which room, and delivery to them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;

use super::broker::{Broker, Deliver, Inbox, Target};
use super::history::{History, Log, Lost, Position};
use super::member::{Member, SharedText};
use crate::protocol::write_json_string;

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
pub(crate) struct Shared {
    rooms: DashMap<Arc<str>, Room>,
    everyone: DashMap<u64, Arc<dyn Member>>,
    broker: OnceLock<Box<dyn Broker>>,
    /// What each room keeps; unset: no history.
    history: OnceLock<History>,
    /// This process's history epoch: a resume from before a restart is
    /// told its history is lost.
    epoch: u64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            rooms: DashMap::new(),
            everyone: DashMap::new(),
            broker: OnceLock::new(),
            history: OnceLock::new(),
            epoch: uuid::Uuid::new_v4().as_u64_pair().0 >> 16,
        }
    }
}

/// One room: its members and, with history, what was sent to it.
struct Room {
    members: HashMap<u64, Arc<dyn Member>>,
    log: Log,
    /// Taken by every delivery to a room with history and by every resume:
    /// its members get its messages in position order, and a resuming
    /// session gets the replay before anything newer. Never taken with the
    /// map's lock held.
    turn: Arc<Mutex<()>>,
}

impl Room {
    fn new(epoch: u64) -> Self {
        Room {
            members: HashMap::new(),
            log: Log::new(epoch),
            turn: Arc::default(),
        }
    }
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
            .map_or(0, |room| room.members.len())
    }

    /// Keeps a history of every room (see [`History`]), so that a session
    /// that comes back can resume where it left off
    /// ([`Sender::join_since`](crate::Sender::join_since)). Each message
    /// sent to a room then reaches its members in an envelope that carries
    /// its [`Position`]:
    ///
    /// ```text
    /// {"room":"lobby","pos":"5f3a9c-17","data":"the message"}
    /// ```
    ///
    /// (`data` is the message as a JSON string.) The client keeps the last
    /// `pos` it saw and sends it back when it reconnects, for instance as
    /// its first message. Messages to [`Target::All`] have no history and
    /// no envelope. Set it once, before any session uses the rooms; a
    /// second call changes nothing. Default: no history.
    ///
    /// A room with history delivers its messages one send at a time, in
    /// position order, to all its members (a room without history lets
    /// concurrent sends overtake each other). History is this process's:
    /// after a restart the epoch changes and a resume is told its history
    /// is [`Lost`].
    ///
    /// ```
    /// use sockjs::rooms::History;
    /// use sockjs::{Rooms, Session, SockJsRouter};
    ///
    /// let rooms = Rooms::new().history(History::messages(1000));
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     session.sender().join("lobby");
    /// })
    /// .rooms(rooms.clone());
    /// rooms.send("lobby", "kept for whoever comes back");
    /// assert_eq!(rooms.position("lobby").offset(), 1);
    /// # let _ = service;
    /// ```
    #[must_use]
    pub fn history(self, history: History) -> Self {
        let _ = self.shared.history.set(history);
        self
    }

    /// The position of the last message sent to `room` (the start of the
    /// history when none was, or when history is off): what a client that
    /// starts from the current state resumes from.
    ///
    /// ```
    /// use sockjs::rooms::History;
    ///
    /// let rooms = sockjs::Rooms::new().history(History::messages(10));
    /// let before = rooms.position("news");
    /// rooms.send("news", "first");
    /// assert_eq!(rooms.position("news").offset(), before.offset() + 1);
    /// ```
    pub fn position(&self, room: &str) -> Position {
        self.shared
            .rooms
            .get(room)
            .map_or(Position::start(self.shared.epoch), |room| room.log.now())
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
        self.shared.room(room).members.insert(member.key(), member);
    }

    /// Puts the session in `room` and replays to it every kept message
    /// after `since`, before anything sent later; `Lost` (joined all the
    /// same) when that history is not kept, or there is none.
    pub(crate) fn join_since(
        &self,
        room: &str,
        member: Arc<dyn Member>,
        since: Position,
    ) -> Result<(), Lost> {
        let Some(limits) = self.shared.history.get() else {
            self.join(room, member);
            return Err(Lost {
                now: Position::start(self.shared.epoch),
            });
        };
        let turn = self.shared.turn(room);
        let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
        let replay = {
            let mut room = self.shared.room(room);
            room.log.trim(limits);
            room.members.insert(member.key(), member.clone());
            room.log.since(since)
        }?;
        // Under the room's turn, outside the map's lock: a member that
        // overflows is closed, and a closing session leaves its rooms.
        for text in &replay {
            member.push_shared(text);
        }
        Ok(())
    }

    /// Takes the session out of `room`; a room without members is
    /// forgotten once its history is empty too.
    pub(crate) fn leave(&self, room: &str, id: u64) {
        let history = self.shared.history.get().copied();
        self.shared.rooms.remove_if_mut(room, |_, room| {
            room.members.remove(&id);
            if let Some(limits) = &history {
                room.log.trim(limits);
            }
            room.members.is_empty() && room.log.is_empty()
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

impl Shared {
    /// `room`'s entry, made when missing (the map's lock is held while the
    /// reference lives).
    fn room(&self, room: &str) -> dashmap::mapref::one::RefMut<'_, Arc<str>, Room> {
        let epoch = self.epoch;
        self.rooms
            .entry(room.into())
            .or_insert_with(|| Room::new(epoch))
    }

    /// `room`'s turn (see `Room::turn`), taken after the map's lock is let
    /// go.
    fn turn(&self, room: &str) -> Arc<Mutex<()>> {
        self.room(room).turn.clone()
    }

    /// Delivers `message` to `room`'s members in position order, keeping
    /// it in the room's history, in the envelope that carries its position.
    fn deliver_kept(&self, limits: &History, room: &str, message: &str) -> usize {
        let turn = self.turn(room);
        let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
        let (members, text) = {
            let mut kept = self.room(room);
            let text = kept
                .log
                .append(limits, |position| envelope(room, position, message));
            let members: Vec<Arc<dyn Member>> = kept.members.values().cloned().collect();
            (members, text)
        };
        // Outside the map's lock (a member that overflows is closed, and
        // leaves its rooms), under the room's turn (order).
        members
            .iter()
            .filter(|member| member.push_shared(&text))
            .count()
    }
}

/// `{"room":<room>,"pos":"<position>","data":<message>}`: a room message
/// with its position (see [`Rooms::history`]).
fn envelope(room: &str, position: Position, message: &str) -> String {
    let mut out = String::with_capacity(message.len() + room.len() + 48);
    out.push_str("{\"room\":");
    write_json_string(&mut out, room);
    out.push_str(",\"pos\":\"");
    out.push_str(&position.to_string());
    out.push_str("\",\"data\":");
    write_json_string(&mut out, message);
    out.push('}');
    out
}

impl Deliver for Shared {
    fn deliver(&self, target: Target<'_>, message: String) -> usize {
        if let (Target::Room(room), Some(limits)) = (target, self.history.get()) {
            return self.deliver_kept(limits, room, &message);
        }
        // Members are collected first: queueing may close a member (its
        // queue overflowed), and a closing session leaves its rooms, which
        // takes their locks.
        let members: Vec<Arc<dyn Member>> = match target {
            Target::Room(room) => match self.rooms.get(room) {
                Some(room) => room.members.values().cloned().collect(),
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
            .field("history", &self.shared.history.get())
            .finish()
    }
}
