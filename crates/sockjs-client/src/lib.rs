//! A SockJS client: talk to any SockJS server (sockjs-node, sockjs-axum,
//! ...) from Rust, or test your own axum SockJS services in-process, with
//! the transports and fallback of sockjs-client 1.x.
//!
//! The package is `sockjs-axum-client`; the library is imported as
//! `sockjs_client`.
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use sockjs_client::{Client, Error};
//!
//! # async fn demo() -> Result<(), Error> {
//! let connection = Client::connect("http://127.0.0.1:8080/echo").await?;
//! println!("connected over {}", connection.transport());
//!
//! let (mut tx, mut rx) = connection.split();
//! tx.send("hello".to_string()).await?;
//! while let Some(message) = rx.next().await {
//!     match message {
//!         Ok(text) => println!("got {text}"),
//!         Err(Error::Closed { code, reason }) => println!("closed: {code} {reason}"),
//!         Err(other) => return Err(other),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Testing a SockJS service
//!
//! [`Client::in_process`] connects to an axum `Router` (any tower service)
//! without a port: every request, and the WebSocket, goes over an
//! in-memory connection to hyper serving the router in this process.
//!
//! ```
//! use axum::Router;
//! use sockjs_client::{Client, Error, Transport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app: Router = Router::new().nest(
//!     "/close",
//!     sockjs::router(|session: sockjs::Session| async move {
//!         session.sender().close(3000, "Go away!");
//!     }),
//! );
//! for transport in Transport::DEFAULT_ORDER {
//!     let client = Client::in_process(app.clone()).transport(transport);
//!     let mut connection = client.open("/close").await.unwrap();
//!     assert_eq!(
//!         connection.recv().await,
//!         Err(Error::Closed { code: 3000, reason: "Go away!".into() })
//!     );
//! }
//! # }
//! ```
//!
//! In a `#[tokio::test]`, that is the whole test. To test over a real
//! socket instead (for `ConnectInfo`, say), serve the router on
//! `127.0.0.1:0` and give [`Client::connect`] its address.
//!
//! # What it does
//!
//! - Transports: [`Transport::WebSocket`], [`Transport::XhrStreaming`] and
//!   [`Transport::XhrPolling`] (eventsource, htmlfile and jsonp exist for
//!   browsers that lack the others; given one of them, [`Client::open`]
//!   fails with [`Error::InvalidOption`]), tried in that order after
//!   `GET /info` (see [`Client`]).
//! - Received message batches `a[...]` come out one message at a time, in
//!   order; heartbeats `h` are handled; the server's close frame
//!   `c[code,"reason"]` ends the connection with [`Error::Closed`].
//! - xhr-streaming responses that the server ends at its `response_limit`
//!   are renewed at once; nothing is lost in between.
//! - Sends are batched while a send is in flight (one `xhr_send`, or one
//!   WebSocket message, carries every waiting message), in order.
//! - HTTP runs on hyper with a pool of kept-alive connections; WebSockets
//!   on tokio-tungstenite. Only `http://` (no TLS).
//! - [`protocol`] has the frame decoding and payload encoding, pure.
//! - Checked on every transport against sockjs-axum and against the
//!   reference server, sockjs-node 0.3.24 (`cargo xtask protocol-test
//!   --against-node` in the repository).
//!
//! # Layers
//!
//! The modules, lowest first; each imports only modules above it in this
//! list (`cargo xtask layers` checks that no import goes the other way):
//!
//! - `protocol`: SockJS frames and payloads, decoded and encoded (pure),
//!   over `sockjs-proto`, which also defines [`Transport`].
//! - `error`: [`Error`], why a connection did not open or ended.
//! - `url`: the service URL and the URLs of the requests under it.
//! - `net`: TCP or in-process connections, pooled HTTP, cookies.
//! - `channels`: what a connection's halves and its task share: commands
//!   (batched by the outbox), delivered messages, how it ended.
//! - `transport` (`websocket`, `xhr`): opening a session on one transport and
//!   running it between the server and the channels.
//! - `connection`: [`Connection`], [`Sender`] and [`Receiver`] over the
//!   channels.
//! - `driver`: the task that runs an opened session for a [`Connection`].
//! - `client`: [`Client`], its options, `/info` and the transport fallback.
//! - [`resume`]: [`resume::Resuming`], reconnecting with back-off and
//!   resuming room streams with `since=`, over [`Client`].

mod channels;
mod client;
mod connection;
mod driver;
mod error;
mod net;
pub mod protocol;
pub mod resume;
mod transport;
mod url;

pub use client::Client;
pub use connection::{Connection, Receiver, Sender};
pub use error::Error;
/// A SockJS transport, as sockjs-client names them (defined in
/// `sockjs-proto`, shared with the server). This client speaks
/// [`Transport::WebSocket`], [`Transport::XhrStreaming`] and
/// [`Transport::XhrPolling`], tried in [`Transport::DEFAULT_ORDER`] by
/// default.
///
/// ```
/// use axum::Router;
/// use sockjs_client::{Client, Transport};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// let app: Router = Router::new().nest(
///     "/where",
///     sockjs::router(|session: sockjs::Session| async move {
///         let _ = session.sender().send(session.transport().name()).await;
///     }),
/// );
/// // The server sees the transport the client picked, by the same name.
/// for transport in Transport::DEFAULT_ORDER {
///     let mut connection = Client::in_process(app.clone()).transport(transport).open("/where").await?;
///     assert_eq!(connection.recv().await?, transport.name());
/// }
/// // Transports for browsers only are refused.
/// assert!(Client::in_process(app).transport(Transport::EventSource).open("/where").await.is_err());
/// # Ok(())
/// # }
/// ```
#[doc(inline)]
pub use sockjs_proto::Transport;
