//! Several nodes without sticky routing (feature `cluster`): any node
//! serves any session's HTTP requests, forwarding them to the node that
//! holds it. Three nodes on real sockets, one in-process directory.
#![cfg(feature = "cluster")]

mod fixture;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use fixture::*;
use sockjs::cluster::{Directory, DirectoryError, Owner};
use sockjs::SockJsRouter;
use sockjs_conformance::client::{Request, Target};

type Entries = Arc<Mutex<HashMap<String, String>>>;

/// A directory in this process, shared by the nodes: key → owner's URL.
struct Memory {
    me: String,
    entries: Entries,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Directory for Memory {
    fn owner<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
        let owner = match self.entries.lock().unwrap().get(key) {
            Some(url) if *url == self.me => Owner::Local,
            Some(url) => Owner::Remote(url.clone()),
            None => Owner::Unknown,
        };
        Box::pin(async move { Ok(owner) })
    }

    fn claim<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Owner, DirectoryError>> {
        let mut entries = self.entries.lock().unwrap();
        let url = entries
            .entry(key.to_owned())
            .or_insert_with(|| self.me.clone());
        let owner = if *url == self.me {
            Owner::Local
        } else {
            Owner::Remote(url.clone())
        };
        Box::pin(async move { Ok(owner) })
    }

    fn release(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap();
        if entries.get(key) == Some(&self.me) {
            entries.remove(key);
        }
    }
}

/// Starts `n` nodes serving `/echo` (echo; tells which node it is on its
/// open) with one shared directory.
async fn nodes(n: usize, entries: &Entries) -> Vec<Target> {
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
        .directory(Memory {
            me,
            entries: entries.clone(),
        })
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
    let entries = Entries::default();
    let n = nodes(3, &entries).await;
    // Opened on node 0, which holds it from now on.
    assert_eq!(post(&n[0], "/echo/0/s/xhr", "").await, (200, "o\n".into()));
    assert_eq!(
        entries.lock().unwrap().get("/echo/s"),
        Some(&format!("http://{}", n[0].host))
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
    let entries = Entries::default();
    let n = nodes(2, &entries).await;
    assert_eq!(post(&n[0], "/echo/0/gone/xhr", "").await.1, "o\n");
    assert!(entries.lock().unwrap().contains_key("/echo/gone"));
    // No poll for disconnect_delay (300 ms): forgotten, and released.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !entries.lock().unwrap().contains_key("/echo/gone") {
            break;
        }
    }
    assert!(!entries.lock().unwrap().contains_key("/echo/gone"));
    // Sending to a session nobody holds: 404, as on one node.
    assert_eq!(post(&n[1], "/echo/0/gone/xhr_send", "[\"x\"]").await.0, 404);
    // A refused open (bad callback) claims nothing.
    let r = n[1]
        .send(Request::new("GET", "/echo/0/j/jsonp"))
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(entries.lock().unwrap().is_empty());
    // An owner that went away.
    entries
        .lock()
        .unwrap()
        .insert("/echo/dead".into(), "http://127.0.0.1:9".into());
    let (status, body) = post(&n[1], "/echo/0/dead/xhr", "").await;
    assert_eq!((status, body.as_str()), (502, "Session owner unreachable."));
}
