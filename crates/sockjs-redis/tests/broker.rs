//! The broker through a real `redis-server`: two nodes in one process
//! (two handles, two `Rooms`), sessions on each polled in-process.

mod server;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use server::RedisServer;
use sockjs::{Config, Rooms, Session, SockJsRouter};
use sockjs_redis::{Options, Redis};
use tower::ServiceExt;

/// `/room`: a session joins the room named by its first message, then
/// only receives.
fn app(rooms: &Rooms) -> Router {
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        if let Some(room) = rx.recv().await {
            tx.join(&room);
            let _ = tx.send(format!("joined {room}")).await;
        }
        while rx.recv().await.is_some() {}
    })
    .config(Config::default().disconnect_delay(Duration::from_secs(30)))
    .rooms(rooms.clone())
    .into_router();
    Router::new().nest_service("/room", service)
}

async fn post(app: &Router, path: &str, body: &str) -> (u16, String) {
    let request = http::Request::post(path)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Opens session `id` and puts it in `room`.
async fn member(app: &Router, id: &str, room: &str) {
    assert_eq!(post(app, &format!("/room/0/{id}/xhr"), "").await.1, "o\n");
    let body = serde_json::to_string(&[room]).unwrap();
    let sent = post(app, &format!("/room/0/{id}/xhr_send"), &body).await;
    assert_eq!(sent.0, 204);
    assert_eq!(
        messages(app, id).await,
        vec![format!("joined {room}")],
        "{id}"
    );
}

/// One poll: the messages of its `a[...]` frame.
async fn messages(app: &Router, id: &str) -> Vec<String> {
    let path = format!("/room/0/{id}/xhr");
    let (_, frame) = tokio::time::timeout(Duration::from_secs(10), post(app, &path, ""))
        .await
        .expect("a frame within 10 s");
    match sockjs_proto::decode(frame.trim_end()) {
        Ok(sockjs_proto::Decoded::Messages(messages)) => {
            messages.into_iter().map(|m| m.into_owned()).collect()
        }
        _ => panic!("{id}: not a message frame: {frame:?}"),
    }
}

/// Polls `id` until it has received `last` (from each publisher it waits
/// for), returning everything it got.
async fn until(app: &Router, id: &str, last: &[&str]) -> Vec<String> {
    let mut got = Vec::new();
    while !last.iter().all(|l| got.iter().any(|m| m == l)) {
        got.extend(messages(app, id).await);
    }
    got
}

async fn subscribed(nodes: &[&Redis]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !nodes.iter().all(|n| n.stats().subscribed) {
        assert!(Instant::now() < deadline, "not subscribed: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Only the messages starting with `prefix`.
fn from(got: &[String], prefix: &str) -> Vec<String> {
    got.iter()
        .filter(|m| m.starts_with(prefix))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_messages_cross_nodes_once_in_order_never_back() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = Redis::connect(&server.url()).await.unwrap();
    let b = Redis::connect(&server.url()).await.unwrap();
    let (rooms_a, rooms_b) = (a.rooms("/room"), b.rooms("/room"));
    let (node_a, node_b) = (app(&rooms_a), app(&rooms_b));
    subscribed(&[&a, &b]).await;
    member(&node_a, "a1", "lobby").await;
    member(&node_b, "b1", "lobby").await;
    member(&node_b, "b2", "other").await;

    // Interleaved: node a to the lobby, node b to everyone.
    for i in 0..200 {
        assert_eq!(rooms_a.send("lobby", format!("m{i}")), 1);
        if i % 20 == 0 {
            assert_eq!(rooms_b.send_all(format!("x{}", i / 20)), 2);
        }
    }
    rooms_a.send("lobby", "m-end");
    rooms_b.send_all("x-end");

    let mut lobby = numbered("m", 200);
    lobby.push("m-end".into());
    let mut all = numbered("x", 10);
    all.push("x-end".into());
    for (node, id) in [(&node_a, "a1"), (&node_b, "b1")] {
        let got = until(node, id, &["m-end", "x-end"]).await;
        // Each sender's messages once and in its order; nothing else.
        assert_eq!(from(&got, "m"), lobby, "{id}");
        assert_eq!(from(&got, "x"), all, "{id}");
        assert_eq!(got.len(), lobby.len() + all.len(), "{id}");
    }
    let got = until(&node_b, "b2", &["x-end"]).await;
    assert_eq!(got, all, "b2 is not in the lobby");

    // Nothing came back to its sender: a received b's 11, b received a's 201.
    // (A publisher counts a batch once Redis has answered, which may be
    // after the other node got it.)
    let deadline = Instant::now() + Duration::from_secs(5);
    while (a.stats().published, b.stats().published) != (201, 11) {
        assert!(Instant::now() < deadline, "{:?} {:?}", a.stats(), b.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.published, sa.received), (201, 11), "{sa:?}");
    assert_eq!((sb.published, sb.received), (11, 201), "{sb:?}");
    assert_eq!(sa.duplicates + sb.duplicates + sa.missed + sb.missed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_local_delivery_goes_on_then_resumes() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let options = Options::default().timeout(Duration::from_millis(200));
    let a = Redis::connect_with(&server.url(), options.clone())
        .await
        .unwrap();
    let b = Redis::connect_with(&server.url(), options).await.unwrap();
    let (rooms_a, rooms_b) = (a.rooms("/room"), b.rooms("/room"));
    let (node_a, node_b) = (app(&rooms_a), app(&rooms_b));
    subscribed(&[&a, &b]).await;
    member(&node_a, "a1", "r").await;
    member(&node_b, "b1", "r").await;
    rooms_a.send("r", "before");
    assert_eq!(messages(&node_b, "b1").await, ["before"]);
    assert_eq!(messages(&node_a, "a1").await, ["before"]);

    server.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.stats().subscribed || b.stats().subscribed {
        assert!(Instant::now() < deadline, "the loss went unnoticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Redis is gone: this node's members are still served, at once.
    assert_eq!(rooms_a.send("r", "during"), 1);
    assert_eq!(messages(&node_a, "a1").await, ["during"]);

    server.restart();
    subscribed(&[&a, &b]).await;
    // Both nodes are subscribed again: messages cross, both ways.
    rooms_a.send("r", "after-a");
    rooms_b.send("r", "after-b");
    let got_b = until(&node_b, "b1", &["after-a", "after-b"]).await;
    let got_a = until(&node_a, "a1", &["after-a", "after-b"]).await;
    // "during" reaches b only if b resubscribed before a published it
    // again; whatever arrived, arrived once and in order.
    for got in [&got_a, &got_b] {
        let of_a: Vec<&String> = got.iter().filter(|m| *m != "after-b").collect();
        assert!(
            of_a == ["during", "after-a"] || of_a == ["after-a"],
            "{got:?}"
        );
    }
    assert!(a.stats().publishing, "{:?}", a.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_for_other_nodes_only() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let options = Options::default()
        .queue_capacity(4)
        .timeout(Duration::from_millis(100));
    let a = Redis::connect_with(&server.url(), options).await.unwrap();
    let rooms = a.rooms("/room");
    let node = app(&rooms);
    member(&node, "a1", "r").await;
    server.kill();
    // Publishing fails and retries; the queue fills; sending never waits.
    let started = Instant::now();
    for i in 0..50 {
        assert_eq!(rooms.send("r", i.to_string()), 1);
    }
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(messages(&node, "a1").await, numbered("", 50));
    // 4 in the queue and one batch (at most 4) in the task's hands.
    let stats = a.stats();
    assert!(stats.dropped >= 42, "{stats:?}");
    assert_eq!(stats.published, 0, "{stats:?}");
}
