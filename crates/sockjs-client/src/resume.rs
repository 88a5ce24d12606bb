//! [`Resuming`]: a connection that reconnects with [`Backoff`] and resumes
//! room streams where it left off, as `sockjs-resume.js` does in browsers.
//!
//! A sockjs-axum service whose rooms keep history sends room messages in an
//! envelope, `{"room":"lobby","pos":"5f3a9c-17","data":"..."}`. `Resuming`
//! keeps the last position per room and, on every reconnect, opens the URL
//! with `since=<position>` in its query (the handler reads it from
//! `session.query()` and calls `tx.join_since(room, position)`): every kept
//! message after it, then the live ones, none missed and none twice.
//!
//! Positions within an epoch are one apart, so `Resuming` also checks the
//! stream it gets: a position past the next one means messages were lost
//! on the way (a response cut between two nodes of a cluster, say), and it
//! drops the connection and resumes from the last position it saw
//! ([`Event::Disconnected`] with [`Error::Protocol`] says so); a position
//! at or before the last is a message seen already and is not given again.
//! [`Resuming::repairs`] counts both, for tests that hold a server to its
//! promise of every message once, in order.
//!
//! ```no_run
//! use sockjs_client::resume::{Backoff, Event, Resuming};
//! use sockjs_client::Client;
//! use std::time::Duration;
//!
//! # async fn demo() {
//! let backoff = Backoff::new().initial(Duration::from_millis(100)).max(Duration::from_secs(5));
//! let mut chat = Resuming::new(Client::new(), "http://127.0.0.1:8080/chat?room=lobby").backoff(backoff);
//! while let Some(event) = chat.next().await {
//!     match event {
//!         Event::Message { room, position, data } => println!("{room:?} {position:?}: {data}"),
//!         Event::Lost { room } => println!("history of {room:?} gone: reload"),
//!         Event::Reconnected { transport } => println!("back, over {transport}"),
//!         other => println!("{other:?}"),
//!     }
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use sockjs_proto::Transport;
use tokio::time::Instant;

use crate::client::Client;
use crate::connection::Connection;
use crate::error::Error;

/// How long to wait before each reconnect attempt: exponential, bounded,
/// with jitter. Attempt `n` (1, 2, ...) waits
/// `min(max, initial * factor^(n-1)) * (1 - jitter * r)` for a random `r`
/// in `[0, 1)`. Defaults: `initial` 250 ms, `max` 10 s, `factor` 2,
/// `jitter` 0.5 (those of `sockjs-resume.js`).
///
/// ```
/// use std::time::Duration;
/// use sockjs_client::resume::Backoff;
///
/// let backoff = Backoff::new().initial(Duration::from_millis(100)).max(Duration::from_secs(1)).jitter(0.0);
/// let delays: Vec<u128> = (1..=6).map(|n| backoff.delay(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
/// // With jitter, between half the delay and the delay.
/// let jittered = Backoff::new().delay(3);
/// assert!(jittered >= Duration::from_millis(500) && jittered <= Duration::from_millis(1000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Backoff {
    /// The defaults (see the type).
    ///
    /// ```
    /// assert_eq!(sockjs_client::resume::Backoff::new(), Default::default());
    /// ```
    pub fn new() -> Backoff {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            factor: 2.0,
            jitter: 0.5,
        }
    }

    /// The delay before the first attempt.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sockjs_client::resume::Backoff::new().initial(Duration::from_millis(10)).jitter(0.0);
    /// assert_eq!(b.delay(1), Duration::from_millis(10));
    /// ```
    #[must_use]
    pub fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// The bound on any delay.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sockjs_client::resume::Backoff::new().max(Duration::from_secs(1)).jitter(0.0);
    /// assert_eq!(b.delay(50), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// How much the delay grows per failed attempt (at least 1).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sockjs_client::resume::Backoff::new().factor(3.0).jitter(0.0);
    /// assert_eq!(b.delay(2), Duration::from_millis(750));
    /// ```
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor.max(1.0);
        self
    }

    /// The fraction of the delay taken off at random (0 to 1): clients cut
    /// off together do not all come back at once.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sockjs_client::resume::Backoff::new().jitter(0.0);
    /// assert_eq!(b.delay(1), Duration::from_millis(250));
    /// ```
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// The delay before attempt `attempt` (1, 2, ...; 0 counts as 1).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = sockjs_client::resume::Backoff::new();
    /// assert!(b.delay(1) <= Duration::from_millis(250));
    /// ```
    pub fn delay(&self, attempt: u32) -> Duration {
        let random = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
        self.delay_with(attempt, random)
    }

    fn delay_with(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.max(1).saturating_sub(1).min(64) as i32;
        let base =
            (self.initial.as_secs_f64() * self.factor.powi(exponent)).min(self.max.as_secs_f64());
        Duration::from_secs_f64((base * (1.0 - self.jitter * random)).max(0.0))
    }
}

/// What a [`Resuming`] connection tells its application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The first connection opened.
    Connected {
        /// Its transport.
        transport: Transport,
    },
    /// A message. A room message (an envelope) has its room and position,
    /// which is kept for the next resume; any other message has neither.
    Message {
        /// The room, for a room message.
        room: Option<String>,
        /// Its position (`<hex epoch>-<offset>`), for a room message.
        position: Option<String>,
        /// The message.
        data: String,
    },
    /// The server could not resume: the room's history no longer has the
    /// position (or it is from before a restart). The connection goes on
    /// in the room, but what was missed is missed: reload. Sent by the
    /// server as the text `lost` (`room` is then `None`: every room) or as
    /// `{"lost":"<room>"}`. The room's position is forgotten.
    Lost {
        /// The room, when the server named it.
        room: Option<String>,
    },
    /// The connection ended, or an attempt to open one failed; the next
    /// attempt starts after `retry_in`.
    Disconnected {
        /// Why.
        error: Error,
        /// Failed attempts in a row, this one included.
        attempt: u32,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// A new connection opened, resuming from the positions kept.
    Reconnected {
        /// Its transport.
        transport: Transport,
    },
}

/// A SockJS connection that reconnects after any end but
/// [`close`](Self::close), with [`Backoff`], and resumes room streams with
/// `since=` in the URL's query. See the [module docs](self).
///
/// ```
/// use axum::Router;
/// use sockjs::rooms::History;
/// use sockjs::{Rooms, Session, SockJsRouter};
/// use sockjs_client::resume::{Event, Resuming};
/// use sockjs_client::Client;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // A room with history; a session resumes from `?since=`.
/// let service = SockJsRouter::new(|session: Session| async move {
///     let since = session.query().and_then(|q| q.strip_prefix("since=")).and_then(|p| p.parse().ok());
///     let (tx, mut rx) = session.split();
///     match since {
///         Some(position) => {
///             if tx.join_since("news", position).await.is_err() {
///                 let _ = tx.send("lost").await;
///             }
///         }
///         None => tx.join("news"),
///     }
///     while rx.recv().await.is_some() {}
/// })
/// .rooms(Rooms::new().history(History::messages(100)));
/// let rooms = service.rooms_handle();
/// let app: Router = Router::new().nest("/news", service.into_router());
///
/// let mut news = Resuming::new(Client::in_process(app), "/news");
/// assert!(matches!(news.next().await, Some(Event::Connected { .. })));
/// rooms.send("news", "first");
/// let Some(Event::Message { data, position, .. }) = news.next().await else { panic!() };
/// assert_eq!(data, "first");
/// assert_eq!(news.positions_seen().get("news"), position.as_ref());
/// news.close().await;
/// assert_eq!(news.next().await, None);
/// # }
/// ```
pub struct Resuming {
    client: Client,
    url: String,
    backoff: Backoff,
    max_attempts: Option<u32>,
    positions: BTreeMap<String, String>,
    connection: Option<Connection>,
    /// Failed attempts in a row.
    attempt: u32,
    /// When the next attempt may start.
    retry_at: Option<Instant>,
    opened: bool,
    closed: bool,
    /// Resumes made because positions skipped (see the module docs).
    gaps: u64,
    /// Room messages dropped as seen already.
    repeats: u64,
}

impl fmt::Debug for Resuming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resuming")
            .field("url", &self.url)
            .field("positions", &self.positions)
            .field("connected", &self.connection.is_some())
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl Resuming {
    /// A resuming connection to `url` through `client` (its transports,
    /// headers and timeout apply to every attempt). Nothing is opened
    /// before the first [`next`](Self::next).
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// let chat = Resuming::new(Client::new(), "http://127.0.0.1:8080/chat?room=lobby");
    /// assert_eq!(chat.connect_url(), "http://127.0.0.1:8080/chat?room=lobby");
    /// ```
    pub fn new(client: Client, url: &str) -> Resuming {
        Resuming {
            client,
            url: url.to_owned(),
            backoff: Backoff::new(),
            max_attempts: None,
            positions: BTreeMap::new(),
            connection: None,
            attempt: 0,
            retry_at: None,
            opened: false,
            closed: false,
            gaps: 0,
            repeats: 0,
        }
    }

    /// How many times this connection resumed because the positions it
    /// got skipped some (messages lost on the way), and how many room
    /// messages it dropped as seen already. Both are 0 while the server
    /// and the path keep their promise; tests of a server count them.
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// let chat = Resuming::new(Client::new(), "http://127.0.0.1:8080/chat");
    /// assert_eq!(chat.repairs(), (0, 0));
    /// ```
    pub fn repairs(&self) -> (u64, u64) {
        (self.gaps, self.repeats)
    }

    /// The back-off between attempts. Default: [`Backoff::new`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs_client::{resume::{Backoff, Resuming}, Client};
    ///
    /// let quick = Backoff::new().initial(Duration::from_millis(10)).max(Duration::from_secs(1));
    /// let _chat = Resuming::new(Client::new(), "http://127.0.0.1:8080/chat").backoff(quick);
    /// ```
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Gives up after this many failed attempts in a row ([`next`](Self::next)
    /// then returns `None`). Default: never.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs_client::{resume::{Backoff, Event, Resuming}, Client};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let nowhere: axum::Router = axum::Router::new();
    /// let quick = Backoff::new().initial(Duration::from_millis(1));
    /// let mut c = Resuming::new(Client::in_process(nowhere), "/none").backoff(quick).max_attempts(2);
    /// assert!(matches!(c.next().await, Some(Event::Disconnected { attempt: 1, .. })));
    /// assert!(matches!(c.next().await, Some(Event::Disconnected { attempt: 2, .. })));
    /// assert_eq!(c.next().await, None);
    /// # }
    /// ```
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Resumes from these positions (`room`, `position`) from the first
    /// connection on: positions an earlier run kept.
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// let chat = Resuming::new(Client::new(), "http://h/chat?room=lobby").positions([("lobby", "5f3a9c-17")]);
    /// assert_eq!(chat.connect_url(), "http://h/chat?room=lobby&since=5f3a9c-17");
    /// ```
    #[must_use]
    pub fn positions<R: Into<String>, P: Into<String>>(
        mut self,
        positions: impl IntoIterator<Item = (R, P)>,
    ) -> Self {
        self.positions = positions
            .into_iter()
            .map(|(r, p)| (r.into(), p.into()))
            .collect();
        self
    }

    /// The last position seen per room.
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// assert!(Resuming::new(Client::new(), "http://h/chat").positions_seen().is_empty());
    /// ```
    pub fn positions_seen(&self) -> &BTreeMap<String, String> {
        &self.positions
    }

    /// The URL the next attempt opens: the URL given, with
    /// `since=<position>` (one room) or `since=<room>:<position>,...`
    /// (several) in place of any `since` in its query.
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// let c = Resuming::new(Client::new(), "http://h/chat?since=old&room=a").positions([("a", "1-2"), ("b", "1-5")]);
    /// assert_eq!(c.connect_url(), "http://h/chat?room=a&since=a:1-2,b:1-5");
    /// ```
    pub fn connect_url(&self) -> String {
        let since = match self.positions.len() {
            0 => None,
            1 => self.positions.values().next().cloned(),
            _ => Some(
                self.positions
                    .iter()
                    .map(|(room, pos)| format!("{room}:{pos}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        };
        with_since(&self.url, since.as_deref())
    }

    /// Sends a message on the open connection; [`Error::Io`] when there is
    /// none (nothing is queued while reconnecting).
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let c = Resuming::new(Client::new(), "http://127.0.0.1:9/chat");
    /// assert!(c.send("not yet open").await.is_err());
    /// # }
    /// ```
    pub async fn send(&self, message: impl Into<String>) -> Result<(), Error> {
        match &self.connection {
            Some(connection) => connection.send(message).await,
            None => Err(Error::Io("not connected (reconnecting)".into())),
        }
    }

    /// Closes the connection for good: [`next`](Self::next) returns `None`.
    ///
    /// ```
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut c = Resuming::new(Client::new(), "http://127.0.0.1:9/chat");
    /// c.close().await;
    /// assert_eq!(c.next().await, None);
    /// # }
    /// ```
    pub async fn close(&mut self) {
        self.closed = true;
        if let Some(connection) = self.connection.take() {
            connection.close().await;
        }
    }

    /// The next event, reconnecting as needed; `None` once closed or out
    /// of attempts. Cancel-safe: a `next` dropped while it waits (in a
    /// `select!` or under a timeout) loses nothing; the next call goes on.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sockjs_client::{resume::Resuming, Client};
    ///
    /// # async fn demo() {
    /// let mut c = Resuming::new(Client::new(), "http://127.0.0.1:8080/chat");
    /// while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(30), c.next()).await {
    ///     println!("{event:?}");
    /// }
    /// # }
    /// ```
    pub async fn next(&mut self) -> Option<Event> {
        if self.closed {
            return None;
        }
        while let Some(connection) = &mut self.connection {
            match connection.recv().await {
                Ok(text) => match self.receive(text) {
                    Received::Event(event) => return Some(event),
                    Received::Again => {
                        self.repeats += 1;
                        continue;
                    }
                    Received::Gap(error) => {
                        self.gaps += 1;
                        // Resume from the last position seen: what went
                        // missing is replayed, in order.
                        if let Some(connection) = self.connection.take() {
                            connection.close().await;
                        }
                        return Some(self.failed(error));
                    }
                },
                Err(error) => {
                    self.connection = None;
                    return Some(self.failed(error));
                }
            }
        }
        if self.max_attempts.is_some_and(|max| self.attempt >= max) {
            self.closed = true;
            return None;
        }
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at).await;
            self.retry_at = None;
        }
        Some(match self.client.open(&self.connect_url()).await {
            Ok(connection) => {
                let transport = connection.transport();
                self.connection = Some(connection);
                self.attempt = 0;
                let first = !self.opened;
                self.opened = true;
                if first {
                    Event::Connected { transport }
                } else {
                    Event::Reconnected { transport }
                }
            }
            Err(error) => self.failed(error),
        })
    }

    fn failed(&mut self, error: Error) -> Event {
        self.attempt += 1;
        let retry_in = self.backoff.delay(self.attempt);
        self.retry_at = Some(Instant::now() + retry_in);
        Event::Disconnected {
            error,
            attempt: self.attempt,
            retry_in,
        }
    }

    fn receive(&mut self, text: String) -> Received {
        Received::Event(match parse(&text) {
            Parsed::Room {
                room,
                position,
                data,
            } => {
                match follows(self.positions.get(&room).map(String::as_str), &position) {
                    Follows::Yes => {}
                    Follows::Seen => return Received::Again,
                    Follows::Gap(last) => {
                        return Received::Gap(Error::Protocol(format!(
                            "room {room}: position {position} after {last}, messages between \
                             missing (lost in transit): resuming from {last}"
                        )))
                    }
                }
                self.positions.insert(room.clone(), position.clone());
                Event::Message {
                    room: Some(room),
                    position: Some(position),
                    data,
                }
            }
            Parsed::Lost(room) => {
                match &room {
                    Some(room) => {
                        self.positions.remove(room);
                    }
                    None => self.positions.clear(),
                }
                Event::Lost { room }
            }
            Parsed::Plain => Event::Message {
                room: None,
                position: None,
                data: text,
            },
        })
    }
}

/// What a received text makes of the stream.
enum Received {
    /// An event for the application.
    Event(Event),
    /// Nothing: a room message already seen (at or before the room's last
    /// position).
    Again,
    /// A room message past a gap: the connection is dropped and resumed.
    Gap(Error),
}

/// How a room position follows the last one seen in the room.
#[derive(Debug, PartialEq)]
enum Follows<'a> {
    /// Next in line, the first, or of another epoch (whose change the
    /// server reports itself).
    Yes,
    /// At or before the last: seen already.
    Seen,
    /// Past the next: messages in between are missing; the last is given.
    Gap(&'a str),
}

/// Positions are `<epoch>-<offset>`, offsets one apart within an epoch: a
/// member of a room gets every one of its messages, so a larger step means
/// some were lost on the way (a response cut between two nodes, say), and
/// resuming from the last gets them back. Unparsable positions are taken
/// as they come.
fn follows<'a>(last: Option<&'a str>, position: &str) -> Follows<'a> {
    let split = |p: &str| {
        let (epoch, offset) = p.rsplit_once('-')?;
        Some((epoch.to_owned(), offset.parse::<u64>().ok()?))
    };
    let (Some(last), Some((epoch, offset))) = (last, split(position)) else {
        return Follows::Yes;
    };
    match split(last) {
        Some((last_epoch, last_offset)) if last_epoch == epoch => {
            if offset <= last_offset {
                Follows::Seen
            } else if offset > last_offset + 1 {
                Follows::Gap(last)
            } else {
                Follows::Yes
            }
        }
        _ => Follows::Yes,
    }
}

enum Parsed {
    Room {
        room: String,
        position: String,
        data: String,
    },
    Lost(Option<String>),
    Plain,
}

#[derive(serde::Deserialize)]
struct Envelope {
    room: String,
    pos: String,
    data: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LostRoom {
    lost: String,
}

/// What a received text is: a room envelope, a lost signal, or plain.
fn parse(text: &str) -> Parsed {
    if text == "lost" {
        return Parsed::Lost(None);
    }
    if !text.starts_with('{') {
        return Parsed::Plain;
    }
    if let Ok(e) = serde_json::from_str::<Envelope>(text) {
        return Parsed::Room {
            room: e.room,
            position: e.pos,
            data: e.data,
        };
    }
    if let Ok(l) = serde_json::from_str::<LostRoom>(text) {
        return Parsed::Lost(Some(l.lost));
    }
    Parsed::Plain
}

/// `url` with its query's `since` parameter replaced by `since` (removed
/// when `None`).
fn with_since(url: &str, since: Option<&str>) -> String {
    let (url, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("since"))
        .map(str::to_owned)
        .collect();
    if let Some(since) = since {
        params.push(format!("since={since}"));
    }
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    format!("{path}{query}{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_gap_or_repeat() {
        assert_eq!(follows(None, "a-5"), Follows::Yes);
        assert_eq!(follows(Some("a-4"), "a-5"), Follows::Yes);
        assert_eq!(follows(Some("a-4"), "a-4"), Follows::Seen);
        assert_eq!(follows(Some("a-4"), "a-2"), Follows::Seen);
        assert_eq!(follows(Some("a-4"), "a-6"), Follows::Gap("a-4"));
        assert_eq!(follows(Some("a-4"), "b-9"), Follows::Yes, "another epoch");
        assert_eq!(follows(Some("a-4"), "junk"), Follows::Yes);
        assert_eq!(follows(Some("5f-x"), "5f-9"), Follows::Yes);
        assert_eq!(follows(Some("1-2-9"), "1-2-11"), Follows::Gap("1-2-9"));
    }

    #[test]
    fn delays() {
        let b = Backoff::new()
            .initial(Duration::from_millis(100))
            .max(Duration::from_millis(1000));
        assert_eq!(b.delay_with(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay_with(3, 0.5), Duration::from_millis(300));
        assert_eq!(b.delay_with(u32::MAX, 0.0), Duration::from_millis(1000));
        assert_eq!(b.delay_with(0, 0.0), Duration::from_millis(100));
        for n in 1..100 {
            let d = b.delay(n);
            assert!(d <= Duration::from_millis(1000), "{d:?}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(with_since("/s", Some("a-1")), "/s?since=a-1");
        assert_eq!(with_since("/s?since=x", None), "/s");
        assert_eq!(
            with_since("/s?room=r&since=x#f", Some("a-2")),
            "/s?room=r&since=a-2#f"
        );
    }

    #[test]
    fn parsing() {
        assert!(matches!(
            parse(r#"{"room":"r","pos":"a-1","data":"x"}"#),
            Parsed::Room { ref room, ref position, ref data } if room == "r" && position == "a-1" && data == "x"
        ));
        assert!(matches!(parse("lost"), Parsed::Lost(None)));
        assert!(matches!(parse(r#"{"lost":"r"}"#), Parsed::Lost(Some(ref r)) if r == "r"));
        assert!(matches!(parse(r#"{"lost":"r","x":1}"#), Parsed::Plain));
        assert!(matches!(parse("joined"), Parsed::Plain));
        assert!(matches!(parse("{oops"), Parsed::Plain));
    }
}
