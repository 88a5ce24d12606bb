//! An open connection and its two halves: [`Sender`] (a cloneable
//! `Sink<String>`) and [`Receiver`] (a `Stream` of messages).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use crate::channels::{Command, Shared};
use crate::error::Error;
use sockjs_proto::Transport;

/// An open SockJS connection: send and receive text messages.
///
/// Messages arrive in order, one by one (the server's batches `a[...]` are
/// unbatched, its heartbeats are handled); [`recv`](Self::recv) then
/// returns the [`Error`] that ended the connection, for example
/// [`Error::Closed`] with the server's close code and reason. It is also a
/// [`Stream`] of `Result<String, Error>` and a [`Sink<String>`], and
/// [`split`](Self::split)s into a [`Sender`] and a [`Receiver`] to use
/// from different tasks.
///
/// Dropping the connection (both halves) closes it like
/// [`close`](Self::close), in the background.
///
/// ```no_run
/// # async fn demo() -> Result<(), sockjs_client::Error> {
/// let mut connection = sockjs_client::Client::connect("http://127.0.0.1:8080/echo").await?;
/// connection.send("hello").await?;
/// assert_eq!(connection.recv().await?, "hello");
/// connection.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection {
    sender: Sender,
    receiver: Receiver,
}

impl Connection {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        incoming: mpsc::Receiver<String>,
        shared: Arc<Shared>,
    ) -> Self {
        Connection {
            sender: Sender::new(commands, shared.clone()),
            receiver: Receiver {
                incoming,
                shared,
                finished: false,
            },
        }
    }

    /// The transport the connection runs on.
    ///
    /// ```
    /// use sockjs_client::{Client, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// // The first transport of the default order that opens.
    /// let connection = Client::in_process(app).open("/echo").await?;
    /// assert_eq!(connection.transport(), Transport::WebSocket);
    /// assert_eq!(connection.transport().to_string(), "websocket");
    /// # Ok(())
    /// # }
    /// ```
    pub fn transport(&self) -> Transport {
        self.sender.transport()
    }

    /// Queues a message; see [`Sender::send`].
    ///
    /// ```
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// let mut connection = Client::in_process(app).open("/echo").await?;
    /// connection.send("one").await?;
    /// connection.send(String::from("two")).await?;
    /// assert_eq!(connection.recv().await?, "one");
    /// assert_eq!(connection.recv().await?, "two");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(&self, message: impl Into<String>) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// The next message; see [`Receiver::recv`].
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let app: Router = Router::new().nest(
    ///     "/news",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         let tx = session.sender();
    ///         let _ = tx.send("first").await;
    ///         let _ = tx.send("second").await;
    ///         tx.close(3000, "That is all");
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/news").await.unwrap();
    /// assert_eq!(connection.recv().await.unwrap(), "first");
    /// assert_eq!(connection.recv().await.unwrap(), "second");
    /// let end = Error::Closed { code: 3000, reason: "That is all".into() };
    /// assert_eq!(connection.recv().await, Err(end.clone()));
    /// assert_eq!(connection.recv().await, Err(end), "the same error on every call");
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Result<String, Error> {
        self.receiver.recv().await
    }

    /// Closes the connection; see [`Sender::close`].
    ///
    /// ```
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// let mut connection = Client::in_process(app).open("/echo").await?;
    /// connection.close().await;
    /// assert_eq!(connection.recv().await, Err(Error::ClosedByClient));
    /// assert_eq!(connection.send("late").await, Err(Error::ClosedByClient));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(&self) {
        self.sender.close().await
    }

    /// Whether the connection is still open (neither closed nor ended).
    ///
    /// ```
    /// use axum::Router;
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// let app: Router = Router::new().nest(
    ///     "/bye",
    ///     sockjs::router(|session: sockjs::Session| async move {
    ///         session.sender().close(3000, "Go away!");
    ///     }),
    /// );
    /// let mut connection = Client::in_process(app).open("/bye").await?;
    /// let _ = connection.recv().await; // the close frame
    /// assert!(!connection.is_open());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        self.sender.is_open()
    }

    /// The two halves, to send and receive from different tasks.
    ///
    /// ```
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// let (tx, mut rx) = Client::in_process(app).open("/echo").await?.split();
    /// let writer = tokio::spawn(async move {
    ///     for n in 0..3 {
    ///         tx.send(n.to_string()).await?;
    ///     }
    ///     Ok::<_, sockjs_client::Error>(())
    /// });
    /// for n in 0..3 {
    ///     assert_eq!(rx.recv().await?, n.to_string());
    /// }
    /// writer.await.unwrap()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }
}

impl Stream for Connection {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.receiver).poll_next(cx)
    }
}

impl Sink<String> for Connection {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.sender).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Error> {
        Pin::new(&mut self.sender).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.sender).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.sender).poll_close(cx)
    }
}

/// The sending half: cloneable, and a [`Sink<String>`].
///
/// Messages are sent in the order they were queued, batched when several
/// are waiting (one `xhr_send` body or WebSocket message carries them
/// all). As a `Sink`, flushing means the messages were handed to the
/// connection's task, and closing the sink closes the connection.
///
/// ```
/// use futures_util::SinkExt;
/// use sockjs_client::Client;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
/// #     let (tx, mut rx) = session.split();
/// #     while let Some(message) = rx.recv().await {
/// #         let _ = tx.send(message).await;
/// #     }
/// # }));
/// let (tx, mut rx) = Client::in_process(app).open("/echo").await?.split();
/// // Clones share the connection; as a Sink, a sender takes Strings.
/// let mut sink = tx.clone();
/// sink.send("from the sink".to_string()).await?;
/// tx.send("from the clone").await?;
/// assert_eq!(rx.recv().await?, "from the sink");
/// assert_eq!(rx.recv().await?, "from the clone");
/// # Ok(())
/// # }
/// ```
pub struct Sender {
    commands: mpsc::Sender<Command>,
    sink: PollSender<Command>,
    shared: Arc<Shared>,
    /// `Sink::poll_close` in progress (in a mutex only to keep `Sender` `Sync`).
    closing: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
}

impl Sender {
    fn new(commands: mpsc::Sender<Command>, shared: Arc<Shared>) -> Self {
        Sender {
            sink: PollSender::new(commands.clone()),
            commands,
            shared,
            closing: Mutex::new(None),
        }
    }

    /// The transport the connection runs on.
    ///
    /// ```
    /// use sockjs_client::{Client, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// let client = Client::in_process(app).transport(Transport::XhrPolling);
    /// let (tx, rx) = client.open("/echo").await?.split();
    /// assert_eq!(tx.transport(), Transport::XhrPolling);
    /// assert_eq!(rx.transport(), Transport::XhrPolling);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transport(&self) -> Transport {
        self.shared.transport
    }

    /// Queues a message for the server. Waits while many messages are
    /// already queued (the server or the network is slow). Fails with
    /// the error that ended the connection once it is over, or with
    /// [`Error::ClosedByClient`] once [`close`](Self::close) was called.
    ///
    /// ```
    /// use sockjs_client::{Client, Error, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// // Over xhr-polling, the three go out in one `xhr_send` when they queue up.
    /// let client = Client::in_process(app).transport(Transport::XhrPolling);
    /// let (tx, mut rx) = client.open("/echo").await?.split();
    /// for message in ["a", "b", "c"] {
    ///     tx.send(message).await?;
    /// }
    /// assert_eq!(rx.recv().await?, "a");
    /// assert_eq!(rx.recv().await?, "b");
    /// assert_eq!(rx.recv().await?, "c");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(&self, message: impl Into<String>) -> Result<(), Error> {
        if let Some(refusal) = self.shared.refuses_sends() {
            return Err(refusal);
        }
        self.commands
            .send(Command::Send(message.into()))
            .await
            .map_err(|_| self.shared.end_or_gone())
    }

    /// Closes the connection after the messages queued before, and
    /// returns once it is closed. On a WebSocket this is the closing
    /// handshake (code 1000). The HTTP transports have no close message:
    /// the client drops its pending receiving request and stops, as
    /// sockjs-client does, and the server ends the session as interrupted
    /// or, between two polls, after its `disconnect_delay`. Does nothing
    /// more when the connection is already over.
    ///
    /// ```
    /// use sockjs_client::{Client, Error};
    /// use tokio::sync::mpsc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// // The server hands what it receives to the test.
    /// let (got, mut server_got) = mpsc::unbounded_channel();
    /// let app: axum::Router = axum::Router::new().nest(
    ///     "/log",
    ///     sockjs::router(move |session: sockjs::Session| {
    ///         let got = got.clone();
    ///         async move {
    ///             let (_tx, mut rx) = session.split();
    ///             while let Some(message) = rx.recv().await {
    ///                 let _ = got.send(message);
    ///             }
    ///         }
    ///     }),
    /// );
    /// let (tx, mut rx) = Client::in_process(app).open("/log").await?.split();
    /// tx.send("last words").await?;
    /// tx.close().await;
    /// // Queued before the close, so sent; then this side's end.
    /// assert_eq!(server_got.recv().await.as_deref(), Some("last words"));
    /// assert_eq!(rx.recv().await, Err(Error::ClosedByClient));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn close(&self) {
        close(self.commands.clone(), self.shared.clone()).await
    }

    /// Whether the connection is still open (neither closed nor ended).
    ///
    /// ```
    /// use sockjs_client::Client;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// let (tx, _rx) = Client::in_process(app).open("/echo").await?.split();
    /// let other = tx.clone();
    /// assert!(other.is_open());
    /// tx.close().await;
    /// assert!(!other.is_open(), "one connection for every clone");
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_open(&self) -> bool {
        self.shared.refuses_sends().is_none()
    }
}

/// Asks the task to close after what is queued, and waits until it is over.
async fn close(commands: mpsc::Sender<Command>, shared: Arc<Shared>) {
    shared.closing.store(true, Ordering::Release);
    let mut done = shared.done.subscribe();
    let _ = commands.send(Command::Close).await;
    let _ = done.wait_for(|done| *done).await;
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        Sender::new(self.commands.clone(), self.shared.clone())
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("transport", &self.shared.transport)
            .field("open", &self.is_open())
            .finish()
    }
}

impl Sink<String> for Sender {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(refusal) = self.shared.refuses_sends() {
            return Poll::Ready(Err(refusal));
        }
        let this = &mut *self;
        Pin::new(&mut this.sink)
            .poll_ready(cx)
            .map_err(|_| this.shared.end_or_gone())
    }

    fn start_send(mut self: Pin<&mut Self>, item: String) -> Result<(), Error> {
        let this = &mut *self;
        Pin::new(&mut this.sink)
            .start_send(Command::Send(item))
            .map_err(|_| this.shared.end_or_gone())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Every item is in the channel once `start_send` returned.
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = &mut *self;
        // Over: the closing future (which waits for this) is not polled
        // again once it completed.
        if *this.shared.done.borrow() {
            return Poll::Ready(Ok(()));
        }
        let closing = this
            .closing
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert_with(|| Box::pin(close(this.commands.clone(), this.shared.clone())));
        closing.as_mut().poll(cx).map(Ok)
    }
}

/// The receiving half: the server's messages, in order.
///
/// Up to 256 received messages wait here for the application; past that
/// the connection stops reading from the server, which then holds back
/// (on a WebSocket or xhr-streaming) or, on xhr-polling, which has no
/// request open meanwhile, ends the session after its `disconnect_delay`.
///
/// As a [`Stream`] it yields `Ok(message)`s, then, unless this side closed
/// the connection, one `Err` saying how it ended (for example
/// [`Error::Closed`] with the server's code and reason), then ends.
///
/// ```
/// use axum::Router;
/// use futures_util::StreamExt;
/// use sockjs_client::{Client, Error};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app: Router = Router::new().nest(
///     "/count",
///     sockjs::router(|session: sockjs::Session| async move {
///         for n in 1..=3 {
///             let _ = session.sender().send(n.to_string()).await;
///         }
///         session.sender().close(3000, "Done");
///     }),
/// );
/// let (_tx, rx) = Client::in_process(app).open("/count").await.unwrap().split();
/// let items: Vec<Result<String, Error>> = rx.collect().await;
/// assert_eq!(
///     items,
///     [
///         Ok("1".into()),
///         Ok("2".into()),
///         Ok("3".into()),
///         Err(Error::Closed { code: 3000, reason: "Done".into() }),
///     ]
/// );
/// # }
/// ```
pub struct Receiver {
    incoming: mpsc::Receiver<String>,
    shared: Arc<Shared>,
    /// The stream has ended.
    finished: bool,
}

impl Receiver {
    /// The transport the connection runs on.
    ///
    /// ```
    /// use sockjs_client::{Client, Transport};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs_client::Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|_session: sockjs::Session| async {}));
    /// let client = Client::in_process(app).transport(Transport::XhrStreaming);
    /// let (_tx, rx) = client.open("/echo").await?.split();
    /// assert_eq!(rx.transport(), Transport::XhrStreaming);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transport(&self) -> Transport {
        self.shared.transport
    }

    /// The next message. Once the connection is over, the error that ended
    /// it, on every call: [`Error::Closed`] when the server closed the
    /// session, [`Error::ClosedByClient`] after [`Sender::close`], ...
    ///
    /// ```
    /// use sockjs_client::{Client, Error};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// # let app: axum::Router = axum::Router::new().nest("/echo", sockjs::router(|session: sockjs::Session| async move {
    /// #     let (tx, mut rx) = session.split();
    /// #     while let Some(message) = rx.recv().await {
    /// #         let _ = tx.send(message).await;
    /// #     }
    /// # }));
    /// let (tx, mut rx) = Client::in_process(app).open("/echo").await?.split();
    /// tx.send("ping").await?;
    /// assert_eq!(rx.recv().await?, "ping");
    /// tx.close().await;
    /// assert_eq!(rx.recv().await, Err(Error::ClosedByClient));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Result<String, Error> {
        match self.incoming.recv().await {
            Some(message) => Ok(message),
            None => Err(self.shared.end_or_gone()),
        }
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("transport", &self.shared.transport)
            .field("end", &self.shared.end())
            .finish()
    }
}

impl Stream for Receiver {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.incoming.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Some(Ok(message))),
            Poll::Ready(None) => {
                self.finished = true;
                match self.shared.end_or_gone() {
                    Error::ClosedByClient => Poll::Ready(None),
                    end => Poll::Ready(Some(Err(end))),
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_can_be_shared_and_moved_between_tasks() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Connection>();
        send_sync::<Sender>();
        send_sync::<Receiver>();
    }
}
