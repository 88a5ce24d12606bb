//! What the session loop needs of a WebSocket, whatever version of the
//! protocol it speaks, and how every connection ends: the closing handshake.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What a socket delivered.
pub(crate) enum Incoming {
    /// A text message.
    Text(String),
    /// Nothing for the application (ping, pong, binary).
    Nothing,
    /// The client sent its close frame (or ended the connection).
    Closed,
}

/// Why reading from a socket failed.
pub(crate) enum RecvError {
    /// A message over the configured maximum size.
    TooBig,
    /// A protocol or I/O failure, described.
    Failed(String),
}

/// The byte stream under a WebSocket.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What the session loop needs of a socket, so RFC 6455 and hixie-76
/// sockets share it. `recv` must be cancel-safe.
pub(crate) trait Socket: Send {
    /// Sends one text message.
    fn send_text(&mut self, text: String) -> impl Future<Output = Result<(), String>> + Send;
    /// The next incoming message; an error is a protocol or I/O failure.
    fn recv(&mut self) -> impl Future<Output = Result<Incoming, RecvError>> + Send;
    /// Writes the close frame and flushes: ours with `code` and `reason`,
    /// or (`None`) the reply to the client's close frame.
    fn send_close(&mut self, close: Option<(u16, &str)>) -> impl Future<Output = ()> + Send;
    /// The connection under the WebSocket framing.
    fn io(&mut self) -> &mut dyn Io;
}

/// What a connection sends last.
pub(crate) struct Goodbye {
    /// A last text message before the close frame (SockJS's `c[...]`).
    pub(crate) last_text: Option<String>,
    /// Our close frame's code and reason, or `None` to answer the client's.
    pub(crate) close: Option<(u16, String)>,
}

impl Goodbye {
    /// Our close frame, nothing before it.
    pub(crate) fn close(code: u16, reason: &str) -> Self {
        Goodbye {
            last_text: None,
            close: Some((code, reason.to_owned())),
        }
    }

    /// The reply to the client's close frame.
    pub(crate) fn reply() -> Self {
        Goodbye {
            last_text: None,
            close: None,
        }
    }
}

/// Ends a WebSocket connection cleanly, within `timeout`: sends the last
/// message and the close frame, shuts our side of the TCP connection down
/// (FIN), then reads and discards what the client still sends (its close
/// reply, messages it sent before it saw ours, the rest of an oversized
/// message) until it closes its side too.
///
/// Reading to the end is what makes the close clean. A socket closed with
/// unread bytes in its receive buffer answers with a TCP reset, and a reset
/// makes the client's kernel throw away whatever the client had not read
/// yet: the last messages and the close frame with them. A client that
/// neither replies nor closes is cut off when `timeout` runs out.
pub(crate) async fn close_cleanly<S: Socket>(socket: &mut S, goodbye: Goodbye, timeout: Duration) {
    let closing = async {
        if let Some(text) = goodbye.last_text {
            if socket.send_text(text).await.is_err() {
                return;
            }
        }
        let close = goodbye
            .close
            .as_ref()
            .map(|(code, reason)| (*code, reason.as_str()));
        socket.send_close(close).await;
        drain(socket.io()).await;
    };
    let _ = tokio::time::timeout(timeout, closing).await;
}

/// Shuts the write side down and reads until the peer's end of stream.
async fn drain(io: &mut dyn Io) {
    if io.shutdown().await.is_err() {
        return;
    }
    // On the heap, and only now: a buffer in the session loop's future would
    // cost every open session its size.
    let mut scratch = vec![0u8; 2048];
    while let Ok(n) = io.read(&mut scratch).await {
        if n == 0 {
            break;
        }
    }
}
