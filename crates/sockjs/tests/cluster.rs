//! Several nodes without sticky routing (feature `cluster`): any node
//! serves any session's HTTP requests, forwarding them to the node that
//! holds it. Three nodes on real sockets, one `MemoryDirectory`.
#![cfg(feature = "cluster")]

mod fixture;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use fixture::*;
use sockjs::cluster::{Directory, MemoryDirectory, Owner};
use sockjs::SockJsRouter;
use sockjs_conformance::client::{Request, Target};

/// Starts `n` nodes serving `/echo` (echo; tells which node it is on its
/// open) with one shared directory.
async fn nodes(n: usize, directory: &MemoryDirectory) -> Vec<Target> {
    let mut targets = Vec::new();
    for node in 0..n {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let me = format!("http://{addr}");
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
        .into_router();
        let app = Router::new().nest("/echo", echo);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        targets.push(Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(5),
        });
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
