//! [`Forwarding`]: how the nodes of a cluster prove forwarded requests and
//! reach each other.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio_rustls::rustls;

/// The shortest secret accepted by [`Forwarding::secret`].
pub(crate) const MIN_SECRET: usize = 16;

pub(crate) type HopClient = Client<HttpsConnector<HttpConnector>, Body>;

/// How the nodes of a cluster forward requests to each other
/// ([`SockJsRouter::forwarding`](crate::SockJsRouter::forwarding)): the
/// secret that proves a request was forwarded by a node, how far apart the
/// nodes' clocks may be, and the certificate authorities that `https://`
/// node URLs are checked against.
///
/// **Signed hops.** A node that forwards a request adds
/// `X-SockJS-Forwarded: v1 <unix time> <HMAC-SHA256>` over the method, the
/// path and query, the session and the time, keyed with the cluster's
/// secret. The node that gets it serves it where it lands (never forwarding
/// it again, so nodes that disagree for a moment make no loop) only when
/// the signature holds and its time is within [`max_skew`](Self::max_skew)
/// of its own clock. **Any other `X-SockJS-Forwarded` is refused** with
/// `403 Forwarded request not authenticated.` (`text/plain`), and logged
/// with the reason (malformed, stale, bad signature): a client cannot make
/// a node open a shadow of a session another node holds. The marker is
/// refused rather than stripped so that nodes with different secrets show
/// the fault at once instead of forwarding a request back and forth.
/// Other `X-SockJS-Forwarded-*` headers from clients are removed, and a
/// verified marker is removed before the application sees the request.
///
/// **The secret**, in this order: the one given here; else the one the
/// [`Directory`](super::Directory) shares
/// ([`shared_secret`](super::Directory::shared_secret): `sockjs-redis`
/// generates one once and keeps it in Redis, and
/// [`MemoryDirectory`](super::MemoryDirectory) one per table); else a
/// random secret of this process, with a warning, which nodes in other
/// processes do not know, so their forwarded requests are refused (closed,
/// never open). When the directory cannot give its secret (its store is
/// down), a node serves the requests it would forward itself, as on any
/// directory error, and answers forwarded ones `503 Cluster secret
/// unavailable.`.
///
/// **TLS.** A node URL `https://...` is reached over TLS (rustls),
/// checked against the authorities given with
/// [`tls_ca_pem`](Self::tls_ca_pem) (none by default: every `https://`
/// owner answers `502 Session owner unreachable.`, with the TLS error
/// logged). Without TLS, forwarded requests cross the network in the
/// clear with the client's `Cookie` and `Authorization`, and a signed
/// request seen on the wire can be replayed within the clock skew: use
/// `https://` node URLs unless the nodes' network is private.
///
/// ```
/// use std::time::Duration;
/// use sockjs::cluster::{Forwarding, MemoryDirectory};
/// use sockjs::{Session, SockJsRouter};
///
/// # fn main() -> Result<(), sockjs::cluster::ForwardingError> {
/// // The CA that signed every node's certificate (a PEM file in practice).
/// let ca = rcgen::generate_simple_self_signed(vec!["node-1.internal".into()]).unwrap();
/// let forwarding = Forwarding::new()
///     .secret("the same 32 random bytes on every node")
///     .max_skew(Duration::from_secs(5))
///     .tls_ca_pem(ca.cert.pem().as_bytes())?;
/// let chat = SockJsRouter::new(|_session: Session| async {})
///     .directory(MemoryDirectory::new("https://node-1.internal:8443"))
///     .forwarding(forwarding)
///     .into_router();
/// let app: axum::Router = axum::Router::new().nest("/chat", chat);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Forwarding {
    pub(crate) secret: Option<Arc<[u8]>>,
    pub(crate) max_skew: Duration,
    /// The authorities `https://` node URLs are checked against.
    roots: Arc<rustls::RootCertStore>,
    /// The client, made at first use; shared by every clone, so services
    /// given one `Forwarding` share one connection pool.
    client: Arc<OnceLock<HopClient>>,
}

/// A [`Forwarding`] setting that cannot be used: a PEM without a
/// certificate, or a certificate that is not one.
///
/// ```
/// use sockjs::cluster::Forwarding;
///
/// let error = Forwarding::new().tls_ca_pem(b"not a certificate").unwrap_err();
/// assert!(error.to_string().starts_with("cluster forwarding: "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardingError(String);

impl fmt::Display for ForwardingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster forwarding: {}", self.0)
    }
}

impl std::error::Error for ForwardingError {}

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            secret: None,
            max_skew: Duration::from_secs(10),
            roots: Arc::new(rustls::RootCertStore::empty()),
            client: Arc::default(),
        }
    }
}

fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Forwarding {
    /// The defaults: the secret from the directory (see above), a clock
    /// skew of 10 s, no TLS authorities.
    ///
    /// ```
    /// use sockjs::cluster::Forwarding;
    ///
    /// let forwarding = Forwarding::new();
    /// assert_eq!(forwarding.max_skew_value(), std::time::Duration::from_secs(10));
    /// ```
    pub fn new() -> Forwarding {
        Forwarding::default()
    }

    /// The secret every node of the cluster signs and checks forwarded
    /// requests with, overriding the directory's. At least 16 bytes (32
    /// random bytes are right); a shorter one is ignored, with an error
    /// logged when the service is built. Default: the directory's.
    ///
    /// ```
    /// use sockjs::cluster::Forwarding;
    ///
    /// let secret = std::env::var("CLUSTER_SECRET").unwrap_or_else(|_| "dev secret, 16+ bytes".into());
    /// let forwarding = Forwarding::new().secret(secret);
    /// # let _ = forwarding;
    /// ```
    #[must_use]
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(Arc::from(secret.as_ref()));
        self
    }

    /// How far a forwarded request's time may be from this node's clock,
    /// either way: the window in which a captured request could be
    /// replayed, and how far apart the nodes' clocks may drift. Whole
    /// seconds (rounded down). Default: 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockjs::cluster::Forwarding;
    ///
    /// let forwarding = Forwarding::new().max_skew(Duration::from_secs(3));
    /// assert_eq!(forwarding.max_skew_value(), Duration::from_secs(3));
    /// ```
    #[must_use]
    pub fn max_skew(mut self, skew: Duration) -> Self {
        self.max_skew = Duration::from_secs(skew.as_secs());
        self
    }

    /// The allowed clock skew ([`max_skew`](Self::max_skew)).
    ///
    /// ```
    /// use sockjs::cluster::Forwarding;
    ///
    /// assert_eq!(Forwarding::new().max_skew_value().as_secs(), 10);
    /// ```
    pub fn max_skew_value(&self) -> Duration {
        self.max_skew
    }

    /// Trusts the certificate authorities in `pem` (one or more `BEGIN
    /// CERTIFICATE` blocks, such as a private CA's `ca.pem`) for
    /// `https://` node URLs, in addition to those given before. A node's
    /// certificate must name the host of its URL. Default: none.
    ///
    /// ```
    /// use sockjs::cluster::Forwarding;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // let pem = std::fs::read("/etc/cluster/ca.pem")?;
    /// let ca = rcgen::generate_simple_self_signed(vec!["node-1.internal".into()])?;
    /// let pem = ca.cert.pem();
    /// let forwarding = Forwarding::new().tls_ca_pem(pem.as_bytes())?;
    /// # let _ = forwarding;
    /// # Ok(())
    /// # }
    /// ```
    pub fn tls_ca_pem(mut self, pem: &[u8]) -> Result<Self, ForwardingError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ForwardingError(format!("CA PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ForwardingError("CA PEM: no certificate in it".into()));
        }
        let mut roots = (*self.roots).clone();
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| ForwardingError(format!("CA certificate: {e}")))?;
        }
        self.roots = Arc::new(roots);
        self.client = Arc::default();
        Ok(self)
    }

    /// The HTTP(S) client of the hops.
    pub(crate) fn client(&self) -> &HopClient {
        self.client.get_or_init(|| {
            let mut http = HttpConnector::new();
            http.set_nodelay(true);
            http.set_connect_timeout(Some(Duration::from_secs(2)));
            http.enforce_http(false);
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(client_config((*self.roots).clone()))
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector)
        })
    }
}

impl fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarding")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("max_skew", &self.max_skew)
            .field("tls_authorities", &self.roots.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_shows_whether_a_secret_is_set_never_the_secret() {
        let unset = format!("{:?}", Forwarding::new());
        assert!(unset.starts_with("Forwarding {"), "{unset}");
        assert!(unset.contains("secret: None"), "{unset}");
        let set = format!(
            "{:?}",
            Forwarding::new().secret("correct horse battery staple")
        );
        assert!(set.contains("secret: Some(\"<set>\")"), "{set}");
        assert!(!set.contains("horse"), "{set}");
    }
}
