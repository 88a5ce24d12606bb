//! [`Rooms`]: who is in which room, and delivery to them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;

use tokio::sync::broadcast;

use super::broker::{Broker, Deliver, Inbox, SharedHistory, Target};
use super::history::{History, Log, Lost, Position};
use super::member::{Member, SharedText};
use super::presence::{Presence, PresenceEvent, PresenceEvents, SharedPresence, EVENTS_KEPT};
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
    /// The sessions of each user key ([`Target::User`]).
    users: DashMap<Arc<str>, HashMap<u64, Arc<dyn Member>>>,
    /// The receivers of each room's presence events, made when asked for.
    watchers: DashMap<Arc<str>, broadcast::Sender<PresenceEvent>>,
    broker: OnceLock<Box<dyn Broker>>,
    /// The broker's presence for every node, if it keeps one.
    shared_presence: OnceLock<Arc<dyn SharedPresence>>,
    /// The broker's history for every node, if it keeps one: used when
    /// `history` is set too.
    shared_history: OnceLock<Arc<dyn SharedHistory>>,
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
            users: DashMap::new(),
            watchers: DashMap::new(),
            broker: OnceLock::new(),
            shared_presence: OnceLock::new(),
            shared_history: OnceLock::new(),
            history: OnceLock::new(),
            epoch: uuid::Uuid::new_v4().as_u64_pair().0 >> 16,
        }
    }
}

/// One room: its members and, with history, what was sent to it.
struct Room {
    members: HashMap<u64, Arc<dyn Member>>,
    /// The user key of each member that has one (resuming ones included).
    present: HashMap<u64, Arc<str>>,
    /// How many of the sessions in `present` each user key has.
    users: HashMap<Arc<str>, usize>,
    /// With a shared history: the sessions reading what they missed, and
    /// the messages delivered to the room meanwhile, which they get after
    /// that replay.
    resuming: HashMap<u64, Resuming>,
    /// With a shared history: members that resumed, with the last
    /// position they got in their replay; a message up to it that reaches
    /// this node after the replay (it was read from the history before
    /// this node delivered it) is not theirs again.
    resumed: HashMap<u64, Position>,
    /// With a shared history: the position of the last message delivered
    /// here.
    last: Option<Position>,
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
            present: HashMap::new(),
            users: HashMap::new(),
            resuming: HashMap::new(),
            resumed: HashMap::new(),
            last: None,
            log: Log::new(epoch),
            turn: Arc::default(),
        }
    }

    /// Whether the room holds nothing worth its entry.
    fn is_idle(&self) -> bool {
        self.members.is_empty()
            && self.resuming.is_empty()
            && self.present.is_empty()
            && self.log.is_empty()
    }
}

/// A session resuming from a shared history (see `Room::resuming`).
struct Resuming {
    held: Vec<(Position, Arc<SharedText>)>,
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
        if let Some(history) = broker.history() {
            let _ = rooms.shared.shared_history.set(history);
        }
        if let Some(presence) = broker.presence() {
            let _ = rooms.shared.shared_presence.set(presence);
        }
        let _ = rooms.shared.broker.set(Box::new(broker));
        rooms
    }

    /// Sends `message` to every member of `room`, here and, with a broker,
    /// on every other node. Returns how many sessions of this node got it
    /// (with history on a broker that keeps it, see [`Rooms::history`]:
    /// how many are members here, which get it once it has its position).
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

    /// Sends `message` to every session of the user key `user`
    /// ([`Sender::set_user`](crate::Sender::set_user)), here and, with a
    /// broker, on every other node: all of a user's tabs and devices,
    /// whatever rooms they are in. Returns how many sessions of this node
    /// got it.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// // The first message names the user (a real app takes it from its
    /// // login: `session.extensions()`, a token...).
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (tx, mut rx) = session.split();
    ///     if let Some(user) = rx.recv().await {
    ///         tx.set_user(&user);
    ///         let _ = tx.send("hello").await;
    ///     }
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let rooms = service.rooms_handle();
    /// let app: Router = Router::new().nest("/app", service.into_router());
    /// let client = Client::in_process(app);
    /// let (mut phone, mut laptop) = (client.open("/app").await?, client.open("/app").await?);
    /// for connection in [&mut phone, &mut laptop] {
    ///     connection.send("alice").await?;
    ///     assert_eq!(connection.recv().await?, "hello");
    /// }
    ///
    /// assert_eq!(rooms.send_to_user("alice", "you have mail"), 2);
    /// assert_eq!(phone.recv().await?, "you have mail");
    /// assert_eq!(laptop.recv().await?, "you have mail");
    /// assert_eq!(rooms.send_to_user("bob", "nobody"), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn send_to_user(&self, user: &str, message: impl Into<String>) -> usize {
        self.send_to(Target::User(user), message.into())
    }

    /// Who is in `room`: the distinct user keys of its members
    /// ([`Sender::set_user`](crate::Sender::set_user)), each once however
    /// many sessions it has there, never session ids. Sessions without a
    /// user key are not counted.
    ///
    /// With a broker that keeps presence for every node
    /// ([`Broker::presence`], such as `sockjs-redis`'s), the room's users
    /// on every node, read from the broker (at most its timeout; the
    /// answer is then this node's users alone, and
    /// [`Presence::is_complete`] is false). Otherwise this node's, at
    /// once.
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
    ///     if let Some(user) = rx.recv().await {
    ///         tx.set_user(&user);
    ///         tx.join("lobby");
    ///         let _ = tx.send("joined").await;
    ///     }
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let rooms = service.rooms_handle();
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    /// let client = Client::in_process(app);
    /// let mut connections = Vec::new();
    /// for user in ["alice", "bob", "alice"] {
    ///     let mut connection = client.open("/chat").await?;
    ///     connection.send(user).await?;
    ///     assert_eq!(connection.recv().await?, "joined");
    ///     connections.push(connection);
    /// }
    ///
    /// let presence = rooms.presence("lobby").await;
    /// assert_eq!(presence.count(), 2); // alice's two sessions count once
    /// assert_eq!(presence.users(), ["alice", "bob"]);
    /// assert_eq!(rooms.members("lobby"), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn presence(&self, room: &str) -> Presence {
        let here = || -> Vec<String> {
            self.shared.rooms.get(room).map_or_else(Vec::new, |room| {
                room.users.keys().map(|user| user.to_string()).collect()
            })
        };
        let Some(shared) = self.shared.shared_presence.get() else {
            return Presence::new(here(), true);
        };
        match shared.users(room).await {
            Some(users) => Presence::new(users, true),
            None => Presence::new(here(), false),
        }
    }

    /// The changes in who is in `room` from now on: [`PresenceEvent::Join`]
    /// when a user's first session joins it, [`PresenceEvent::Leave`]
    /// when its last one leaves or closes (by user key, never session
    /// id; sessions without a user key are not counted). With a broker
    /// that keeps presence for every node ([`Broker::presence`]), the
    /// cluster's changes, told by the broker (a round trip after a local
    /// one, and at most once: read [`presence`](Self::presence) again
    /// after a reconnect); otherwise this node's, at once. Each receiver
    /// gets every event; one that falls 256 behind gets
    /// [`PresenceEvent::Missed`]. No receiver, no cost.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::rooms::PresenceEvent;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (tx, mut rx) = session.split();
    ///     if let Some(user) = rx.recv().await {
    ///         tx.set_user(&user);
    ///         tx.join("lobby");
    ///     }
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let rooms = service.rooms_handle();
    /// let mut events = rooms.presence_events("lobby");
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    ///
    /// let connection = Client::in_process(app).open("/chat").await?;
    /// connection.send("alice").await?;
    /// assert_eq!(events.recv().await, Some(PresenceEvent::Join("alice".into())));
    /// connection.close().await;
    /// assert_eq!(events.recv().await, Some(PresenceEvent::Leave("alice".into())));
    /// # Ok(())
    /// # }
    /// ```
    pub fn presence_events(&self, room: &str) -> PresenceEvents {
        let events = self
            .shared
            .watchers
            .entry(room.into())
            .or_insert_with(|| broadcast::channel(EVENTS_KEPT).0)
            .subscribe();
        PresenceEvents::new(events)
    }

    fn send_to(&self, target: Target<'_>, message: String) -> usize {
        if let (Target::Room(room), Some(limits), Some(history)) = (
            target,
            self.shared.history.get(),
            self.shared.shared_history.get(),
        ) {
            // Delivered here too once the history gave it its position.
            history.append(room, &message, limits);
            return self.members(room);
        }
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
    /// With a broker that keeps history for every node
    /// ([`Broker::history`], such as `sockjs-redis`'s), the history is the
    /// cluster's: each room message gets its position from the broker,
    /// once for all nodes, and reaches the members of every node, this
    /// one's included, when it has it (a round trip later), in position
    /// order; a session resumes on any node from a position it got on
    /// another.
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
    /// starts from the current state resumes from. With a broker that
    /// keeps history ([`Broker::history`]): the position of the last
    /// message delivered here to a room that has members here.
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
        let start = Position::start(self.shared.epoch);
        self.shared.rooms.get(room).map_or(start, |room| {
            if self.shared.shared_history.get().is_some() {
                room.last.unwrap_or(start)
            } else {
                room.log.now()
            }
        })
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
        let (key, user) = (member.key(), member.user());
        let mut entry = self.shared.room(room);
        entry.members.insert(key, member);
        if let Some(user) = user {
            self.shared.mark(room, &mut entry, key, user);
        }
    }

    /// Gives the session its user key: it is reached by [`Target::User`]
    /// from now on, and present in the rooms of `joined` it is in.
    pub(crate) fn identify(&self, member: Arc<dyn Member>, user: &Arc<str>, joined: &[Arc<str>]) {
        let key = member.key();
        self.shared
            .users
            .entry(user.clone())
            .or_default()
            .insert(key, member);
        for room in joined {
            // A room the session is not in yet (a `join_since` under way)
            // counts it when it enters it.
            if let Some(mut entry) = self.shared.rooms.get_mut(&**room) {
                if entry.members.contains_key(&key) || entry.resuming.contains_key(&key) {
                    self.shared.mark(room, &mut entry, key, user.clone());
                }
            }
        }
    }

    /// Puts the session in `room` and replays to it every kept message
    /// after `since`, before anything sent later; `Lost` (joined all the
    /// same) when that history is not kept, or there is none.
    pub(crate) async fn join_since(
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
        if let Some(history) = self.shared.shared_history.get() {
            return self
                .join_since_shared(room, member, since, history.clone(), *limits)
                .await;
        }
        let turn = self.shared.turn(room);
        let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
        let replay = {
            let mut entry = self.shared.room(room);
            entry.log.trim(limits);
            entry.members.insert(member.key(), member.clone());
            if let Some(user) = member.user() {
                self.shared.mark(room, &mut entry, member.key(), user);
            }
            entry.log.since(since)
        }?;
        // Under the room's turn, outside the map's lock: a member that
        // overflows is closed, and a closing session leaves its rooms.
        for text in &replay {
            member.push_shared(text);
        }
        Ok(())
    }

    /// `join_since` with a shared history: the session is entered as
    /// resuming (what the room gets from now on is held for it), the
    /// history is read, then, under the room's turn, the session gets
    /// what it missed, then what was held that is newer, and becomes a
    /// member: none missed, none twice.
    async fn join_since_shared(
        &self,
        room: &str,
        member: Arc<dyn Member>,
        since: Position,
        history: Arc<dyn SharedHistory>,
        limits: History,
    ) -> Result<(), Lost> {
        let key = member.key();
        {
            let turn = self.shared.turn(room);
            let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
            let mut entry = self.shared.room(room);
            entry.members.remove(&key);
            entry.resuming.insert(key, Resuming { held: Vec::new() });
            if let Some(user) = member.user() {
                self.shared.mark(room, &mut entry, key, user);
            }
        }
        let mut cursor = since;
        let mut reads = 0;
        loop {
            let replay = history.since(room, cursor, &limits).await;
            reads += 1;
            // Not made again if it was forgotten: the session left meanwhile.
            let Some(turn) = self.shared.rooms.get(room).map(|r| r.turn.clone()) else {
                return replay.map(drop);
            };
            let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
            let (texts, done) = {
                let Some(mut entry) = self.shared.rooms.get_mut(room) else {
                    return replay.map(drop);
                };
                let entry = &mut *entry;
                // Gone: the session left (or closed) while the history was
                // read.
                let Some(resuming) = entry.resuming.get_mut(&key) else {
                    return replay.map(drop);
                };
                let (mut texts, last) = replayed(room, cursor, &replay);
                if replay.is_ok() && gap_after(last, &resuming.held) && reads < MAX_READS {
                    // What this node delivered meanwhile does not follow on
                    // from the replay (this node missed messages that the
                    // history has): the replay now, then read again from
                    // there, still holding what comes.
                    cursor = last;
                    (texts, false)
                } else {
                    let held = std::mem::take(&mut resuming.held);
                    entry.resuming.remove(&key);
                    let (newer, last) = after(last, held);
                    texts.extend(newer);
                    entry.members.insert(key, member.clone());
                    entry.resumed.insert(key, last);
                    (texts, true)
                }
            };
            // Under the room's turn, outside the map's lock (see join_since).
            for text in &texts {
                member.push_shared(text);
            }
            if done {
                return replay.map(drop);
            }
        }
    }

    /// Takes the session out of `room`; a room without members is
    /// forgotten once its history is empty too.
    pub(crate) fn leave(&self, room: &str, id: u64) {
        let history = self.shared.history.get().copied();
        let shared = &self.shared;
        shared.rooms.remove_if_mut(room, |name, room| {
            shared.unmark(name, room, id);
            room.members.remove(&id);
            room.resuming.remove(&id);
            room.resumed.remove(&id);
            if let Some(limits) = &history {
                room.log.trim(limits);
            }
            room.is_idle()
        });
    }

    /// Takes a closed session out of every room it was in, and out of
    /// [`Target::All`] and its user's [`Target::User`].
    pub(crate) fn leave_all(&self, rooms: &[Arc<str>], id: u64, user: Option<&Arc<str>>) {
        for room in rooms {
            self.leave(room, id);
        }
        self.shared.everyone.remove(&id);
        if let Some(user) = user {
            self.shared.users.remove_if_mut(user, |_, sessions| {
                sessions.remove(&id);
                sessions.is_empty()
            });
        }
    }
}

impl Shared {
    /// Counts the session `id` of `user` as present in `room` (its
    /// entry); the user's first session there joins it.
    fn mark(&self, name: &str, room: &mut Room, id: u64, user: Arc<str>) {
        if room.present.contains_key(&id) {
            return;
        }
        room.present.insert(id, user.clone());
        let sessions = room.users.entry(user.clone()).or_insert(0);
        *sessions += 1;
        if *sessions == 1 {
            self.presence_changed(name, &user, true);
        }
    }

    /// Takes the session `id` out of `room`'s presence; the user's last
    /// session there leaves it.
    fn unmark(&self, name: &str, room: &mut Room, id: u64) {
        let Some(user) = room.present.remove(&id) else {
            return;
        };
        if let Some(sessions) = room.users.get_mut(&user) {
            *sessions -= 1;
            if *sessions == 0 {
                room.users.remove(&user);
                self.presence_changed(name, &user, false);
            }
        }
    }

    /// A user joined or left `room` on this node: the shared presence
    /// decides for the cluster (and tells every node), or, without one,
    /// this node's receivers are told. Called under the room's entry, so
    /// that the changes of one room are told in order.
    fn presence_changed(&self, room: &str, user: &str, joined: bool) {
        match self.shared_presence.get() {
            Some(shared) if joined => shared.join(room, user),
            Some(shared) => shared.leave(room, user),
            None => {
                let event = if joined {
                    PresenceEvent::Join(user.to_owned())
                } else {
                    PresenceEvent::Leave(user.to_owned())
                };
                Deliver::presence(self, room, event);
            }
        }
    }

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

/// How many times a resume reads a shared history at most (see
/// `gap_after`).
const MAX_READS: u32 = 3;

/// What a session resuming from `since` gets of a replay: its messages
/// after `since` (none when the history is lost), and the position it is
/// at then (`Lost::now` when lost).
fn replayed(
    room: &str,
    since: Position,
    replay: &Result<Vec<(Position, String)>, Lost>,
) -> (Vec<Arc<SharedText>>, Position) {
    let mut out = Vec::new();
    let mut last = since;
    match replay {
        Ok(messages) => {
            for (position, message) in messages {
                if position.epoch() == last.epoch() && position.offset() > last.offset() {
                    out.push(SharedText::new(envelope(room, *position, message)));
                    last = *position;
                }
            }
        }
        Err(lost) => last = lost.now,
    }
    (out, last)
}

/// Whether the first of `held` that is newer than `last` does not follow
/// on from it (same epoch, offsets missing between): this node delivered
/// it without those, so the history is read again.
fn gap_after(last: Position, held: &[(Position, Arc<SharedText>)]) -> bool {
    held.iter()
        .map(|(position, _)| *position)
        .find(|p| p.epoch() != last.epoch() || p.offset() > last.offset())
        .is_some_and(|p| p.epoch() == last.epoch() && p.offset() > last.offset() + 1)
}

/// What a session at `last` gets of the messages held for it (in position
/// order): those newer than `last`, or of a newer epoch; and the position
/// of the last one it gets (see `Room::resumed`).
fn after(
    mut last: Position,
    held: Vec<(Position, Arc<SharedText>)>,
) -> (Vec<Arc<SharedText>>, Position) {
    let mut out = Vec::new();
    for (position, text) in held {
        if position.epoch() != last.epoch() || position.offset() > last.offset() {
            out.push(text);
            last = position;
        }
    }
    (out, last)
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

impl Shared {
    /// Delivers a message of the shared history (see
    /// `Inbox::deliver_at`): to the room's members under its turn, and
    /// held for the sessions resuming. A room with nobody here is not
    /// made.
    fn deliver_shared(&self, room: &str, position: Position, message: &str) -> usize {
        let text = SharedText::new(envelope(room, position, message));
        loop {
            let Some(turn) = self.rooms.get(room).map(|r| r.turn.clone()) else {
                return 0;
            };
            let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
            let members: Vec<Arc<dyn Member>> = {
                let Some(mut entry) = self.rooms.get_mut(room) else {
                    return 0;
                };
                if !Arc::ptr_eq(&entry.turn, &turn) {
                    // The room was forgotten and made again meanwhile:
                    // take the new one's turn.
                    continue;
                }
                let Room {
                    members,
                    resuming,
                    resumed,
                    last,
                    ..
                } = &mut *entry;
                *last = Some(position);
                for resuming in resuming.values_mut() {
                    resuming.held.push((position, text.clone()));
                }
                let mut to = Vec::with_capacity(members.len());
                for (key, member) in members.iter() {
                    if let Some(got) = resumed.get(key) {
                        if got.epoch() == position.epoch() && position.offset() <= got.offset() {
                            continue; // in its replay
                        }
                        resumed.remove(key);
                    }
                    to.push(member.clone());
                }
                to
            };
            return members
                .iter()
                .filter(|member| member.push_shared(&text))
                .count();
        }
    }
}

impl Deliver for Shared {
    fn presence(&self, room: &str, event: PresenceEvent) {
        let unheard = match self.watchers.get(room) {
            Some(watchers) => watchers.send(event).is_err(),
            None => return,
        };
        if unheard {
            // Nobody listens any more: forget the room's channel.
            self.watchers
                .remove_if(room, |_, watchers| watchers.receiver_count() == 0);
        }
    }

    fn deliver_at(&self, room: &str, position: Position, message: &str) -> usize {
        self.deliver_shared(room, position, message)
    }

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
            Target::User(user) => match self.users.get(user) {
                Some(sessions) => sessions.values().cloned().collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(out: &[Arc<SharedText>]) -> Vec<String> {
        out.iter().map(|t| t.text().to_owned()).collect()
    }

    fn held(room: &str, positions: &[Position]) -> Vec<(Position, Arc<SharedText>)> {
        positions
            .iter()
            .map(|p| {
                (
                    *p,
                    SharedText::new(envelope(room, *p, &p.offset().to_string())),
                )
            })
            .collect()
    }

    /// The whole seam: the replay, then what was held.
    fn seam(
        since: Position,
        replay: &Result<Vec<(Position, String)>, Lost>,
        held: Vec<(Position, Arc<SharedText>)>,
    ) -> (Vec<Arc<SharedText>>, Position) {
        let (mut out, last) = replayed("r", since, replay);
        let (newer, last) = after(last, held);
        out.extend(newer);
        (out, last)
    }

    #[test]
    fn the_seam_gives_each_message_once_in_order() {
        let at = |offset| Position::new(7, offset);
        let replay = Ok(vec![
            (at(2), "2".to_owned()), // at `since`: not again
            (at(3), "3".to_owned()),
            (at(4), "4".to_owned()),
        ]);
        // Held while the history was read: 4 again, then 5 and 6.
        let (out, last) = seam(at(2), &replay, held("r", &[at(4), at(5), at(6)]));
        assert_eq!(
            texts(&out),
            [3, 4, 5, 6].map(|i| envelope("r", at(i), &i.to_string()))
        );
        assert_eq!(last, at(6));

        // Nothing held: the replay's last.
        let (out, last) = seam(at(2), &replay, Vec::new());
        assert_eq!(out.len(), 2);
        assert_eq!(last, at(4));

        // Lost: only what is after the room's latest position, or of a
        // newer epoch.
        let lost = Err(Lost { now: at(5) });
        let newer = Position::new(8, 1);
        let (out, last) = seam(at(1), &lost, held("r", &[at(4), at(5), at(6), newer]));
        assert_eq!(
            texts(&out),
            [envelope("r", at(6), "6"), envelope("r", newer, "1")]
        );
        assert_eq!(last, newer);
        let (out, last) = seam(at(1), &lost, Vec::new());
        assert!(out.is_empty());
        assert_eq!(last, at(5));
    }

    #[test]
    fn a_gap_between_the_replay_and_what_was_held_is_read_again() {
        let at = |offset| Position::new(7, offset);
        // Replayed up to 4; held: 3 and 4 again, then 5: no gap.
        assert!(!gap_after(at(4), &held("r", &[at(3), at(4), at(5)])));
        assert!(!gap_after(at(4), &[]));
        // Only older ones held: no gap.
        assert!(!gap_after(at(4), &held("r", &[at(2), at(4)])));
        // 5 never reached this node: 6 first.
        assert!(gap_after(at(4), &held("r", &[at(4), at(6)])));
        // A new epoch is not a gap.
        assert!(!gap_after(at(4), &held("r", &[Position::new(8, 3)])));
    }

    /// A session as the rooms see it, keeping what it gets.
    struct Collect(Mutex<Vec<String>>);

    impl Member for Collect {
        fn key(&self) -> u64 {
            1
        }
        fn push_shared(&self, message: &Arc<SharedText>) -> bool {
            let v: Vec<&str> = message.text().split('"').collect();
            // {"room":"r","pos":"7-3","data":"3"}: keep the data.
            self.0.lock().unwrap().push(v[v.len() - 2].to_owned());
            true
        }
    }

    /// A shared history whose reads answer from `reads` in turn: what the
    /// stream holds then (offsets 1..=n), and what this node delivers
    /// while the read is under way.
    struct Scripted {
        inbox: Mutex<Option<Inbox>>,
        reads: Mutex<std::collections::VecDeque<(u64, Vec<u64>)>>,
        asked: Mutex<Vec<Position>>,
    }

    fn at(offset: u64) -> Position {
        Position::new(7, offset)
    }

    impl SharedHistory for Scripted {
        fn append(&self, _room: &str, _message: &str, _limits: &History) {}
        fn since(&self, room: &str, since: Position, _limits: &History) -> super::super::Replay {
            self.asked.lock().unwrap().push(since);
            let (stream, during) = self.reads.lock().unwrap().pop_front().unwrap();
            let inbox = self.inbox.lock().unwrap().clone().unwrap();
            for offset in during {
                inbox.deliver_at(room, at(offset), &offset.to_string());
            }
            let out = (since.offset() + 1..=stream)
                .map(|o| (at(o), o.to_string()))
                .collect();
            Box::pin(async move { Ok(out) })
        }
    }

    struct ScriptedBroker(Arc<Scripted>);

    impl Broker for ScriptedBroker {
        fn start(&self, inbox: Inbox) {
            *self.0.inbox.lock().unwrap() = Some(inbox);
        }
        fn publish(&self, _target: Target<'_>, _message: &str) {}
        fn history(&self) -> Option<Arc<dyn SharedHistory>> {
            Some(self.0.clone())
        }
    }

    /// A session that resumes room `r` from offset 2 over a history whose
    /// reads answer `reads` in turn (see [`Scripted`]).
    async fn resume_from_2(reads: &[(u64, Vec<u64>)]) -> (Arc<Scripted>, Rooms, Arc<Collect>) {
        let scripted = Arc::new(Scripted {
            inbox: Mutex::new(None),
            reads: Mutex::new(reads.iter().cloned().collect()),
            asked: Mutex::new(Vec::new()),
        });
        let rooms =
            Rooms::with_broker(ScriptedBroker(scripted.clone())).history(History::messages(100));
        let member = Arc::new(Collect(Mutex::new(Vec::new())));
        let resumed = rooms.join_since("r", member.clone(), at(2)).await;
        assert_eq!(resumed, Ok(()));
        (scripted, rooms, member)
    }

    #[tokio::test]
    async fn a_resume_reads_again_past_a_gap_and_then_skips_what_it_replayed() {
        // The first read finds 1..=4 while this node delivers 6 (it missed
        // 5); the second finds 1..=7 while it delivers 7.
        let (scripted, rooms, member) = resume_from_2(&[(4, vec![6]), (7, vec![7])]).await;
        assert_eq!(*scripted.asked.lock().unwrap(), [at(2), at(4)]);
        // 7 again (this node delivers it after the replay had it), then 8.
        assert_eq!(rooms.shared.deliver_at("r", at(7), "7"), 0);
        assert_eq!(rooms.shared.deliver_at("r", at(8), "8"), 1);
        assert_eq!(*member.0.lock().unwrap(), ["3", "4", "5", "6", "7", "8"]);
        assert_eq!(rooms.position("r"), at(8));
        // Leaving forgets the room.
        rooms.leave("r", 1);
        assert_eq!(rooms.members("r"), 0);
        assert!(rooms.shared.rooms.is_empty());
    }

    #[tokio::test]
    async fn a_resume_reads_a_shared_history_at_most_three_times() {
        // This node delivers 10 during the first read and the stream never
        // catches up with it: a gap after every read.
        let reads = [(4, vec![10]), (5, vec![]), (6, vec![]), (7, vec![])];
        let (scripted, _rooms, member) = resume_from_2(&reads).await;
        assert_eq!(*scripted.asked.lock().unwrap(), [at(2), at(4), at(5)]);
        // The third read is the last: what it had, then what was held.
        assert_eq!(*member.0.lock().unwrap(), ["3", "4", "5", "6", "10"]);
    }

    /// A session as the rooms see it, keeping the offsets of what it gets.
    struct Offsets(Mutex<Vec<u64>>);

    impl Member for Offsets {
        fn key(&self) -> u64 {
            1
        }
        fn push_shared(&self, message: &Arc<SharedText>) -> bool {
            // {"room":"r","pos":"<epoch>-<offset>","data":...}
            let pos = message.text().split('"').nth(7).unwrap();
            let offset = pos.split_once('-').unwrap().1.parse().unwrap();
            self.0.lock().unwrap().push(offset);
            true
        }
    }

    #[test]
    fn a_room_sent_to_from_many_threads_delivers_in_position_order() {
        // Positions are taken under the room's entry and delivered under
        // its turn, after the entry's lock is let go: without the turn, a
        // sender that took a position can deliver after a later one.
        let rooms = Rooms::new().history(History::messages(1 << 20));
        let member = Arc::new(Offsets(Mutex::new(Vec::new())));
        rooms.join("r", member.clone());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..5_000 {
                        rooms.send("r", i.to_string());
                    }
                });
            }
        });
        let offsets = member.0.lock().unwrap();
        assert_eq!(offsets.len(), 20_000);
        let disorder = offsets.windows(2).filter(|w| w[0] >= w[1]).count();
        assert_eq!(disorder, 0, "{disorder} deliveries out of position order");
    }

    /// A session of `user` as the rooms see it.
    struct Keyed(u64, Option<Arc<str>>);

    impl Member for Keyed {
        fn key(&self) -> u64 {
            self.0
        }
        fn user(&self) -> Option<Arc<str>> {
            self.1.clone()
        }
        fn push_shared(&self, _message: &Arc<SharedText>) -> bool {
            true
        }
    }

    /// A shared presence that records what this node tells it, and
    /// answers `users` from `answer`.
    #[derive(Default)]
    struct Told {
        calls: Mutex<Vec<String>>,
        answer: Mutex<Option<Vec<String>>>,
    }

    impl super::super::SharedPresence for Told {
        fn join(&self, room: &str, user: &str) {
            self.calls.lock().unwrap().push(format!("+{room}:{user}"));
        }
        fn leave(&self, room: &str, user: &str) {
            self.calls.lock().unwrap().push(format!("-{room}:{user}"));
        }
        fn users(&self, _room: &str) -> super::super::Users {
            let answer = self.answer.lock().unwrap().clone();
            Box::pin(async move { answer })
        }
    }

    struct TellingBroker(Arc<Told>, Arc<Mutex<Option<Inbox>>>);

    impl Broker for TellingBroker {
        fn start(&self, inbox: Inbox) {
            *self.1.lock().unwrap() = Some(inbox);
        }
        fn publish(&self, _target: Target<'_>, _message: &str) {}
        fn presence(&self) -> Option<Arc<dyn super::super::SharedPresence>> {
            Some(self.0.clone())
        }
    }

    #[tokio::test]
    async fn a_shared_presence_hears_of_first_and_last_sessions_and_tells_the_events() {
        let told = Arc::new(Told::default());
        let slot = Arc::new(Mutex::new(None));
        let rooms = Rooms::with_broker(TellingBroker(told.clone(), slot.clone()));
        let inbox = slot.lock().unwrap().clone().unwrap();
        let mut events = rooms.presence_events("r");
        let alice: Arc<str> = "alice".into();
        let (a1, a2) = (
            Arc::new(Keyed(1, Some(alice.clone()))),
            Arc::new(Keyed(2, Some(alice.clone()))),
        );
        rooms.join("r", a1.clone());
        rooms.join("r", a2.clone());
        rooms.join("r", Arc::new(Keyed(3, None)));
        rooms.leave("r", 1);
        rooms.leave_all(&["r".into()], 2, Some(&alice));
        rooms.leave("r", 3);
        // Once each: the first session in, the last one out.
        assert_eq!(*told.calls.lock().unwrap(), ["+r:alice", "-r:alice"]);
        assert!(rooms.shared.rooms.is_empty());
        // Events come from the shared presence, not from this node's count.
        assert_eq!(format!("{events:?}"), "PresenceEvents { waiting: 0 }");
        inbox.presence("r", PresenceEvent::Join("bob".into()));
        assert_eq!(events.recv().await, Some(PresenceEvent::Join("bob".into())));

        // The snapshot is the shared one; this node's alone when unreadable.
        *told.answer.lock().unwrap() = Some(vec!["bob".into(), "carol".into()]);
        let presence = rooms.presence("r").await;
        assert_eq!(
            (presence.users(), presence.is_complete()),
            (&["bob".to_owned(), "carol".to_owned()][..], true)
        );
        rooms.join("r", a1);
        *told.answer.lock().unwrap() = None;
        let presence = rooms.presence("r").await;
        assert_eq!(
            (presence.users(), presence.is_complete()),
            (&["alice".to_owned()][..], false)
        );

        // A room nobody listens to any more forgets its channel.
        drop(events);
        inbox.presence("r", PresenceEvent::Leave("bob".into()));
        assert!(rooms.shared.watchers.is_empty());
    }
}
