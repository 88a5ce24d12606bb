//! What a connection's halves and its task share: the channel of
//! [`Command`]s to the task, read through an [`Outbox`] that batches them;
//! the channel of messages to the application, fed by [`deliver`]; and the
//! [`Shared`] state that records how the connection ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tokio::sync::{mpsc, watch};

use crate::error::Error;
use sockjs_proto::Transport;

/// Messages go out in batches of at most this many bytes (one xhr_send body
/// or WebSocket message), unless a single message is larger; well under
/// servers' payload limits (1 MiB in sockjs-axum).
const BATCH_BYTES: usize = 64 * 1024;

/// What the application's halves ask of the task.
#[derive(Debug)]
pub(crate) enum Command {
    Send(String),
    Close,
}

/// State the task shares with the halves.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) transport: Transport,
    /// How the connection ended; set before the channels are dropped.
    end: OnceLock<Error>,
    /// `close()` was called: sends are refused from then on.
    pub(crate) closing: AtomicBool,
    /// Becomes `true` once the task is over.
    pub(crate) done: watch::Sender<bool>,
}

impl Shared {
    /// The state of a connection that runs on `transport`.
    pub(crate) fn new(transport: Transport) -> Self {
        Shared {
            transport,
            end: OnceLock::new(),
            closing: AtomicBool::new(false),
            done: watch::Sender::new(false),
        }
    }

    /// Records how the connection ended (the first end stays).
    pub(crate) fn set_end(&self, end: Error) {
        let _ = self.end.set(end);
    }

    /// How the connection ended, `None` while it runs.
    pub(crate) fn end(&self) -> Option<Error> {
        self.end.get().cloned()
    }

    /// How the connection ended, once its channels are gone.
    pub(crate) fn end_or_gone(&self) -> Error {
        self.end()
            .unwrap_or_else(|| Error::Io("the connection's task stopped".into()))
    }

    /// Why a send is refused now, if it is.
    pub(crate) fn refuses_sends(&self) -> Option<Error> {
        self.end().or_else(|| {
            self.closing
                .load(Ordering::Acquire)
                .then_some(Error::ClosedByClient)
        })
    }
}

/// Messages to send, in order, and whether a close follows them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) messages: Vec<String>,
    pub(crate) close: bool,
}

/// The receiving end of the commands, batching messages.
pub(crate) struct Outbox {
    commands: mpsc::Receiver<Command>,
    /// A message taken from the channel that did not fit the last batch.
    held: Option<String>,
}

impl Outbox {
    pub(crate) fn new(commands: mpsc::Receiver<Command>) -> Self {
        Outbox {
            commands,
            held: None,
        }
    }

    /// The next batch: the first message waited for, then whatever is
    /// already queued, up to [`BATCH_BYTES`]. `None` once every sending
    /// half is gone.
    pub(crate) async fn next_batch(&mut self) -> Option<Batch> {
        let mut batch = Batch::default();
        let mut bytes = 0;
        let first = match self.held.take() {
            Some(message) => Command::Send(message),
            None => self.commands.recv().await?,
        };
        let mut next = Some(first);
        while let Some(command) = next {
            match command {
                Command::Close => {
                    batch.close = true;
                    break;
                }
                Command::Send(message) => {
                    if !batch.messages.is_empty() && bytes + message.len() > BATCH_BYTES {
                        self.held = Some(message);
                        break;
                    }
                    bytes += message.len();
                    batch.messages.push(message);
                }
            }
            next = self.commands.try_recv().ok();
        }
        Some(batch)
    }
}

/// Hands messages to the application in order; drops them when it no
/// longer reads (the receiving half is gone).
pub(crate) async fn deliver(events: &mpsc::Sender<String>, messages: Vec<String>) {
    for message in messages {
        if events.send(message).await.is_err() {
            return;
        }
    }
}

/// What sending does when every sending half is gone: nothing, until the
/// receiving half is gone too; then the connection closes.
pub(crate) async fn unattended(events: &mpsc::Sender<String>) {
    events.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(messages: &[&str], close: bool) -> Option<Batch> {
        Some(Batch {
            messages: messages.iter().map(|m| m.to_string()).collect(),
            close,
        })
    }

    #[tokio::test]
    async fn batches_keep_order_size_and_close() {
        let (tx, rx) = mpsc::channel(16);
        let mut outbox = Outbox::new(rx);
        let big = "x".repeat(BATCH_BYTES - 2);
        for command in [
            Command::Send("a".into()),
            Command::Send("b".into()),
            Command::Send(big.clone()),
            Command::Send("c".into()),
            Command::Close,
            Command::Send("after".into()),
        ] {
            tx.send(command).await.unwrap();
        }
        assert_eq!(outbox.next_batch().await, batch(&["a", "b", &big], false));
        assert_eq!(outbox.next_batch().await, batch(&["c"], true));
        assert_eq!(outbox.next_batch().await, batch(&["after"], false));
        drop(tx);
        assert_eq!(outbox.next_batch().await, None);
    }

    #[tokio::test]
    async fn a_large_message_goes_alone() {
        let (tx, rx) = mpsc::channel(16);
        let mut outbox = Outbox::new(rx);
        let huge = "y".repeat(3 * BATCH_BYTES);
        tx.send(Command::Send("a".into())).await.unwrap();
        tx.send(Command::Send(huge.clone())).await.unwrap();
        tx.send(Command::Send("b".into())).await.unwrap();
        assert_eq!(outbox.next_batch().await, batch(&["a"], false));
        assert_eq!(outbox.next_batch().await, batch(&[&huge], false));
        assert_eq!(outbox.next_batch().await, batch(&["b"], false));
    }
}
