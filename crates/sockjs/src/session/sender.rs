//! [`Sender`]: the application's sending half of a session, and what a
//! failed send hands back.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use super::close::{close_code, CloseReason};
use super::core::{Core, PushError};
use super::lifeline::Lifeline;
use crate::config::QueueFullPolicy;
use crate::metrics::QueueFull;
use crate::rooms::Rooms;

/// [`Sender::send`]'s wait for room in a full queue.
type WaitForRoom<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// The sending half: cloneable, sends text messages and closes the session.
///
/// When every `Sender` clone and the [`Receiver`](crate::Receiver) are dropped, the session
/// closes with code 1000 `Normal closure`.
///
/// ```
/// use std::time::Duration;
/// use sockjs::Session;
///
/// // A clock: one task sends while the handler reads.
/// async fn clock(session: Session) {
///     let (tx, mut rx) = session.split();
///     let ticker = tx.clone();
///     tokio::spawn(async move {
///         while ticker.send("tick").await.is_ok() {
///             tokio::time::sleep(Duration::from_secs(1)).await;
///         }
///     });
///     while let Some(command) = rx.recv().await {
///         if command == "stop" {
///             tx.close(3000, "Stopped");
///         }
///     }
/// }
/// # let _ = clock;
/// ```
#[derive(Clone)]
pub struct Sender {
    core: Arc<Core>,
    policy: QueueFullPolicy,
    _life: Arc<Lifeline>,
}

/// The session is closed; the message that could not be sent is handed back.
///
/// ```
/// use sockjs::{SendError, Sender};
///
/// async fn notify(tx: &Sender, text: String) {
///     if let Err(SendError(lost)) = tx.send(text).await {
///         println!("session closed, {lost:?} not delivered");
///     }
/// }
/// # let _ = notify;
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed SockJS session")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`] did not queue the message, which is handed back.
///
/// ```
/// use sockjs::{Sender, TrySendError};
///
/// // A price feed: a client that cannot keep up skips a price.
/// fn publish(tx: &Sender, price: String) {
///     match tx.try_send(price) {
///         Ok(()) => {}
///         Err(TrySendError::Full(skipped)) => println!("slow client, skipped {skipped}"),
///         Err(TrySendError::Closed(_)) => {}
///     }
/// }
/// # let _ = publish;
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The outgoing queue is full (the client is slow).
    Full(T),
    /// The session is closed.
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the SockJS session's outgoing queue is full"),
            TrySendError::Closed(_) => f.write_str("sending on a closed SockJS session"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl Sender {
    /// The sending half of the session `core`, keeping `life` (shared with
    /// the other halves) alive.
    pub(super) fn new(core: Arc<Core>, policy: QueueFullPolicy, life: Arc<Lifeline>) -> Self {
        Sender {
            core,
            policy,
            _life: life,
        }
    }

    /// Queues a message for the client. Waits while the outgoing queue is
    /// full (under the default [`QueueFullPolicy::Wait`]); fails once the
    /// session is closed.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/greet",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let (tx, _rx) = session.split();
    ///         if tx.send("hello").await.is_err() {
    ///             return; // the client is gone
    ///         }
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/greet").await?;
    /// assert_eq!(connection.recv().await?, "hello");
    /// # Ok(())
    /// # }
    /// ```
    pub fn send(
        &self,
        message: impl Into<String>,
    ) -> impl Future<Output = Result<(), SendError<String>>> + Send + '_ {
        // Not an `async fn`: its future would hold the wait for room
        // inline, some hundred bytes of the handler's state that every
        // message writes. This one is the message and a pointer; the wait,
        // when the queue is full, is boxed.
        let mut message = Some(message.into());
        let mut waiting: Option<WaitForRoom<'_>> = None;
        std::future::poll_fn(move |cx| {
            if let Some(message) = message.take() {
                match self.try_send(message) {
                    Ok(()) => return Poll::Ready(Ok(())),
                    Err(TrySendError::Closed(m)) => return Poll::Ready(Err(SendError(m))),
                    Err(TrySendError::Full(m)) => {
                        waiting = Some(Box::pin(self.core.send_out(m)));
                    }
                }
            }
            let Some(wait) = waiting.as_mut() else {
                // Polled again after it was done.
                return Poll::Ready(Ok(()));
            };
            let sent = std::task::ready!(wait.as_mut().poll(cx));
            waiting = None;
            Poll::Ready(sent.map_err(SendError))
        })
    }

    /// Queues a message without waiting. Under [`QueueFullPolicy::Close`] a
    /// full queue closes the session (`c[1013,"Outgoing queue full"]`).
    ///
    /// ```
    /// use sockjs::TrySendError;
    ///
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, mut rx) = session.split();
    ///     while let Some(message) = rx.recv().await {
    ///         // Never wait on a slow client: drop the echo instead.
    ///         if let Err(TrySendError::Closed(_)) = tx.try_send(message) {
    ///             break;
    ///         }
    ///     }
    /// }
    /// # let _ = handler;
    /// ```
    pub fn try_send(&self, message: impl Into<String>) -> Result<(), TrySendError<String>> {
        match self.core.push_out(message.into()) {
            Ok(()) => Ok(()),
            Err(PushError::Closed(m)) => Err(TrySendError::Closed(m)),
            Err(PushError::Full(m)) => match self.policy {
                QueueFullPolicy::Wait => Err(TrySendError::Full(m)),
                QueueFullPolicy::Close => {
                    self.core.metrics().queue_full(QueueFull::OutClosed);
                    let reason = "Outgoing queue full";
                    self.core.close(
                        close_code::TRY_AGAIN_LATER,
                        reason,
                        CloseReason::ServerClosed {
                            code: close_code::TRY_AGAIN_LATER,
                            reason: reason.into(),
                        },
                    );
                    Err(TrySendError::Closed(m))
                }
            },
        }
    }

    /// Closes the session with a code (1000, or 3000–4999 for
    /// applications) and a reason: the client gets `c[code,"reason"]`.
    /// Messages queued before are delivered first. Does nothing when the
    /// session is already closed.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let app: Router = Router::new().nest(
    ///     "/kick",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let (tx, _rx) = session.split();
    ///         let _ = tx.send("you are kicked").await;
    ///         tx.close(4001, "Kicked");
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/kick").await?;
    /// assert_eq!(connection.recv().await?, "you are kicked");
    /// assert_eq!(
    ///     connection.recv().await,
    ///     Err(Error::Closed { code: 4001, reason: "Kicked".into() })
    /// );
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self, code: u16, reason: &str) {
        self.core.close(
            code,
            reason,
            CloseReason::ServerClosed {
                code,
                reason: reason.into(),
            },
        );
    }

    /// Whether messages can still be sent.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.split();
    ///     tokio::spawn(async move {
    ///         while tx.is_open() {
    ///             let _ = tx.try_send("still here");
    ///             tokio::time::sleep(Duration::from_secs(5)).await;
    ///         }
    ///     });
    /// }
    /// # let _ = handler;
    /// ```
    ///
    /// It turns false as the close begins, whoever closes:
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (report, mut reports) = tokio::sync::mpsc::unbounded_channel();
    /// let app: Router = Router::new().nest(
    ///     "/brief",
    ///     sockjs::router(move |session: sockjs::Session| {
    ///         let report = report.clone();
    ///         async move {
    ///             let (tx, _rx) = session.split();
    ///             let before = tx.is_open();
    ///             tx.close(3000, "That is all");
    ///             let _ = report.send((before, tx.is_open()));
    ///         }
    ///     }),
    /// );
    /// let _connection = Client::in_process(app).open("/brief").await.unwrap();
    /// assert_eq!(reports.recv().await, Some((true, false)));
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        !self.core.is_closed()
    }

    /// Resolves when the session closes, for whatever reason.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.split();
    ///     let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ///     loop {
    ///         tokio::select! {
    ///             _ = tx.closed() => break,
    ///             _ = ticks.tick() => { let _ = tx.send("tick").await; }
    ///         }
    ///     }
    /// }
    /// # let _ = handler;
    /// ```
    ///
    /// It resolves when the client goes, too, without a read on the
    /// [`Receiver`](crate::Receiver):
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::Session;
    /// use sockjs_client::Client;
    /// use tokio::sync::oneshot;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let (ended, on_end) = oneshot::channel();
    /// let ended = std::sync::Mutex::new(Some(ended));
    /// let app: Router = Router::new().nest(
    ///     "/watch",
    ///     sockjs::router(move |session: Session| {
    ///         let ended = ended.lock().unwrap().take();
    ///         async move {
    ///             let (tx, _rx) = session.split();
    ///             tx.closed().await;
    ///             let _ = ended.map(|ended| ended.send(tx.is_open()));
    ///         }
    ///     }),
    /// );
    /// let connection = Client::in_process(app).open("/watch").await?;
    /// connection.close().await;
    /// assert_eq!(on_end.await, Ok(false), "closed, and no longer open");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.core.closed().await
    }

    /// Puts the session in `room` of its service's [`Rooms`], where
    /// [`Rooms::send`] reaches it. It leaves every room when it closes.
    /// Does nothing on a closed session.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/chat",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let (tx, mut rx) = session.split();
    ///         tx.join("lobby");
    ///         tx.rooms().send("lobby", "someone joined");
    ///         while let Some(line) = rx.recv().await {
    ///             tx.rooms().send("lobby", line);
    ///         }
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/chat").await?;
    /// assert_eq!(connection.recv().await?, "someone joined");
    /// # Ok(())
    /// # }
    /// ```
    pub fn join(&self, room: &str) {
        self.core.join(room);
    }

    /// Joins `room` and first replays every message sent to it after
    /// `since` that the room's history still keeps, then the live ones:
    /// none missed, none twice, in position order (the replay and the
    /// room's sends take turns). `since` is the last `pos` the client saw
    /// (see [`Rooms::history`](crate::Rooms::history)), which it sends back
    /// when it reconnects. When that history is gone (too old, another
    /// epoch after a restart, or no history configured) the session joins
    /// all the same and gets [`Lost`](crate::rooms::Lost): reload the
    /// client's state. Joining a room the session is in replays again.
    ///
    /// With history in this process it answers at once; with a broker
    /// that keeps history for every node ([`Broker::history`](crate::rooms::Broker::history))
    /// it waits for the history to be read (at most the broker's timeout,
    /// after which the answer is `Lost`), while what the room gets
    /// meanwhile is held for the session, which gets it after the replay.
    ///
    /// ```
    /// use sockjs::rooms::{History, Position};
    /// use sockjs::{Rooms, Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let rooms = Rooms::new().history(History::messages(100));
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (tx, mut rx) = session.split();
    ///     // The client's first message: the last position it saw, or "new".
    ///     match rx.recv().await.as_deref().map(str::parse::<Position>) {
    ///         Some(Ok(last)) => {
    ///             if tx.join_since("news", last).await.is_err() {
    ///                 let _ = tx.send("reload").await;
    ///             }
    ///         }
    ///         _ => tx.join("news"),
    ///     }
    ///     while rx.recv().await.is_some() {}
    /// })
    /// .rooms(rooms.clone());
    /// let app: axum::Router = axum::Router::new().nest("/news", service.into_router());
    /// let client = Client::in_process(app);
    ///
    /// let mut first = client.open("/news").await?;
    /// first.send("new").await?;
    /// while rooms.members("news") == 0 { tokio::task::yield_now().await; }
    /// rooms.send("news", "one");
    /// let seen = first.recv().await?; // {"room":"news","pos":"…-1","data":"one"}
    /// let last = seen.split("\"pos\":\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
    /// first.close().await;
    ///
    /// rooms.send("news", "two"); // while away
    /// let mut again = client.open("/news").await?;
    /// again.send(last).await?;
    /// assert!(again.recv().await?.ends_with(r#""data":"two"}"#));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn join_since(
        &self,
        room: &str,
        since: crate::rooms::Position,
    ) -> Result<(), crate::rooms::Lost> {
        self.core.join_since(room, since).await
    }

    /// Gives the session the application's own key for its user (a user
    /// id, an account name: never the session id, which is a secret):
    /// the session is then present in its rooms under that key
    /// ([`Rooms::presence`], [`Rooms::presence_events`]), in the rooms it
    /// joined before as in those it joins later, and
    /// [`Rooms::send_to_user`] reaches it. A user's sessions (tabs,
    /// devices, nodes) count once. Set once: false (nothing changed) when
    /// the session already has another key, or is closed.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// #[derive(Clone)]
    /// struct UserId(String); // put in the request's extensions by an auth layer
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let user = session.extensions().get::<UserId>().cloned();
    ///     let (tx, mut rx) = session.split();
    ///     if let Some(UserId(id)) = user {
    ///         assert!(tx.set_user(&id));
    ///         assert!(!tx.set_user("someone else"));
    ///     }
    ///     tx.join("lobby");
    ///     let _ = tx.send(format!("{:?}", tx.user())).await;
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let rooms = service.rooms_handle();
    /// let app: Router = Router::new()
    ///     .nest("/chat", service.into_router())
    ///     .layer(axum::Extension(UserId("alice".into())));
    /// let mut connection = Client::in_process(app).open("/chat").await?;
    /// assert_eq!(connection.recv().await?, r#"Some("alice")"#);
    /// assert_eq!(rooms.presence("lobby").await.users(), ["alice"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_user(&self, user: &str) -> bool {
        self.core.set_user(user)
    }

    /// The session's user key ([`set_user`](Self::set_user)), if it has
    /// one.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.split();
    ///     assert_eq!(tx.user(), None);
    ///     tx.set_user("alice");
    ///     assert_eq!(tx.user(), Some("alice"));
    /// }
    /// # let _ = handler;
    /// ```
    pub fn user(&self) -> Option<&str> {
        self.core.user()
    }

    /// Takes the session out of `room`.
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
    ///     tx.join("news");
    ///     while let Some(command) = rx.recv().await {
    ///         match command.as_str() {
    ///             "mute" => tx.leave("news"),
    ///             "unmute" => tx.join("news"),
    ///             _ => continue,
    ///         }
    ///         let _ = tx.send(format!("{command}d")).await;
    ///     }
    /// });
    /// let rooms = service.rooms_handle();
    /// let app: Router = Router::new().nest("/news", service.into_router());
    /// let mut connection = Client::in_process(app).open("/news").await?;
    ///
    /// connection.send("mute").await?;
    /// assert_eq!(connection.recv().await?, "muted");
    /// assert_eq!(rooms.members("news"), 0);
    /// assert_eq!(rooms.send("news", "headline"), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn leave(&self, room: &str) {
        self.core.leave(room);
    }

    /// The rooms of the session's service: to send to a room or to every
    /// session.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.split();
    ///     let online = tx.rooms().sessions();
    ///     let _ = tx.send(format!("{online} online")).await;
    /// }
    /// # let _ = handler;
    /// ```
    pub fn rooms(&self) -> &Rooms {
        self.core.rooms()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("open", &self.is_open())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::task::{Context, Waker};

    use super::*;
    use crate::metrics::SessionMetrics;
    use crate::session::budget::Bounds;

    fn sender(capacity: usize) -> (Sender, Arc<Core>) {
        let metrics = SessionMetrics::opened(&"test".into(), crate::Transport::XhrPolling);
        let core = Core::new(Bounds::test(capacity, 1 << 20), Rooms::new(), metrics);
        let life = Arc::new(Lifeline(core.clone()));
        (Sender::new(core.clone(), QueueFullPolicy::Wait, life), core)
    }

    /// `send` queues at once while there is room; on a full queue it waits
    /// for room and then queues (in order), or hands the message back
    /// once the session closes.
    #[tokio::test]
    async fn send_waits_for_room_then_queues_or_hands_back_on_close() {
        let (tx, core) = sender(2);
        tx.send("1").await.unwrap();
        tx.send("2").await.unwrap();
        let mut third = std::pin::pin!(tx.send("3"));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        let mut att = core.attach().unwrap_or_else(|_| panic!("attached"));
        let mut batch = crate::session::queue::Queue::default();
        poll_fn(|cx| att.poll_next(cx, &mut batch)).await;
        assert!(third.await.is_ok());
        poll_fn(|cx| att.poll_next(cx, &mut batch)).await;
        let texts: Vec<String> = batch.drain().map(|m| m.into_text()).collect();
        assert_eq!(texts, ["1", "2", "3"]);

        tx.send("4").await.unwrap();
        tx.send("5").await.unwrap();
        let mut sixth = std::pin::pin!(tx.send("6"));
        assert!(sixth.as_mut().poll(&mut cx).is_pending());
        core.close(1000, "bye", CloseReason::TimedOut);
        match sixth.await {
            Err(SendError(m)) => assert_eq!(m, "6"),
            Ok(()) => panic!("queued on a closed session"),
        }
        att.finish();
    }

    /// The errors print what went wrong and never the message handed back
    /// (which may be private, and need not be `Debug`).
    #[test]
    fn errors_say_what_went_wrong_without_the_message() {
        let closed = SendError("secret".to_string());
        assert_eq!(format!("{closed:?}"), "SendError(..)");
        assert_eq!(closed.to_string(), "sending on a closed SockJS session");
        let full = TrySendError::Full("secret".to_string());
        assert_eq!(format!("{full:?}"), "Full(..)");
        assert_eq!(
            full.to_string(),
            "the SockJS session's outgoing queue is full"
        );
        let closed = TrySendError::Closed("secret".to_string());
        assert_eq!(format!("{closed:?}"), "Closed(..)");
        assert_eq!(closed.to_string(), "sending on a closed SockJS session");
    }
}
