#![doc = include_str!("../../../README.md")]
//!
//! # Layers (for contributors)
//!
//! Imports only go down this list; a noun two layers use lives in the lower
//! one. `cargo xtask layers` fails on any module loop (`--order` prints the
//! layers as read from the imports).
//!
//! 1. **Wire format** — `protocol`, the crate's view of `sockjs-proto`
//!    (frames, escaping, payloads, URL syntax, close codes and transport
//!    names live there): no other module of the crate.
//! 2. **Settings and policies** — `config`, `origin`, `proxy`, `handshake`,
//!    `jsessionid`, `metrics`, `headers`, `rejection`, `limits`.
//! 3. **Sessions** — `session::close`, `budget`, `outgoing`, `core` (the
//!    state a session keeps between requests), then the halves the handler
//!    gets (`halves`, `handle`); `shutdown` and `rooms` reach sessions from
//!    here; `lease` is what a live session holds; `session::store` maps ids
//!    to sessions.
//! 4. **The service** — `service`: one service's shared state (options,
//!    store, rooms, the handler), what every entry point takes as `State`.
//! 5. **Entry points** — `transport::*` (each transport's handlers),
//!    `info`, `iframe`, `cluster::forward`.
//! 6. **Assembly** — `router` (the axum `Router` and its middlewares),
//!    `serve`.
#![forbid(unsafe_code)]

#[cfg(feature = "cluster")]
pub mod cluster;
mod protocol;

mod config;
mod endpoints;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod headers;
mod iframe;
mod jsessionid;
mod lease;
mod limits;
pub mod metrics;
mod origin;
mod proxy;
mod rejection;
pub mod rooms;
mod router;
#[cfg(feature = "serve")]
mod serve;
mod session;
mod shutdown;
mod state;

pub use config::{Config, JsessionidHook, QueueFullPolicy, DEFAULT_SOCKJS_URL};
pub use handshake::Handshake;
pub use jsessionid::{Jsessionid, SameSite};
pub use origin::OriginPolicy;
pub use proxy::TrustedProxies;
pub use rejection::Rejection;
pub use rooms::Rooms;
pub use router::{router, SockJsRouter};
#[cfg(feature = "serve")]
pub use serve::{serve, Serve};
pub use session::{close_code, CloseReason, Receiver, SendError, Sender, Session, TrySendError};
pub use shutdown::{Shutdown, ShutdownReport};
/// A SockJS transport, as sockjs-client names them (defined in
/// `sockjs-proto`, shared with the client).
///
/// ```
/// use sockjs::{Config, Transport};
///
/// // WebSockets and xhr-streaming only.
/// let config = Transport::ALL
///     .into_iter()
///     .filter(|t| !matches!(t, Transport::WebSocket | Transport::XhrStreaming))
///     .fold(Config::default(), Config::disable);
/// assert!(config.is_enabled(Transport::WebSocket));
/// assert!(!config.is_enabled(Transport::EventSource));
/// assert_eq!(Transport::EventSource.to_string(), "eventsource");
/// ```
#[doc(inline)]
pub use sockjs_proto::Transport;
