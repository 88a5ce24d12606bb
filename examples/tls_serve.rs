//! Serving an axum app over TLS with [`sockjs::serve`], HTTP/2 offered by
//! ALPN (what browsers use HTTP/2 with; they never speak it over
//! cleartext), WebSockets over HTTP/2 (extended CONNECT) included: the TLS
//! handshake is `sockjs::serve`'s `accept_with` hook. Used by the `tls`
//! example and by the test server's `--tls-cert`.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::{Accept, TlsAcceptor};

/// A TLS configuration offering `h2` then `http/1.1`.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS handshake for `sockjs::serve(..).accept_with(..)`; the server
/// bounds it by its header read timeout.
pub(crate) fn acceptor(
    tls: Arc<ServerConfig>,
) -> impl Fn(TcpStream) -> Accept<TcpStream> + Send + Sync + 'static {
    let acceptor = TlsAcceptor::from(tls);
    move |tcp| acceptor.accept(tcp)
}
