//! Several nodes, no sticky routing (feature `cluster`): a request for a
//! session another node holds is forwarded to that node.
//!
//! SockJS's HTTP transports send every request of a session to the node
//! that holds it, which a load balancer only guarantees with stickiness.
//! With a [`Directory`] (`SockJsRouter::directory`), a node that receives a
//! request for a session it does not hold looks up the session's owner and
//! forwards the request there over HTTP, streaming the answer back: polling
//! and streaming responses, `xhr_send` and `jsonp_send` all work through
//! any node. A receiving request for an unknown session claims it for the
//! node that got it. WebSockets need nothing: one connection is one
//! session.
//!
//! The session lives on its owner for its whole life (its handler is a task
//! there); only requests move. Forwarding costs one more hop on loopback or
//! LAN, and needs every node to serve the service at the same path and to
//! reach the others at the base URLs the directory gives.
//!
//! `sockjs-redis` has a `Directory` on Redis (session owners with expiry).
//!
//! **Forwarded requests are signed.** A node serves a request as forwarded
//! (where it lands, without asking the directory) only when its
//! `X-SockJS-Forwarded` carries an HMAC-SHA256 of the request made with
//! the cluster's secret, within a clock skew; any other marker is refused
//! with `403 Forwarded request not authenticated.`, so that no client can
//! make a node open a shadow of another node's session. The secret comes
//! from [`Forwarding::secret`], else from the directory (sockjs-redis keeps
//! one in Redis). Node URLs may be `https://`, checked against the CAs of
//! [`Forwarding::tls_ca_pem`]. See [`Forwarding`].
//!
//! Every node builds the same service with its own view of the shared
//! directory (here [`MemoryDirectory`], for nodes in one process; see
//! [`Directory`] for one written out):
//!
//! ```
//! use sockjs::cluster::MemoryDirectory;
//! use sockjs::{Session, SockJsRouter};
//!
//! let directory = MemoryDirectory::new("http://10.0.0.1:8080");
//! let node = |me: &str| {
//!     SockJsRouter::new(|_session: Session| async {})
//!         .directory(directory.node(me))
//!         .into_router()
//! };
//! // Behind one load balancer, without stickiness:
//! let node_a: axum::Router = axum::Router::new().nest("/chat", node("http://10.0.0.1:8080"));
//! let node_b: axum::Router = axum::Router::new().nest("/chat", node("http://10.0.0.2:8080"));
//! ```

mod directory;
mod forward;
mod forwarding;
mod memory;
mod signature;

pub use directory::{Directory, DirectoryError, Owner};
pub(crate) use forward::{directory_key, route_to_owner, Forwarder};
pub use forwarding::{Forwarding, ForwardingError};
pub use memory::MemoryDirectory;
