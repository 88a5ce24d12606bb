//! The application's two halves of a session.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;

use super::close::{close_code, CloseReason};
use super::core::{Core, PushError};
use crate::config::QueueFullPolicy;
use crate::metrics::QueueFull;
use crate::rooms::Rooms;

/// Closes the session with a normal closure when the last half is dropped.
struct Lifeline(Arc<Core>);

impl Drop for Lifeline {
    fn drop(&mut self) {
        self.0.close(
            close_code::NORMAL,
            "Normal closure",
            CloseReason::ServerClosed {
                code: close_code::NORMAL,
                reason: "Normal closure".into(),
            },
        );
    }
}

/// The sending half: cloneable, sends text messages and closes the session.
///
/// When every `Sender` clone and the [`Receiver`] are dropped, the session
/// closes with code 1000 `Normal closure`.
#[derive(Clone)]
pub struct Sender {
    core: Arc<Core>,
    policy: QueueFullPolicy,
    _life: Arc<Lifeline>,
}

/// The receiving half: a [`Stream`] of the client's messages that ends
/// exactly once, when the session closes; [`close_reason`](Self::close_reason)
/// then says why.
pub struct Receiver {
    core: Arc<Core>,
    _life: Arc<Lifeline>,
}

/// Creates the halves of a fresh session.
pub(super) fn halves(core: Arc<Core>, policy: QueueFullPolicy) -> (Sender, Receiver) {
    let life = Arc::new(Lifeline(core.clone()));
    (
        Sender {
            core: core.clone(),
            policy,
            _life: life.clone(),
        },
        Receiver { core, _life: life },
    )
}

/// The session is closed; the message that could not be sent is handed back.
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
    /// Queues a message for the client. Waits while the outgoing queue is
    /// full (under the default [`QueueFullPolicy::Wait`]); fails once the
    /// session is closed.
    pub async fn send(&self, message: impl Into<String>) -> Result<(), SendError<String>> {
        match self.try_send(message) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(m)) => Err(SendError(m)),
            Err(TrySendError::Full(m)) => self.core.send_out(m).await.map_err(SendError),
        }
    }

    /// Queues a message without waiting. Under [`QueueFullPolicy::Close`] a
    /// full queue closes the session (`c[1013,"Outgoing queue full"]`).
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
    pub fn is_open(&self) -> bool {
        !self.core.is_closed()
    }

    /// Resolves when the session closes, for whatever reason.
    pub async fn closed(&self) {
        self.core.closed().await
    }

    /// Puts the session in `room` of its service's [`Rooms`], where
    /// [`Rooms::send`] reaches it. It leaves every room when it closes.
    /// Does nothing on a closed session.
    pub fn join(&self, room: &str) {
        self.core.join(room);
    }

    /// Takes the session out of `room`.
    pub fn leave(&self, room: &str) {
        self.core.leave(room);
    }

    /// The rooms of the session's service: to send to a room or to every
    /// session.
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

impl Receiver {
    /// The next message from the client, or `None` once the session closed.
    pub async fn recv(&mut self) -> Option<String> {
        std::future::poll_fn(|cx| self.core.poll_in(cx)).await
    }

    /// Why the session ended; `None` while it is open.
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
