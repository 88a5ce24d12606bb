//! [`Shutdown`]: stop taking sessions, close the open ones on every
//! transport, and wait until they are gone.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::Notify;

use crate::session::close_code;
use crate::session::core::Core;
use crate::session::{standard_reason, CloseReason};

/// The reason sent with [`close_code::GOING_AWAY`] by [`Shutdown::begin`].
const SHUTDOWN_REASON: &str = standard_reason(close_code::GOING_AWAY);

/// A cloneable handle that shuts down every SockJS service it was given to
/// ([`SockJsRouter::shutdown`](crate::SockJsRouter::shutdown)); each
/// `SockJsRouter` has one of its own otherwise
/// ([`SockJsRouter::shutdown_handle`](crate::SockJsRouter::shutdown_handle)).
///
/// Once [`begin`](Self::begin) is called, requests that would open a
/// session (and `/info`) answer `503 Server shutting down.`; requests of
/// open sessions are still served, so that each can be delivered its close
/// frame.
///
/// axum's `with_graceful_shutdown` waits for HTTP requests in progress, so
/// an open streaming response holds it until the client leaves, and it does
/// not know about upgraded WebSockets at all. A `Shutdown` handle closes the
/// sessions themselves, through the same path as [`Sender::close`](crate::Sender::close):
/// each gets the messages queued before, then `c[1001,"Server shutting down"]`
/// and a clean end of its connection. Run it inside the graceful-shutdown
/// future, so axum keeps serving while polling clients come back for their
/// close frame, and stops only once the sessions are gone (`sockjs::serve`
/// does this for you: `.shutdown(handle)`):
///
/// ```no_run
/// use std::time::Duration;
/// use axum::Router;
/// use sockjs::{SockJsRouter, Shutdown};
///
/// # async fn run() -> std::io::Result<()> {
/// let shutdown = Shutdown::new();
/// let echo = SockJsRouter::new(|session: sockjs::Session| async move {
///     let (tx, mut rx) = session.split();
///     while let Some(message) = rx.recv().await {
///         let _ = tx.send(message).await;
///     }
/// })
/// .shutdown(shutdown.clone())
/// .into_router();
/// let app: Router = Router::new().nest("/echo", echo);
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(async move {
///         let _ = tokio::signal::ctrl_c().await;
///         let report = shutdown.graceful(Duration::from_secs(10)).await;
///         println!("{} sessions closed, {} cut off", report.sessions, report.forced);
///     })
///     .await
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    registry: Arc<Registry>,
}

/// What [`Shutdown::graceful`] did.
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shutdown = sockjs::Shutdown::new();
/// let report = shutdown.graceful(Duration::from_secs(10)).await;
/// if report.forced > 0 {
///     eprintln!("{} of {} sessions cut off", report.forced, report.sessions);
/// }
/// assert_eq!((report.sessions, report.forced), (0, 0));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Sessions open when the shutdown began.
    pub sessions: usize,
    /// Sessions still not closed at the deadline, cut off without their
    /// close frame.
    pub forced: usize,
}

impl Shutdown {
    /// A handle with no sessions yet.
    ///
    /// ```
    /// use sockjs::{Session, Shutdown, SockJsRouter};
    ///
    /// let shutdown = Shutdown::new();
    /// let service = SockJsRouter::new(|_session: Session| async {}).shutdown(shutdown.clone());
    /// assert_eq!(shutdown.open_sessions(), 0);
    /// ```
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Starts shutting down: new sessions are refused from now on, and
    /// every open one is closed with 1001 `Server shutting down` (its queued
    /// messages are delivered first). Does nothing the second time.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{close_code, Session, SockJsRouter};
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let shutdown = service.shutdown_handle();
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    /// let client = Client::in_process(app);
    /// let mut connection = client.open("/chat").await?;
    ///
    /// shutdown.begin();
    /// assert_eq!(
    ///     connection.recv().await,
    ///     Err(Error::Closed { code: close_code::GOING_AWAY, reason: "Server shutting down".into() })
    /// );
    /// // New sessions are refused.
    /// assert!(matches!(client.open("/chat").await, Err(Error::Status { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn begin(&self) {
        self.begin_with(close_code::GOING_AWAY, SHUTDOWN_REASON);
    }

    /// Like [`begin`](Self::begin), with your own close code and reason.
    ///
    /// ```
    /// let shutdown = sockjs::Shutdown::new();
    /// // Clients of this app reconnect after a 4000.
    /// shutdown.begin_with(4000, "Back in 5 minutes");
    /// assert!(shutdown.is_shutting_down());
    /// ```
    pub fn begin_with(&self, code: u16, reason: &str) {
        let registry = &self.registry;
        if registry.closing.set((code, reason.into())).is_err() {
            return;
        }
        tracing::info!(sessions = registry.sessions.len(), "sockjs shutting down");
        for entry in registry.sessions.iter() {
            close(entry.value(), code, reason);
        }
    }

    /// Whether [`begin`](Self::begin) was called.
    ///
    /// ```
    /// let shutdown = sockjs::Shutdown::new();
    /// assert!(!shutdown.is_shutting_down());
    /// shutdown.begin();
    /// assert!(shutdown.is_shutting_down());
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.registry.closing.get().is_some()
    }

    /// Sessions open now, on every transport: WebSockets until their
    /// closing handshake is over, HTTP sessions until they are forgotten
    /// (`disconnect_delay` after their last request).
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let shutdown = service.shutdown_handle();
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    ///
    /// let _connection = Client::in_process(app).open("/chat").await?;
    /// assert_eq!(shutdown.open_sessions(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_sessions(&self) -> usize {
        self.registry.sessions.len()
    }

    /// Resolves once no session is left to close: each closed session has
    /// had its close frame delivered (or ended its WebSocket, or timed out
    /// without a client to deliver it to).
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let shutdown = service.shutdown_handle();
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    /// let mut connection = Client::in_process(app).open("/chat").await?;
    ///
    /// shutdown.begin();
    /// let _ = connection.recv().await; // the client reads its close frame
    /// tokio::time::timeout(Duration::from_secs(5), shutdown.drained())
    ///     .await
    ///     .expect("every session closed");
    /// assert_eq!(shutdown.open_sessions(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn drained(&self) {
        let registry = &self.registry;
        loop {
            let changed = registry.drained.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if registry.undrained.load(Ordering::Acquire) == 0 {
                return;
            }
            changed.await;
        }
    }

    /// The whole shutdown: [`begin`](Self::begin), then wait until
    /// [`drained`](Self::drained) or `deadline`, whichever comes first.
    /// Sessions still open at the deadline are cut off: their queued
    /// messages are dropped and their connections ended.
    ///
    /// ```
    /// use std::time::Duration;
    /// use axum::Router;
    /// use sockjs::{Session, SockJsRouter};
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let service = SockJsRouter::new(|session: Session| async move {
    ///     let (_tx, mut rx) = session.split();
    ///     while rx.recv().await.is_some() {}
    /// });
    /// let shutdown = service.shutdown_handle();
    /// let app: Router = Router::new().nest("/chat", service.into_router());
    /// let _connection = Client::in_process(app).open("/chat").await?;
    ///
    /// let report = shutdown.graceful(Duration::from_secs(5)).await;
    /// assert_eq!((report.sessions, report.forced), (1, 0));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn graceful(&self, deadline: Duration) -> ShutdownReport {
        let sessions = self.registry.undrained.load(Ordering::Acquire);
        self.begin();
        if tokio::time::timeout(deadline, self.drained()).await.is_ok() {
            return ShutdownReport {
                sessions,
                forced: 0,
            };
        }
        let forced = self.force();
        tracing::warn!(forced, "sockjs shutdown deadline passed: sessions cut off");
        // Cut-off sessions end at their next poll; give them a moment.
        let _ = tokio::time::timeout(Duration::from_secs(1), self.drained()).await;
        ShutdownReport { sessions, forced }
    }

    /// Ends every session that is not drained yet, without its close frame.
    fn force(&self) -> usize {
        let registry = &self.registry;
        registry.forced.store(true, Ordering::Release);
        registry.force.notify_waiters();
        let (code, reason) = registry
            .closing
            .get()
            .cloned()
            .unwrap_or_else(|| (close_code::GOING_AWAY, SHUTDOWN_REASON.into()));
        let mut forced = 0;
        for entry in registry.sessions.iter() {
            if !entry.value().close_delivered() {
                forced += 1;
                entry.value().finish(CloseReason::ServerClosed {
                    code,
                    reason: reason.to_string(),
                });
            }
        }
        forced
    }

    /// Enters a session; it counts as open until the ticket is dropped and
    /// as not drained until [`Ticket::drained`]. A session entered after the
    /// shutdown began is closed at once.
    pub(crate) fn register(&self, core: &Arc<Core>) -> Ticket {
        let registry = &self.registry;
        let id = registry.next_id.fetch_add(1, Ordering::Relaxed);
        registry.undrained.fetch_add(1, Ordering::AcqRel);
        registry.sessions.insert(id, core.clone());
        // After the insert: either `begin_with` sees this session in the
        // map, or this sees its `closing` (the map's lock orders the two).
        if let Some((code, reason)) = registry.closing.get() {
            close(core, *code, reason);
        }
        Ticket {
            registry: registry.clone(),
            id,
            drained: false,
        }
    }

    /// Resolves when the deadline of [`graceful`](Self::graceful) passed
    /// and open sessions are cut off.
    pub(crate) async fn forced(&self) {
        let registry = &self.registry;
        loop {
            let force = registry.force.notified();
            tokio::pin!(force);
            force.as_mut().enable();
            if registry.forced.load(Ordering::Acquire) {
                return;
            }
            force.await;
        }
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("shutting_down", &self.is_shutting_down())
            .field("open_sessions", &self.open_sessions())
            .finish()
    }
}

fn close(core: &Core, code: u16, reason: &str) {
    core.close(
        code,
        reason,
        CloseReason::ServerClosed {
            code,
            reason: reason.into(),
        },
    );
}

/// The open sessions of every service sharing one [`Shutdown`].
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    sessions: DashMap<u64, Arc<Core>>,
    /// Entered sessions whose close frame has not been delivered yet.
    undrained: AtomicUsize,
    /// Woken when `undrained` reaches zero.
    drained: Notify,
    /// Set by `begin`: the close code and reason of the shutdown.
    closing: OnceLock<(u16, Box<str>)>,
    /// Set when the deadline passed.
    forced: AtomicBool,
    force: Notify,
}

/// A session's entry in its [`Shutdown`] registry.
pub(crate) struct Ticket {
    registry: Arc<Registry>,
    id: u64,
    drained: bool,
}

impl Ticket {
    /// The session has nothing more to deliver: its close frame went out,
    /// or it ended. Counted once.
    pub(crate) fn drained(&mut self) {
        if std::mem::replace(&mut self.drained, true) {
            return;
        }
        if self.registry.undrained.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.registry.drained.notify_waiters();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.sessions.remove(&self.id);
        self.drained();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_says_whether_it_began_and_how_many_sessions_are_open() {
        let shutdown = Shutdown::new();
        assert_eq!(
            format!("{shutdown:?}"),
            "Shutdown { shutting_down: false, open_sessions: 0 }"
        );
        shutdown.begin();
        assert_eq!(
            format!("{shutdown:?}"),
            "Shutdown { shutting_down: true, open_sessions: 0 }"
        );
    }
}
