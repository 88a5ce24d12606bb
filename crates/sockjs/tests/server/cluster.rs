//! Several nodes without sticky routing (feature `cluster`): any node
//! serves any session's HTTP requests, forwarding them to the node that
//! holds it. Three nodes on real sockets, one `MemoryDirectory`; forwarded
//! requests are signed, and nothing a client sends passes for one; the hop
//! over TLS with a private CA.
#![cfg(feature = "cluster")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::fixture::*;
use axum::Router;
use sockjs::cluster::{Directory, Forwarding, MemoryDirectory, Owner};
use sockjs::SockJsRouter;
use sockjs_conformance::client::{Request, Target};

/// Node `node`'s `/echo` app (echo; tells which node it is on its open)
/// with its view of the directory, as node `me`.
fn node_app(node: usize, directory: &MemoryDirectory, me: &str, forwarding: Forwarding) -> Router {
    let echo = SockJsRouter::new(move |session: sockjs::Session| async move {
        let (tx, mut rx) = session.split();
        let _ = tx.send(format!("node {node}")).await;
        while let Some(m) = rx.recv().await {
            if tx.send(m).await.is_err() {
                break;
            }
        }
    })
    .config(fast_config().disconnect_delay(Duration::from_millis(300)))
    .directory(directory.node(me))
    .forwarding(forwarding)
    .into_router();
    Router::new().nest("/echo", echo)
}

fn target(addr: SocketAddr) -> Target {
    Target {
        addr,
        host: addr.to_string(),
        prefix: String::new(),
        timeout: Duration::from_secs(5),
    }
}

/// Starts `n` nodes serving `/echo` with one shared directory.
async fn nodes(n: usize, directory: &MemoryDirectory) -> Vec<Target> {
    nodes_with(n, directory, Forwarding::new()).await
}

async fn nodes_with(n: usize, directory: &MemoryDirectory, forwarding: Forwarding) -> Vec<Target> {
    let mut targets = Vec::new();
    for node in 0..n {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let app = node_app(
            node,
            directory,
            &format!("http://{addr}"),
            forwarding.clone(),
        );
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        targets.push(target(addr));
    }
    targets
}

async fn post(target: &Target, path: &str, body: &str) -> (u16, String) {
    let r = target
        .send(Request::new("POST", path).body(body))
        .await
        .unwrap();
    (r.status(), r.text())
}

#[tokio::test]
async fn any_node_serves_any_session() {
    let directory = MemoryDirectory::new("http://test");
    let n = nodes(3, &directory).await;
    // Opened on node 0, which holds it from now on.
    assert_eq!(post(&n[0], "/echo/0/s/xhr", "").await, (200, "o\n".into()));
    assert_eq!(
        directory.holder("/echo/s"),
        Some(format!("http://{}", n[0].host))
    );
    // Round robin: every request lands elsewhere, and is forwarded.
    assert_eq!(post(&n[1], "/echo/1/s/xhr", "").await.1, "a[\"node 0\"]\n");
    assert_eq!(
        post(&n[2], "/echo/2/s/xhr_send", "[\"x\",\"y\"]").await.0,
        204
    );
    assert_eq!(post(&n[1], "/echo/1/s/xhr_send", "[\"z\"]").await.0, 204);
    assert_eq!(
        post(&n[2], "/echo/2/s/xhr", "").await.1,
        "a[\"x\",\"y\",\"z\"]\n"
    );
    // A streaming response through another node, across response_limit.
    let mut stream = n[1]
        .open(Request::new("POST", "/echo/1/s/xhr_streaming"))
        .await
        .unwrap();
    stream.read_exact(2049).await.unwrap();
    let big = "b".repeat(3000);
    for _ in 0..2 {
        let body = format!("[\"{big}\"]");
        assert_eq!(post(&n[2], "/echo/2/s/xhr_send", &body).await.0, 204);
    }
    for _ in 0..2 {
        let frame = stream.read_text_until("\n").await.unwrap();
        assert_eq!(frame, format!("a[\"{big}\"]\n"));
    }
    // response_limit (4096) ended that response; the next one goes on.
    stream.expect_end().await.unwrap();
    assert_eq!(
        post(&n[0], "/echo/0/s/xhr_send", "[\"after\"]").await.0,
        204
    );
    assert_eq!(post(&n[1], "/echo/0/s/xhr", "").await.1, "a[\"after\"]\n");
    // Sessions opened on other nodes stay there.
    assert_eq!(post(&n[2], "/echo/0/t/xhr", "").await, (200, "o\n".into()));
    assert_eq!(post(&n[0], "/echo/0/t/xhr", "").await.1, "a[\"node 2\"]\n");
}

#[tokio::test]
async fn a_forgotten_session_is_released_and_an_unreachable_owner_is_a_502() {
    let directory = MemoryDirectory::new("http://test");
    let n = nodes(2, &directory).await;
    assert_eq!(post(&n[0], "/echo/0/gone/xhr", "").await.1, "o\n");
    assert!(directory.holder("/echo/gone").is_some());
    // No poll for disconnect_delay (300 ms): forgotten, and released.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if directory.holder("/echo/gone").is_none() {
            break;
        }
    }
    assert!(directory.holder("/echo/gone").is_none());
    // Sending to a session nobody holds: 404, as on one node.
    assert_eq!(post(&n[1], "/echo/0/gone/xhr_send", "[\"x\"]").await.0, 404);
    // A refused open (bad callback) claims nothing.
    let r = n[1]
        .send(Request::new("GET", "/echo/0/j/jsonp"))
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(directory.is_empty());
    // An owner that went away.
    let dead = directory.node("http://127.0.0.1:9");
    assert_eq!(dead.claim("/echo/dead").await, Ok(Owner::Local));
    let (status, body) = post(&n[1], "/echo/0/dead/xhr", "").await;
    assert_eq!((status, body.as_str()), (502, "Session owner unreachable."));
}

const SECRET: &[u8] = b"the secret of the test cluster, 32+ bytes";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The marker a node holding `secret` would add (the format of
/// `cluster::Forwarding`'s docs, made here by hand).
fn marker(secret: &[u8], method: &str, path: &str, key: &str, at: u64) -> String {
    let key_ = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let message = format!("sockjs-forwarded v1\n{method}\n{path}\n{key}\n{at}");
    let tag = ring::hmac::sign(&key_, message.as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1 {at} {hex}")
}

async fn post_with(
    target: &Target,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = Request::new("POST", path).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let r = target.send(request).await.unwrap();
    (r.status(), r.text())
}

const REFUSED: (u16, &str) = (403, "Forwarded request not authenticated.");

/// The attack of issue 15: a client sends the forwarding marker to a node
/// that does not hold the victim's session, hoping it opens a shadow there
/// that catches the victim's sends. Refused, whatever the marker says; the
/// victim's messages all reach the victim.
#[tokio::test]
async fn a_client_marker_opens_nothing_and_reads_nothing() {
    let directory = MemoryDirectory::new("http://test");
    let n = nodes(2, &directory).await;
    assert_eq!(post(&n[0], "/echo/0/v/xhr", "").await, (200, "o\n".into()));
    let now = unix_now();
    let forged = [
        "1".to_owned(),
        "true".to_owned(),
        format!("v1 {now} {}", "0".repeat(64)),
        // Signed, but with a secret the cluster does not use.
        marker(
            b"a guess at the cluster secret....",
            "POST",
            "/echo/0/v/xhr",
            "/echo/v",
            now,
        ),
    ];
    for value in &forged {
        for path in ["/echo/0/v/xhr", "/echo/0/v/xhr_streaming"] {
            let (status, body) = post_with(&n[1], path, "", &[("X-SockJS-Forwarded", value)]).await;
            assert_eq!((status, body.as_str()), REFUSED, "{path} with {value:?}");
        }
        // The victim sends through the node the attacker tried.
        let body = format!("[\"victim msg {value}\"]");
        assert_eq!(post(&n[1], "/echo/1/v/xhr_send", &body).await.0, 204);
        // A send with the marker cannot reach a shadow either.
        let (status, _) = post_with(
            &n[1],
            "/echo/1/v/xhr_send",
            "[\"x\"]",
            &[("X-SockJS-Forwarded", value)],
        )
        .await;
        assert_eq!(status, 403);
    }
    // Nothing was opened on node 1: the session is still node 0's alone,
    // and every message the victim sent is there, in order.
    assert_eq!(
        directory.holder("/echo/v"),
        Some(format!("http://{}", n[0].host))
    );
    assert_eq!(directory.len(), 1);
    let (status, body) = post(&n[1], "/echo/1/v/xhr", "").await;
    assert_eq!(status, 200);
    let want: Vec<String> = std::iter::once("\"node 0\"".to_owned())
        .chain(forged.iter().map(|v| format!("\"victim msg {v}\"")))
        .collect();
    assert_eq!(body, format!("a[{}]\n", want.join(",")));
    // An unknown session with a marker: refused too, and nothing claimed.
    let (status, _) = post_with(&n[1], "/echo/0/new/xhr", "", &[("X-SockJS-Forwarded", "1")]).await;
    assert_eq!(status, 403);
    assert_eq!(directory.holder("/echo/new"), None);
}

/// A marker signed with the cluster's secret is what nodes send each
/// other; one that is too old (a replay), from the future, for another
/// request or session, or with lookalike headers around it is refused.
#[tokio::test]
async fn a_stale_or_misapplied_signature_is_refused() {
    let directory = MemoryDirectory::new("http://test");
    let forwarding = Forwarding::new()
        .secret(SECRET)
        .max_skew(Duration::from_secs(5));
    let n = nodes_with(2, &directory, forwarding).await;
    assert_eq!(post(&n[0], "/echo/0/s/xhr", "").await.1, "o\n");
    let now = unix_now();
    let path = "/echo/1/s/xhr";
    let cases = [
        (
            "60 s old",
            marker(SECRET, "POST", path, "/echo/s", now - 60),
        ),
        (
            "60 s ahead",
            marker(SECRET, "POST", path, "/echo/s", now + 60),
        ),
        (
            "another path",
            marker(SECRET, "POST", "/echo/1/s/xhr_streaming", "/echo/s", now),
        ),
        (
            "another session",
            marker(SECRET, "POST", "/echo/1/t/xhr", "/echo/t", now),
        ),
        (
            "another method",
            marker(SECRET, "GET", path, "/echo/s", now),
        ),
    ];
    for (what, value) in &cases {
        let (status, body) = post_with(&n[1], path, "", &[("X-SockJS-Forwarded", value)]).await;
        assert_eq!((status, body.as_str()), REFUSED, "{what}");
    }
    // Sessions forwarded by the nodes themselves still work.
    assert_eq!(post(&n[1], "/echo/1/s/xhr_send", "[\"hi\"]").await.0, 204);
    assert_eq!(post(&n[1], path, "").await.1, "a[\"node 0\",\"hi\"]\n");
    // A valid marker is served where it lands (a node's view may lag the
    // directory's for a moment): this is what node 1 would get from a node.
    let value = marker(SECRET, "POST", "/echo/1/u/xhr", "/echo/u", unix_now());
    let (status, body) = post_with(
        &n[1],
        "/echo/1/u/xhr",
        "",
        &[("X-SockJS-Forwarded", &value)],
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "o\n"));
}

/// A request whose marker a node cannot check, because the nodes' secrets
/// differ (misconfigured): refused at once by the owner, not bounced back
/// and forth.
#[tokio::test]
async fn nodes_with_different_secrets_refuse_each_other() {
    let directory = MemoryDirectory::new("http://test");
    let a = nodes_with(1, &directory, Forwarding::new().secret(SECRET)).await;
    let b = nodes_with(
        1,
        &directory,
        Forwarding::new().secret(b"another secret, also 16+ bytes"),
    )
    .await;
    assert_eq!(post(&a[0], "/echo/0/s/xhr", "").await.1, "o\n");
    let (status, body) = post(&b[0], "/echo/0/s/xhr", "").await;
    assert_eq!((status, body.as_str()), REFUSED);
    // The directory's shared secret, when neither sets one, is the same
    // on both.
    let c = nodes(1, &directory).await;
    let d = nodes(1, &directory).await;
    assert_eq!(post(&c[0], "/echo/0/t/xhr", "").await.1, "o\n");
    assert_eq!(post(&d[0], "/echo/0/t/xhr", "").await.1, "a[\"node 0\"]\n");
}

/// A self-signed CA, and a certificate for `localhost` it signed: the
/// CA's PEM, the node's chain and key.
#[cfg(feature = "tls")]
fn private_ca() -> (String, tokio_rustls::rustls::ServerConfig) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let node_key = KeyPair::generate().unwrap();
    let node_cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&node_key, &issuer)
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![node_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(node_key.serialize_der())),
        )
        .unwrap();
    (ca_cert.pem(), config)
}

/// Node 0 answers only over TLS (`https://localhost:<port>`), with a
/// certificate of a private CA; node 1 forwards to it, trusting that CA.
/// Node 2, which does not trust it, cannot reach node 0 (502). Node 0
/// serves with `sockjs::serve(..).tls(..)`.
#[cfg(feature = "tls")]
#[tokio::test]
async fn the_hop_over_tls_with_a_private_ca() {
    let directory = MemoryDirectory::new("http://test");
    let (ca_pem, server_config) = private_ca();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let owner = node_app(0, &directory, &me, Forwarding::new());
    tokio::spawn(
        sockjs::serve(listener, owner)
            .tls(Arc::new(server_config))
            .into_future(),
    );
    let trusting = Forwarding::new().tls_ca_pem(ca_pem.as_bytes()).unwrap();
    let front = nodes_with(1, &directory, trusting).await;
    let untrusting = nodes(1, &directory).await;
    // The session belongs to the TLS node; its requests arrive elsewhere.
    assert_eq!(directory.node(&me).claim("/echo/s").await, Ok(Owner::Local));
    assert_eq!(
        post(&front[0], "/echo/1/s/xhr", "").await,
        (200, "o\n".into())
    );
    assert_eq!(
        post(&front[0], "/echo/1/s/xhr", "").await.1,
        "a[\"node 0\"]\n"
    );
    assert_eq!(
        post(&front[0], "/echo/1/s/xhr_send", "[\"over tls\"]")
            .await
            .0,
        204
    );
    assert_eq!(
        post(&front[0], "/echo/1/s/xhr", "").await.1,
        "a[\"over tls\"]\n"
    );
    let (status, body) = post(&untrusting[0], "/echo/1/s/xhr", "").await;
    assert_eq!((status, body.as_str()), (502, "Session owner unreachable."));
    // Not a certificate: a clear error.
    assert!(Forwarding::new()
        .tls_ca_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        .is_err());
}
