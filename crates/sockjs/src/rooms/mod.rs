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
//!
//! Presence: a session given the application's own key for its user
//! ([`Sender::set_user`](crate::Sender::set_user)) is present in its rooms
//! under that key, never under its session id ([`Rooms::presence`],
//! [`Rooms::presence_events`], [`Rooms::send_to_user`]); across nodes when
//! the broker keeps presence ([`Broker::presence`], [`SharedPresence`]).
//!
//! ```
//! use sockjs::rooms::PresenceEvent;
//!
//! async fn greeter(rooms: sockjs::Rooms) {
//!     let mut events = rooms.presence_events("lobby");
//!     while let Some(event) = events.recv().await {
//!         if let PresenceEvent::Join(user) = event {
//!             let online = rooms.presence("lobby").await.count();
//!             rooms.send_to_user(&user, format!("welcome, {online} online"));
//!         }
//!     }
//! }
//! # let _ = greeter;
//! ```

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
