//! The connection's task: it runs the opened transport between the server
//! and the connection's two [channels](crate::channels), messages in and
//! commands out, and records how the connection ended in their
//! [`Shared`] state before it lets go of them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::channels::{Outbox, Shared};
use crate::connection::Connection;
use crate::error::Error;
use crate::net::Http;
use crate::transport::{websocket, Opened};

/// Messages received but not yet read by the application; past this the
/// transport stops reading and the server's queue holds the rest.
const INCOMING_CAPACITY: usize = 256;
/// Messages queued for sending before [`Sender::send`](crate::Sender::send) waits.
const OUTGOING_CAPACITY: usize = 256;

/// Starts the task of an opened session and returns its connection.
/// `silence`: how long the server may say nothing before the connection
/// is taken for dead ([`Client::silence_timeout`](crate::Client::silence_timeout));
/// `http`: the client's pool, forgotten when the connection ends silent.
pub(crate) fn spawn(
    opened: Opened,
    close_timeout: Duration,
    silence: Option<Duration>,
    http: Http,
) -> Connection {
    let transport = opened.transport();
    let (events, incoming) = mpsc::channel(INCOMING_CAPACITY);
    let (commands, outgoing) = mpsc::channel(OUTGOING_CAPACITY);
    let shared = Arc::new(Shared::new(transport));
    let task_shared = shared.clone();
    tokio::spawn(async move {
        let mut outbox = Outbox::new(outgoing);
        let end = match opened {
            Opened::WebSocket(ws) => {
                websocket::run(*ws, &events, &mut outbox, close_timeout, silence).await
            }
            Opened::Xhr(xhr) => xhr.run(&events, &mut outbox, silence).await,
        };
        if let Error::Timeout(_) = end {
            // Found silent: the kept-alive connections of the pool may be
            // on the same dead path; a reconnect must not wait on them.
            http.forget_idle();
        }
        task_shared.set_end(end);
        drop(outbox);
        drop(events);
        task_shared.done.send_replace(true);
    });
    Connection::new(commands, incoming, shared)
}
