//! Why sessions end, and the close codes SockJS uses.

use std::fmt;

/// Close codes that appear in SockJS close frames `c[code,"reason"]`
/// (defined in `sockjs-proto`, shared with the client), and
/// [`reason`](close_code::reason), the standard reason text of a code.
///
/// ```
/// use sockjs::close_code;
///
/// async fn handler(session: sockjs::Session) {
///     let (tx, mut rx) = session.split();
///     while let Some(message) = rx.recv().await {
///         if message == "quit" {
///             tx.close(close_code::GO_AWAY, "Go away!");
///         }
///     }
/// }
/// # let _ = handler;
/// ```
///
/// [`NORMAL`](close_code::NORMAL) when the handler returned or dropped
/// both halves:
///
/// ```
/// use axum::Router;
/// use sockjs::{close_code, Session};
/// use sockjs_client::{Client, Error};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let app: Router = Router::new().nest(
///     "/once",
///     sockjs::router(|session: Session| async move {
///         let _ = session.sender().send("bye").await;
///         // Returning drops the session: it closes normally.
///     }),
/// );
/// let mut connection = Client::in_process(app).open("/once").await?;
/// assert_eq!(connection.recv().await?, "bye");
/// assert_eq!(
///     connection.recv().await,
///     Err(Error::Closed { code: close_code::NORMAL, reason: "Normal closure".into() })
/// );
/// # Ok(())
/// # }
/// ```
///
/// [`GOING_AWAY`](close_code::GOING_AWAY) from [`Shutdown`](crate::Shutdown);
/// [`TRY_AGAIN_LATER`](close_code::TRY_AGAIN_LATER) when a session's queue
/// overflowed under [`QueueFullPolicy::Close`](crate::QueueFullPolicy::Close);
/// [`TOO_BIG`](close_code::TOO_BIG) for a WebSocket message over the
/// configured maximum:
///
/// ```
/// use axum::Router;
/// use sockjs::{close_code, Config, Session, SockJsRouter};
/// use sockjs_client::{Client, Error};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let service = SockJsRouter::new(|session: Session| async move {
///     let (_tx, mut rx) = session.split();
///     while rx.recv().await.is_some() {}
/// })
/// .config(Config::default().max_message_size(16));
/// let app: Router = Router::new().nest("/small", service.into_router());
///
/// let mut connection = Client::in_process(app).open("/small").await?;
/// connection.send("x".repeat(100)).await?;
/// match connection.recv().await {
///     Err(Error::Closed { code, .. }) => assert_eq!(code, close_code::TOO_BIG),
///     other => panic!("expected a close, got {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
///
/// [`ANOTHER_CONNECTION`](close_code::ANOTHER_CONNECTION) when a second
/// receiving connection is refused while one is open:
///
/// ```
/// use axum::Router;
/// use sockjs::{close_code, Session};
/// use sockjs_client::{Client, Error, Transport};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let app: Router = Router::new().nest(
///     "/chat",
///     sockjs::router(|session: Session| async move {
///         let (_tx, mut rx) = session.split();
///         while rx.recv().await.is_some() {}
///     }),
/// );
/// // Two xhr-streaming receivers on one session id.
/// let client = Client::in_process(app)
///     .transport(Transport::XhrStreaming)
///     .session_id("one");
/// let _first = client.open("/chat").await?;
/// assert_eq!(
///     client.open("/chat").await.unwrap_err(),
///     Error::Closed {
///         code: close_code::ANOTHER_CONNECTION,
///         reason: close_code::reason(close_code::ANOTHER_CONNECTION).unwrap().into(),
///     }
/// );
/// # Ok(())
/// # }
/// ```
pub mod close_code {
    #[doc(inline)]
    pub use sockjs_proto::close_code::*;
}

/// The standard reason text of a close code the server sends on its own
/// (`close_code::reason`): each text is written once, in `sockjs-proto`.
/// Empty for a code without one (none of the server's own).
pub(crate) const fn standard_reason(code: u16) -> &'static str {
    match close_code::reason(code) {
        Some(reason) => reason,
        None => "",
    }
}

/// Why a session ended, as the [`Receiver`](crate::Receiver) reports it
/// once its stream is over.
///
/// ```
/// use sockjs::CloseReason;
///
/// async fn handler(session: sockjs::Session) {
///     let (tx, mut rx) = session.split();
///     while let Some(message) = rx.recv().await {
///         let _ = tx.send(message).await;
///     }
///     match rx.close_reason() {
///         Some(CloseReason::TimedOut | CloseReason::Interrupted) => println!("client vanished"),
///         Some(CloseReason::TransportError(why)) => println!("broken client: {why}"),
///         Some(reason) => println!("closed: {reason}"),
///         None => unreachable!("the stream ends only once the session is closed"),
///     }
/// }
/// # let _ = handler;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server closed it: [`Sender::close`](crate::Sender::close), or the
    /// handler let go of both halves (code 1000, `Normal closure`).
    ServerClosed {
        /// The close code sent to the client.
        code: u16,
        /// The reason sent to the client.
        reason: String,
    },
    /// The client closed its WebSocket.
    ClientClosed,
    /// No receiving request arrived within the disconnect delay (the
    /// client went away without a word, which is how HTTP transports end).
    TimedOut,
    /// The receiving connection was cut in the middle (close code 1002).
    ///
    /// This is also how a polling client's `close()` shows up: sockjs-client
    /// ends xhr-polling and jsonp-polling sessions by aborting the pending
    /// poll, so the server sees an interruption, as sockjs-node does.
    Interrupted,
    /// The client broke the protocol (broken JSON framing, a message over
    /// the size limit) or the connection failed; the text says what.
    TransportError(String),
    /// A write to the client could not complete within
    /// [`Config::send_timeout`](crate::Config::send_timeout): the client
    /// stopped reading.
    Stalled,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ServerClosed { code, reason } => {
                write!(f, "closed by the server ({code} {reason})")
            }
            CloseReason::ClientClosed => f.write_str("closed by the client"),
            CloseReason::TimedOut => f.write_str("timed out waiting for the client"),
            CloseReason::Interrupted => f.write_str("connection interrupted"),
            CloseReason::TransportError(e) => write!(f, "transport error: {e}"),
            CloseReason::Stalled => f.write_str("client stopped reading"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_the_server_sends_on_its_own_has_its_standard_reason() {
        for (code, reason) in [
            (close_code::NORMAL, "Normal closure"),
            (close_code::GOING_AWAY, "Server shutting down"),
            (close_code::INTERRUPTED, "Connection interrupted"),
            (close_code::TOO_BIG, "Message too big"),
            (
                close_code::ANOTHER_CONNECTION,
                "Another connection still open",
            ),
        ] {
            assert_eq!(standard_reason(code), reason);
        }
    }
}
