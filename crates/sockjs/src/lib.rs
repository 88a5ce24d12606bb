#![doc = include_str!("../../../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod protocol;

mod config;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod headers;
mod iframe;
mod info;
mod jsessionid;
mod limits;
pub mod metrics;
mod origin;
mod proxy;
mod rejection;
pub mod rooms;
mod router;
#[cfg(feature = "serve")]
mod serve;
mod service;
mod session;
mod shutdown;
mod transport;

pub use config::{Config, JsessionidHook, QueueFullPolicy, DEFAULT_SOCKJS_URL};
pub use handshake::Handshake;
pub use jsessionid::{Jsessionid, SameSite};
pub use proxy::TrustedProxies;
pub use rejection::Rejection;
pub use rooms::Rooms;
pub use router::{router, SockJsRouter};
#[cfg(feature = "serve")]
pub use serve::{serve, Serve};
pub use session::{close_code, CloseReason, Receiver, SendError, Sender, Session, TrySendError};
pub use shutdown::{Shutdown, ShutdownReport};
pub use transport::Transport;
