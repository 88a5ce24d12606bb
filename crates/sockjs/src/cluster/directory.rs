//! [`Directory`]: which node holds which session.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Where a session lives.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryError(pub String);

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session directory: {}", self.0)
    }
}

impl std::error::Error for DirectoryError {}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which node holds which session, shared by the nodes of a cluster.
///
/// Keys are opaque strings unique per service and session (the service's
/// path and the session id). Implementations must make [`claim`](Self::claim)
/// atomic (two nodes claiming one key: one wins, the other learns the
/// winner), keep this node's claims alive while it runs and let them expire
/// when it dies, so that the sessions of a dead node are forgotten within a
/// bounded time.
pub trait Directory: Send + Sync + 'static {
    /// Who holds `key`.
    fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>>;

    /// Claims `key` for this node: [`Owner::Local`] when it is this node's
    /// now, or the node that claimed it first.
    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>>;

    /// This node no longer holds `key` (the session ended). Must not wait.
    fn release(&self, key: &str);
}
