#![doc = include_str!("../../../README.md")]
#![doc = include_str!("../ARCHITECTURE.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "cluster")]
pub mod cluster;
mod protocol;

mod config;
mod conn;
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
mod runtime;
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
pub use runtime::{runtime, FAIR_GLOBAL_QUEUE_INTERVAL};
#[cfg(feature = "serve")]
pub use serve::{serve, shutdown_signal, Serve};
pub use session::{
    close_code, CloseReason, JsonReceiver, JsonSendError, JsonSender, Receiver, SendError, Sender,
    Session, TrySendError,
};
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
