//! Sessions: what the application's handler gets, and the shared state a
//! session keeps between the requests of its transport.
//!
//! A [`Session`] is handed to the handler once the client has been sent
//! `o`. Split it into a cloneable [`Sender`] and a [`Receiver`] stream:
//!
//! ```
//! use futures_util::{SinkExt, StreamExt};
//!
//! async fn echo(session: sockjs::Session) {
//!     let (tx, mut rx) = session.split();
//!     while let Some(message) = rx.next().await {
//!         if tx.send(message).await.is_err() {
//!             break;
//!         }
//!     }
//!     println!("closed: {:?}", rx.close_reason());
//! }
//! # let _ = echo;
//! ```
//!
//! Inside, each session is one [`core::Core`]: a bounded outgoing queue
//! whose consuming end sits in a slot that at most one receiving connection
//! holds at a time, a bounded incoming queue feeding the [`Receiver`], and
//! the close state. HTTP sessions live in the [`store::Store`] (a `DashMap`)
//! and are reaped by a timer when no receiver has been attached for the
//! disconnect delay; WebSocket sessions live exactly as long as their socket.

pub(crate) mod budget;
mod close;
mod connection;
pub(crate) mod core;
mod handle;
mod json;
mod lifeline;
pub(crate) mod outgoing;
pub(crate) mod queue;
mod receiver;
mod sender;
pub(crate) mod store;

pub(crate) use close::standard_reason;
pub use close::{close_code, CloseReason};
pub(crate) use connection::ConnectionInfo;
pub use handle::Session;
pub use json::{JsonReceiver, JsonSendError, JsonSender};
pub use receiver::Receiver;
pub use sender::{SendError, Sender, TrySendError};
