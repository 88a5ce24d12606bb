//! WebSocket transports: SockJS-framed `/<server>/<session>/websocket` and
//! the raw `/websocket` endpoint.
//!
//! A WebSocket session is not entered in the session store: it lives
//! exactly as long as its socket, so the same session id may be used by
//! several sockets at once.
//!
//! - [`handler`]: the axum handlers, which check the upgrade and hand it to
//!   [`rfc6455`] or, for the legacy handshake sockjs-node still answers, to
//!   [`hixie76`];
//! - [`socket`]: what both kinds of socket offer the session loop, and the
//!   closing handshake every connection ends with;
//! - [`session`]: the session loop itself, from `o` to the close, its
//!   timers behind [`gated`] gates, the application's handler polled
//!   [`inline`] in the same task; [`wakes`] says which of them woke.

#[cfg(feature = "deflate")]
mod deflate;
mod gated;
mod handler;
pub(crate) mod hixie76;
#[cfg(all(test, feature = "deflate"))]
mod inflate_oracle;
mod inline;
#[cfg(test)]
mod probe;
mod rfc6455;
mod session;
mod socket;
mod wakes;

pub(crate) use handler::{framed, raw};
