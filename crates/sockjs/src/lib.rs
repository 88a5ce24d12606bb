#![doc = include_str!("../../../README.md")]
#![forbid(unsafe_code)]

pub mod protocol;

mod config;
#[doc(hidden)]
pub mod fuzzing;
mod headers;
mod iframe;
mod info;
mod rejection;
mod router;
mod service;
mod session;
mod shutdown;
mod transport;

pub use config::{Config, JsessionidHook, QueueFullPolicy, DEFAULT_SOCKJS_URL};
pub use rejection::Rejection;
pub use router::{router, SockJsRouter};
pub use session::{close_code, CloseReason, Receiver, SendError, Sender, Session, TrySendError};
pub use shutdown::{Shutdown, ShutdownReport};
pub use transport::Transport;
