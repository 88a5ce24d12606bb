//! Rooms: named groups of sessions, and messages to a group or to every
//! session, encoded once for all and never held up by a slow member.
//!
//! ```
//! use sockjs::{Session, SockJsRouter};
//!
//! let lobby = SockJsRouter::new(|session: Session| async move {
//!     let (tx, mut rx) = session.split();
//!     tx.join("lobby");
//!     while let Some(message) = rx.recv().await {
//!         // Every member of "lobby", on every node when a broker is set.
//!         tx.rooms().send("lobby", message);
//!     }
//!     // Closed sessions leave their rooms by themselves.
//! });
//! let rooms = lobby.rooms_handle(); // to send from elsewhere in the app
//! rooms.send_all("maintenance at noon");
//! let _router: axum::Router = lobby.into_router();
//! ```
//!
//! Across nodes, a [`Broker`] carries room messages to the other nodes'
//! [`Rooms`] (the `sockjs-redis` crate has one on Redis pub/sub); without
//! one, rooms are this process's.

mod broker;
mod history;
mod member;
mod presence;
mod registry;

pub use broker::{Broker, Inbox, Replay, SharedHistory, Target};
pub use history::{BadPosition, History, Lost, Position};
pub(crate) use member::{Member, SharedText};
pub use presence::{Presence, PresenceEvent, PresenceEvents, SharedPresence, Users};
pub use registry::Rooms;
