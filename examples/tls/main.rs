//! The echo service over HTTPS, with HTTP/2: what browsers use in
//! production. TLS offers `h2` and `http/1.1` by ALPN; a browser then runs
//! every HTTP transport over HTTP/2 (many sessions on one connection), and
//! Chromium opens WebSockets over HTTP/2 too (RFC 8441 extended CONNECT,
//! which the server allows) once it has an HTTP/2 connection to the origin.
//!
//! The certificate is self-signed, made at start for `localhost` and
//! `127.0.0.1`: the browser warns once. Bring your own with
//! `TLS_CERT=cert.pem TLS_KEY=key.pem`.
//!
//! ```text
//! cargo run --example tls      # then open https://127.0.0.1:8443/
//! curl -k --http2 -XPOST https://127.0.0.1:8443/echo/000/s/xhr    # o, over h2
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sockjs::{Session, SockJsRouter};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;

async fn echo(session: Session) {
    println!(
        "{} session over {:?} from {:?}",
        session.transport(),
        session.http_version(),
        session.remote_addr()
    );
    let (tx, mut rx) = session.split();
    while let Some(message) = rx.recv().await {
        if tx.send(message).await.is_err() {
            break;
        }
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("../echo/index.html"))
}

/// The certificate chain and key: from `TLS_CERT`/`TLS_KEY` (PEM), or a
/// self-signed one made now.
fn certificate() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    if let (Ok(cert), Ok(key)) = (std::env::var("TLS_CERT"), std::env::var("TLS_KEY")) {
        let chain = CertificateDer::pem_file_iter(&cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{cert}: {e}"));
        let key = PrivateKeyDer::from_pem_file(&key).unwrap_or_else(|e| panic!("{key}: {e}"));
        return (chain, key);
    }
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der()).expect("a key");
    (vec![made.cert.der().clone()], key)
}

fn main() {
    // A runtime that serves every session in turn when thousands are busy
    // at once (`#[tokio::main]` cannot be told to; see `sockjs::runtime`).
    sockjs::runtime()
        .build()
        .expect("a tokio runtime")
        .block_on(run());
}

async fn run() {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().expect("PORT must be a port number"),
        Err(_) => 8443,
    };
    let echo = SockJsRouter::new(echo);
    let shutdown = echo.shutdown_handle();
    let app = Router::new()
        .route("/", get(page))
        .nest("/echo", echo.into_router());
    let (chain, key) = certificate();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let tls = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate and its key");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("tls example: open https://{addr}/ (self-signed: accept the warning once)");
    sockjs::serve(listener, app)
        // HTTP/2 by ALPN (h2, then http/1.1), WebSockets over it included.
        .tls(Arc::new(tls))
        .shutdown(shutdown)
        .shutdown_on_signal()
        .await
        .expect("server error");
}
