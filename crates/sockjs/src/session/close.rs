//! Why sessions end, and the close codes SockJS uses.

use std::fmt;

/// Close codes that appear in SockJS close frames `c[code,"reason"]`.
pub mod close_code {
    /// Normal closure: the handler returned or dropped both halves.
    pub const NORMAL: u16 = 1000;
    /// The server is going away: [`Shutdown`](crate::Shutdown) closes
    /// sessions with it.
    pub const GOING_AWAY: u16 = 1001;
    /// The receiving connection was aborted by the client or the network.
    pub const INTERRUPTED: u16 = 1002;
    /// A WebSocket message was larger than the configured maximum.
    pub const TOO_BIG: u16 = 1009;
    /// The session's outgoing queue overflowed under
    /// [`QueueFullPolicy::Close`](crate::QueueFullPolicy::Close).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A second receiving connection was refused while one is open.
    pub const ANOTHER_CONNECTION: u16 = 2010;
    /// The first code free for applications; sockjs-node's `Go away!` uses it.
    pub const GO_AWAY: u16 = 3000;
}

/// Why a session ended, as the [`Receiver`](crate::Receiver) reports it
/// once its stream is over.
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
        }
    }
}
