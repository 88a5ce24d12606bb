//! [`Receiver`]: the application's receiving half of a session, a stream
//! of the client's messages.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;

use super::close::CloseReason;
use super::core::Core;
use super::lifeline::Lifeline;

/// The receiving half: a [`Stream`] of the client's messages that ends
/// exactly once, when the session closes; [`close_reason`](Self::close_reason)
/// then says why.
///
/// ```
/// use axum::Router;
/// use futures_util::StreamExt;
/// use sockjs_client::Client;
///
/// async fn handler(session: sockjs::Session) {
///     let (tx, rx) = session.split();
///     // As a stream: the client's messages, upper-cased, ten at most.
///     let mut shouts = rx.map(|m| m.to_uppercase()).take(10);
///     while let Some(shout) = shouts.next().await {
///         let _ = tx.send(shout).await;
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// let app: Router = Router::new().nest("/shout", sockjs::router(handler));
/// let mut connection = Client::in_process(app).open("/shout").await?;
/// connection.send("hello").await?;
/// assert_eq!(connection.recv().await?, "HELLO");
/// # Ok(())
/// # }
/// ```
pub struct Receiver {
    core: Arc<Core>,
    _life: Arc<Lifeline>,
}

impl Receiver {
    /// The receiving half of the session `core`, keeping `life` (shared
    /// with the senders) alive.
    pub(super) fn new(core: Arc<Core>, life: Arc<Lifeline>) -> Self {
        Receiver { core, _life: life }
    }

    /// The session's core.
    pub(super) fn core(&self) -> &Arc<Core> {
        &self.core
    }
}

impl Receiver {
    /// The next message from the client, or `None` once the session closed.
    ///
    /// ```
    /// async fn echo(session: sockjs::Session) {
    ///     let (tx, mut rx) = session.split();
    ///     while let Some(message) = rx.recv().await {
    ///         let _ = tx.send(message).await;
    ///     }
    ///     // `None`: the session is closed.
    /// }
    /// # let _ = echo;
    /// ```
    pub fn recv(&mut self) -> impl Future<Output = Option<String>> + Send + '_ {
        // Not an `async fn`: its future is this pointer alone.
        std::future::poll_fn(move |cx| self.core.poll_in(cx))
    }

    /// Why the session ended; `None` while it is open.
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs::CloseReason;
    /// use sockjs_client::Client;
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let (report, mut reports) = mpsc::unbounded_channel();
    /// let app: Router = Router::new().nest(
    ///     "/chat",
    ///     sockjs::router(move |session: sockjs::Session| {
    ///         let report = report.clone();
    ///         async move {
    ///             let (_tx, mut rx) = session.split();
    ///             assert_eq!(rx.close_reason(), None); // still open
    ///             while rx.recv().await.is_some() {}
    ///             let _ = report.send(rx.close_reason());
    ///         }
    ///     }),
    /// );
    /// let connection = Client::in_process(app).open("/chat").await?;
    /// connection.close().await; // a WebSocket: the client's closing handshake
    /// assert_eq!(reports.recv().await.flatten(), Some(CloseReason::ClientClosed));
    /// # Ok(())
    /// # }
    /// ```
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.core.reason()
    }
}

impl Stream for Receiver {
    type Item = String;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.core.poll_in(cx)
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("close_reason", &self.close_reason())
            .finish()
    }
}
