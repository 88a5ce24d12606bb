//! [`Directory`]: which node holds which session.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Where a session lives.
///
/// ```
/// use sockjs::cluster::Owner;
///
/// fn describe(owner: &Owner) -> String {
///     match owner {
///         Owner::Local => "here".to_owned(),
///         Owner::Remote(base) => format!("forwarded to {base}"),
///         Owner::Unknown => "no such session".to_owned(),
///     }
/// }
/// assert_eq!(describe(&Owner::Remote("http://10.0.0.2:8080".into())), "forwarded to http://10.0.0.2:8080");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// On this node.
    Local,
    /// On the node answering at this base URL (`http://10.0.0.2:8080`);
    /// requests are forwarded there with their path unchanged.
    Remote(String),
    /// Nowhere: the session does not exist (or was forgotten).
    Unknown,
}

/// A directory failed (its store is unreachable, say). Requests are then
/// served by the node that got them, as without a directory.
///
/// ```
/// use sockjs::cluster::DirectoryError;
///
/// // What a directory on a network store returns when the store is down.
/// let error = DirectoryError("connection refused".to_owned());
/// assert_eq!(error.to_string(), "session directory: connection refused");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryError(pub String);

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session directory: {}", self.0)
    }
}

impl std::error::Error for DirectoryError {}

pub(super) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which node holds which session, shared by the nodes of a cluster.
///
/// Keys are opaque strings unique per service and session (the service's
/// path and the session id). Implementations must make [`claim`](Self::claim)
/// atomic (two nodes claiming one key: one wins, the other learns the
/// winner), keep this node's claims alive while it runs and let them expire
/// when it dies, so that the sessions of a dead node are forgotten within a
/// bounded time.
///
/// [`MemoryDirectory`](super::MemoryDirectory) is one for nodes in one
/// process; `sockjs-redis` has one on Redis. Writing one: a map every node
/// shares (a real one keeps it in a store such as Redis, with an expiry on
/// each claim that the node renews while it runs).
///
/// ```
/// use std::collections::HashMap;
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::{Arc, Mutex};
/// use sockjs::cluster::{Directory, DirectoryError, Owner};
/// use sockjs::{Session, SockJsRouter};
///
/// type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
///
/// /// Session key -> base URL of the node that holds it.
/// type Shared = Arc<Mutex<HashMap<String, String>>>;
///
/// struct MapDirectory {
///     me: String,
///     owners: Shared,
/// }
///
/// impl MapDirectory {
///     fn owner_of(&self, url: &str) -> Owner {
///         if url == self.me { Owner::Local } else { Owner::Remote(url.to_owned()) }
///     }
/// }
///
/// impl Directory for MapDirectory {
///     fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
///         let owners = self.owners.lock().unwrap();
///         let owner = owners.get(key).map_or(Owner::Unknown, |url| self.owner_of(url));
///         Box::pin(async move { Ok(owner) })
///     }
///
///     fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
///         let mut owners = self.owners.lock().unwrap();
///         let url = owners.entry(key.to_owned()).or_insert_with(|| self.me.clone());
///         let owner = self.owner_of(url);
///         Box::pin(async move { Ok(owner) })
///     }
///
///     fn release(&self, key: &str) {
///         let mut owners = self.owners.lock().unwrap();
///         if owners.get(key) == Some(&self.me) {
///             owners.remove(key);
///         }
///     }
/// }
///
/// let owners = Shared::default();
/// let node = |me: &str| {
///     let directory = MapDirectory { me: me.to_owned(), owners: owners.clone() };
///     SockJsRouter::new(|_session: Session| async {}).directory(directory).into_router()
/// };
/// let node_a: axum::Router = axum::Router::new().nest("/chat", node("http://10.0.0.1:8080"));
/// let node_b: axum::Router = axum::Router::new().nest("/chat", node("http://10.0.0.2:8080"));
/// ```
pub trait Directory: Send + Sync + 'static {
    /// Who holds `key`.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory, Owner};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://10.0.0.1:8080");
    /// let b = a.node("http://10.0.0.2:8080");
    /// assert_eq!(a.owner("/chat/abc").await?, Owner::Unknown);
    /// a.claim("/chat/abc").await?;
    /// assert_eq!(a.owner("/chat/abc").await?, Owner::Local);
    /// assert_eq!(b.owner("/chat/abc").await?, Owner::Remote("http://10.0.0.1:8080".into()));
    /// # Ok(())
    /// # }
    /// ```
    fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>>;

    /// Claims `key` for this node: [`Owner::Local`] when it is this node's
    /// now, or the node that claimed it first.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory, Owner};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://10.0.0.1:8080");
    /// let b = a.node("http://10.0.0.2:8080");
    /// // Two nodes claim one session: the first wins, the second learns who.
    /// assert_eq!(a.claim("/chat/abc").await?, Owner::Local);
    /// assert_eq!(b.claim("/chat/abc").await?, Owner::Remote("http://10.0.0.1:8080".into()));
    /// # Ok(())
    /// # }
    /// ```
    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>>;

    /// This node no longer holds `key` (the session ended). Must not wait.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory, Owner};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://10.0.0.1:8080");
    /// a.claim("/chat/abc").await?;
    /// a.release("/chat/abc"); // the session ended
    /// assert_eq!(a.owner("/chat/abc").await?, Owner::Unknown);
    /// # Ok(())
    /// # }
    /// ```
    fn release(&self, key: &str);

    /// The secret the cluster's nodes sign forwarded requests with, when
    /// the directory's store shares one (see
    /// [`Forwarding`](super::Forwarding)): at least 16 bytes, the same on
    /// every node, from a store only the nodes can read. Asked for every
    /// forwarded request, sent or received (keep it at hand; it may change
    /// when the store lost it and shares a new one); on an error the node
    /// serves a request it would forward itself, and answers a forwarded
    /// one `503 Cluster secret unavailable.`. A secret given with
    /// [`Forwarding::secret`](super::Forwarding::secret) takes precedence.
    /// Default: `None` (nodes in other processes then refuse each other's
    /// forwarded requests).
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://10.0.0.1:8080");
    /// let b = a.node("http://10.0.0.2:8080");
    /// // One random secret per table, shared by its nodes.
    /// let secret = a.shared_secret().await?.expect("a secret");
    /// assert_eq!(secret.len(), 32);
    /// assert_eq!(b.shared_secret().await?, Some(secret));
    /// assert_ne!(MemoryDirectory::new("http://x").shared_secret().await?, a.shared_secret().await?);
    /// # Ok(())
    /// # }
    /// ```
    fn shared_secret(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, DirectoryError>> {
        Box::pin(async { Ok(None) })
    }
}
