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
//! Every node builds the same service with its own view of the shared
//! directory (here an in-memory stand-in, hidden; see [`Directory`] for one
//! written out):
//!
//! ```
//! # use std::collections::HashMap;
//! # use std::future::Future;
//! # use std::pin::Pin;
//! # use std::sync::{Arc, Mutex};
//! # use sockjs::cluster::{Directory, DirectoryError, Owner};
//! # type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
//! # /// Every node's view of one shared map (a stand-in for Redis).
//! # #[derive(Clone, Default)]
//! # struct Store(Arc<Mutex<HashMap<String, String>>>);
//! # struct Node { me: String, store: Store }
//! # impl Store {
//! #     fn node(&self, me: &str) -> Node { Node { me: me.into(), store: self.clone() } }
//! # }
//! # impl Node {
//! #     fn owner_of(&self, url: &str) -> Owner {
//! #         if url == self.me { Owner::Local } else { Owner::Remote(url.to_owned()) }
//! #     }
//! # }
//! # impl Directory for Node {
//! #     fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
//! #         let owner = self.store.0.lock().unwrap().get(key).map_or(Owner::Unknown, |url| self.owner_of(url));
//! #         Box::pin(async move { Ok(owner) })
//! #     }
//! #     fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
//! #         let mut owners = self.store.0.lock().unwrap();
//! #         let owner = self.owner_of(owners.entry(key.to_owned()).or_insert_with(|| self.me.clone()));
//! #         Box::pin(async move { Ok(owner) })
//! #     }
//! #     fn release(&self, key: &str) {
//! #         let mut owners = self.store.0.lock().unwrap();
//! #         if owners.get(key) == Some(&self.me) { owners.remove(key); }
//! #     }
//! # }
//! use sockjs::{Session, SockJsRouter};
//!
//! let store = Store::default();
//! let node = |me: &str| {
//!     SockJsRouter::new(|_session: Session| async {})
//!         .directory(store.node(me))
//!         .into_router()
//! };
//! // Behind one load balancer, without stickiness:
//! let node_a: axum::Router = axum::Router::new().nest("/chat", node("http://10.0.0.1:8080"));
//! let node_b: axum::Router = axum::Router::new().nest("/chat", node("http://10.0.0.2:8080"));
//! ```

mod directory;
mod forward;

pub use directory::{Directory, DirectoryError, Owner};
pub(crate) use forward::{directory_key, route_to_owner};
