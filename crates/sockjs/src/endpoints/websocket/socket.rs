//! What the session loop needs of a WebSocket, whatever version of the
//! protocol it speaks, and how every connection ends: the closing handshake.

use std::future::{poll_fn, Future};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// RFC 6455 close code 1002: the client broke the WebSocket protocol
/// (reserved bits or opcodes, a continuation with nothing to continue, an
/// unmasked frame, a fragmented or oversized control frame).
pub(crate) const PROTOCOL_ERROR: u16 = 1002;
/// RFC 6455 close code 1007: a text message that is not UTF-8.
pub(crate) const INVALID_DATA: u16 = 1007;
/// RFC 6455 close code 1009: a message over the size limit.
pub(crate) const TOO_BIG: u16 = 1009;

/// What a socket delivered.
pub(crate) enum Incoming {
    /// A text message.
    Text(String),
    /// Nothing for the application (ping, pong, binary), but a sign of life.
    Nothing,
    /// The client sent its close frame (or ended the connection).
    Closed,
}

/// Why reading from a socket failed.
pub(crate) enum RecvError {
    /// The client broke the WebSocket protocol: the connection is failed
    /// with a close frame of `code` and `reason` (RFC 6455 section 7.1.7).
    /// The framing can no longer be trusted, so nothing more is parsed.
    Violation {
        code: u16,
        reason: &'static str,
        detail: String,
    },
    /// An I/O failure, described: nothing more can be written.
    Failed(String),
}

impl RecvError {
    pub(crate) fn violation(code: u16, reason: &'static str, detail: impl Into<String>) -> Self {
        RecvError::Violation {
            code,
            reason,
            detail: detail.into(),
        }
    }
}

/// The byte stream under a WebSocket.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A frame to send: [`Socket::start`] queues it.
pub(crate) enum Out<'a> {
    /// A text message.
    Text(String),
    /// A ping (keepalive); hixie-76 has none, and queues nothing for it.
    Ping,
    /// Our close frame with its code and reason, or (`None`) the reply to
    /// the client's close frame.
    Close(Option<(u16, &'a str)>),
}

/// What the session loop needs of a socket, so RFC 6455 and hixie-76
/// sockets share it. Every frame goes out the same way: queued by
/// [`start`](Self::start), written by [`poll_flush`](Self::poll_flush).
pub(crate) trait Socket: Send {
    /// Queues one frame and writes what the connection takes now;
    /// [`poll_flush`](Self::poll_flush) writes the rest. Nothing is
    /// queued while an earlier frame is still unwritten: the caller
    /// flushes first.
    fn start(&mut self, frame: Out<'_>) -> Result<(), String>;
    /// Writes what is queued and flushes: `Ready` once it is all out.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>>;
    /// Sends one frame: [`start`](Self::start), then
    /// [`poll_flush`](Self::poll_flush) until it is out.
    fn send(&mut self, frame: Out<'_>) -> impl Future<Output = Result<(), String>> + Send {
        async move {
            self.start(frame)?;
            poll_fn(|cx| self.poll_flush(cx)).await
        }
    }
    /// Whether the protocol has pings (hixie-76 has none).
    fn can_ping(&self) -> bool;
    /// Polls for the next incoming message; an error is a protocol or I/O
    /// failure. What was read before `Pending` is kept for the next poll.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, RecvError>>;
    /// The next incoming message, as a future (cancel-safe).
    fn recv(&mut self) -> impl Future<Output = Result<Incoming, RecvError>> + Send {
        poll_fn(move |cx| self.poll_recv(cx))
    }
    /// The connection under the WebSocket framing.
    fn io(&mut self) -> &mut dyn Io;
}

/// What happens after our close frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    /// We started the closing handshake: read (and discard) frames until
    /// the client's close frame or its end of stream, then FIN.
    AwaitReply,
    /// Our close frame ends it (a reply to the client's, or a failed
    /// connection whose bytes can no longer be parsed): FIN at once.
    Finish,
}

/// What a connection sends last.
pub(crate) struct Goodbye {
    /// A last text message before the close frame (SockJS's `c[...]`).
    pub(crate) last_text: Option<String>,
    /// Our close frame's code and reason, or `None` to answer the client's.
    pub(crate) close: Option<(u16, String)>,
    /// What follows the close frame.
    pub(crate) after: After,
}

impl Goodbye {
    /// The reply to the client's close frame.
    pub(crate) fn reply() -> Self {
        Goodbye {
            last_text: None,
            close: None,
            after: After::Finish,
        }
    }
}

/// Ends a WebSocket connection cleanly, within `timeout` in all: sends the
/// last message and the close frame; when we started the closing handshake
/// ([`After::AwaitReply`]), keeps reading (discarding data frames) until the
/// client's close frame or its end of stream, as RFC 6455 sections 5.5.1
/// and 7.1.1 ask: the TCP connection is closed only after both close frames;
/// then shuts our side of the TCP connection down (FIN) and reads what is
/// left until the client closes its side too.
///
/// Reading to the end is what makes the close clean. A socket closed with
/// unread bytes in its receive buffer answers with a TCP reset, and a reset
/// makes the client's kernel throw away whatever the client had not read
/// yet: the last messages and the close frame with them. A client that
/// neither replies nor closes is cut off when `timeout` runs out.
///
/// `fin_early` (the hidden test knob `Config::websocket_fin_early`) skips
/// the wait for the client's close frame: the order RFC 6455 forbids,
/// which some clients see as an abnormal closure (1006).
pub(crate) async fn close_cleanly<S: Socket>(
    socket: &mut S,
    goodbye: Goodbye,
    timeout: Duration,
    fin_early: bool,
) {
    let deadline = Instant::now() + timeout;
    let closing = async {
        if let Some(text) = goodbye.last_text {
            if socket.send(Out::Text(text)).await.is_err() {
                return;
            }
        }
        let close = goodbye
            .close
            .as_ref()
            .map(|(code, reason)| (*code, reason.as_str()));
        let _ = socket.send(Out::Close(close)).await;
        if goodbye.after == After::AwaitReply && !fin_early {
            // Messages the client sent before it saw our close frame are
            // dropped: the session is over.
            while let Ok(Incoming::Text(_) | Incoming::Nothing) = socket.recv().await {}
        }
        drain(socket.io()).await;
    };
    let _ = tokio::time::timeout_at(deadline, closing).await;
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
