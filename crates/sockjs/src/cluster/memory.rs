//! [`MemoryDirectory`]: a [`Directory`] in this process's memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::directory::{BoxFuture, Directory, DirectoryError, Owner};

/// A [`Directory`] kept in this process's memory: one table of session
/// owners, shared by every node view made from it with
/// [`node`](Self::node).
///
/// Its nodes share a random forwarding secret
/// ([`Directory::shared_secret`]), made with the table.
///
/// For several nodes in **one process**: a `#[tokio::test]` of routing
/// through a cluster, or a process that serves one service on several
/// listeners. Nodes in different processes each have their own memory, so
/// they need a shared store instead (`sockjs-redis`'s `Directory`). It is
/// also the reference for what a [`Directory`] answers (its source is
/// short); it has no expiry, since its nodes live and die with the
/// process.
///
/// ```
/// use sockjs::cluster::{Directory, MemoryDirectory, Owner};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
/// let a = MemoryDirectory::new("http://127.0.0.1:8081");
/// let b = a.node("http://127.0.0.1:8082"); // the same table, another node
/// assert_eq!(a.claim("/chat/abc").await?, Owner::Local);
/// assert_eq!(b.owner("/chat/abc").await?, Owner::Remote("http://127.0.0.1:8081".into()));
/// assert_eq!(b.holder("/chat/abc").as_deref(), Some("http://127.0.0.1:8081"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryDirectory {
    node_url: String,
    /// Session key → base URL of the node that holds it.
    owners: Arc<Mutex<HashMap<String, String>>>,
    /// The table's forwarding secret, random ([`Directory::shared_secret`]).
    secret: Arc<[u8; 32]>,
}

impl MemoryDirectory {
    /// A new, empty table, seen by the node answering at `node_url` (the
    /// base URL other nodes forward to, such as `http://10.0.0.1:8080`).
    ///
    /// ```
    /// use sockjs::cluster::MemoryDirectory;
    ///
    /// let directory = MemoryDirectory::new("http://127.0.0.1:8081");
    /// assert_eq!(directory.node_url(), "http://127.0.0.1:8081");
    /// assert!(directory.is_empty());
    /// ```
    pub fn new(node_url: impl Into<String>) -> MemoryDirectory {
        let mut secret = [0; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .expect("the system's random source");
        MemoryDirectory {
            node_url: node_url.into(),
            owners: Arc::default(),
            secret: Arc::new(secret),
        }
    }

    /// The same table, seen by the node answering at `node_url`.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://127.0.0.1:8081");
    /// let b = a.node("http://127.0.0.1:8082");
    /// b.claim("/chat/xyz").await?;
    /// assert_eq!(a.len(), 1); // one table
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn node(&self, node_url: impl Into<String>) -> MemoryDirectory {
        MemoryDirectory {
            node_url: node_url.into(),
            owners: Arc::clone(&self.owners),
            secret: Arc::clone(&self.secret),
        }
    }

    /// The base URL of the node this view belongs to.
    ///
    /// ```
    /// use sockjs::cluster::MemoryDirectory;
    ///
    /// let b = MemoryDirectory::new("http://127.0.0.1:8081").node("http://127.0.0.1:8082");
    /// assert_eq!(b.node_url(), "http://127.0.0.1:8082");
    /// ```
    pub fn node_url(&self) -> &str {
        &self.node_url
    }

    /// The base URL of the node holding `key`, whichever node asks.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://127.0.0.1:8081");
    /// assert_eq!(a.holder("/chat/abc"), None);
    /// a.claim("/chat/abc").await?;
    /// assert_eq!(a.holder("/chat/abc").as_deref(), Some("http://127.0.0.1:8081"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn holder(&self, key: &str) -> Option<String> {
        self.owners().get(key).cloned()
    }

    /// How many sessions the table holds, on every node.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://127.0.0.1:8081");
    /// a.claim("/chat/1").await?;
    /// a.node("http://127.0.0.1:8082").claim("/chat/2").await?;
    /// assert_eq!(a.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.owners().len()
    }

    /// Whether the table holds no session.
    ///
    /// ```
    /// use sockjs::cluster::{Directory, MemoryDirectory};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sockjs::cluster::DirectoryError> {
    /// let a = MemoryDirectory::new("http://127.0.0.1:8081");
    /// assert!(a.is_empty());
    /// a.claim("/chat/1").await?;
    /// assert!(!a.is_empty());
    /// a.release("/chat/1");
    /// assert!(a.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.owners().is_empty()
    }

    /// The table; a panic elsewhere while it was locked leaves it
    /// consistent (every change is one map operation), so poisoning is
    /// ignored.
    fn owners(&self) -> MutexGuard<'_, HashMap<String, String>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn owner_at(&self, url: &str) -> Owner {
        if url == self.node_url {
            Owner::Local
        } else {
            Owner::Remote(url.to_owned())
        }
    }
}

impl Directory for MemoryDirectory {
    fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
        let owner = self
            .owners()
            .get(key)
            .map_or(Owner::Unknown, |url| self.owner_at(url));
        Box::pin(async move { Ok(owner) })
    }

    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
        let owner = {
            let mut owners = self.owners();
            let url = owners
                .entry(key.to_owned())
                .or_insert_with(|| self.node_url.clone());
            self.owner_at(url)
        };
        Box::pin(async move { Ok(owner) })
    }

    fn release(&self, key: &str) {
        let mut owners = self.owners();
        // Only this node's own claim: a session another node holds stays.
        if owners.get(key) == Some(&self.node_url) {
            owners.remove(key);
        }
    }

    fn shared_secret(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, DirectoryError>> {
        let secret = self.secret.to_vec();
        Box::pin(async move { Ok(Some(secret)) })
    }
}

impl fmt::Debug for MemoryDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDirectory")
            .field("node_url", &self.node_url)
            .field("sessions", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_claim_wins_and_release_is_the_holders_only() {
        let a = MemoryDirectory::new("http://a");
        let b = a.node("http://b");
        assert_eq!(b.owner("k").await, Ok(Owner::Unknown));
        assert_eq!(a.claim("k").await, Ok(Owner::Local));
        assert_eq!(b.claim("k").await, Ok(Owner::Remote("http://a".into())));
        assert_eq!(a.claim("k").await, Ok(Owner::Local), "claiming again");
        b.release("k"); // not b's: stays
        assert_eq!(b.owner("k").await, Ok(Owner::Remote("http://a".into())));
        a.release("k");
        assert_eq!(b.owner("k").await, Ok(Owner::Unknown));
        assert_eq!(b.claim("k").await, Ok(Owner::Local));
        assert_eq!(
            format!("{a:?}"),
            r#"MemoryDirectory { node_url: "http://a", sessions: 1 }"#
        );
    }
}
