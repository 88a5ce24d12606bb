//! Presence across nodes through a real `redis-server`: two nodes in one
//! process (two handles, two `Rooms`), sessions on each polled in-process.
//! A room's users are the cluster's, by user key; join and leave events
//! reach every node once; a dead node's users leave within the bound.

mod server;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use server::RedisServer;
use sockjs::rooms::{Broker as _, PresenceEvent, PresenceEvents};
use sockjs::{Config, Rooms, Session, SockJsRouter};
use sockjs_redis::{Options, Redis};
use tower::ServiceExt;

/// `/p`: a session's first message is `<user> <room>`: it takes that user
/// key and joins the room, and answers `joined`. Then `leave` leaves the
/// room (`left`), `bye` closes the session.
fn app(rooms: &Rooms) -> Router {
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        let Some(first) = rx.recv().await else {
            return;
        };
        let Some((user, room)) = first.split_once(' ') else {
            return;
        };
        tx.set_user(user);
        tx.join(room);
        let _ = tx.send("joined").await;
        while let Some(command) = rx.recv().await {
            match command.as_str() {
                "leave" => {
                    tx.leave(room);
                    let _ = tx.send("left").await;
                }
                "bye" => tx.close(1000, "bye"),
                _ => {}
            }
        }
    })
    .config(Config::default().disconnect_delay(Duration::from_secs(30)))
    .rooms(rooms.clone())
    .into_router();
    Router::new().nest_service("/p", service)
}

async fn post(app: &Router, path: &str, body: &str) -> (u16, String) {
    let request = http::Request::post(path)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let call = app.clone().oneshot(request);
    let response = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Sends `message` to session `id`.
async fn send(app: &Router, id: &str, message: &str) {
    let body = serde_json::to_string(&[message]).unwrap();
    let sent = post(app, &format!("/p/0/{id}/xhr_send"), &body).await;
    assert_eq!(sent.0, 204, "{id}");
}

/// One poll: its frame, as text.
async fn poll(app: &Router, id: &str) -> String {
    post(app, &format!("/p/0/{id}/xhr"), "").await.1
}

/// Opens session `id` of `user` in `room`.
async fn open(app: &Router, id: &str, user: &str, room: &str) {
    assert_eq!(poll(app, id).await, "o\n");
    send(app, id, &format!("{user} {room}")).await;
    assert_eq!(poll(app, id).await, "a[\"joined\"]\n", "{id}");
}

/// Two nodes on `server`: each with its rooms of service `/p` and an app
/// serving them, both subscribed.
async fn two_nodes(server: &RedisServer) -> [(Redis, Rooms, Router); 2] {
    let a = Redis::connect(&server.url()).await.unwrap();
    let b = Redis::connect(&server.url()).await.unwrap();
    let (rooms_a, rooms_b) = (a.rooms("/p"), b.rooms("/p"));
    let (node_a, node_b) = (app(&rooms_a), app(&rooms_b));
    subscribed(&[&a, &b]).await;
    [(a, rooms_a, node_a), (b, rooms_b, node_b)]
}

async fn subscribed(nodes: &[&Redis]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !nodes.iter().all(|n| n.stats().subscribed) {
        assert!(Instant::now() < deadline, "not subscribed: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next(events: &mut PresenceEvents) -> PresenceEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the rooms are there")
}

/// No event within `wait` (what should have come before it has come).
async fn quiet(events: &mut PresenceEvents, wait: Duration) {
    if let Ok(event) = tokio::time::timeout(wait, events.recv()).await {
        panic!("unexpected {event:?}");
    }
}

/// Waits until `rooms` sees `users` in `room`.
async fn users_become(rooms: &Rooms, room: &str, users: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let presence = rooms.presence(room).await;
        if presence.users() == users && presence.is_complete() {
            return;
        }
        assert!(Instant::now() < deadline, "{presence:?}, not {users:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn join(user: &str) -> PresenceEvent {
    PresenceEvent::Join(user.to_owned())
}

fn leave(user: &str) -> PresenceEvent {
    PresenceEvent::Leave(user.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_users_are_the_clusters_and_change_once_for_every_node() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let [(a, rooms_a, node_a), (_b, rooms_b, node_b)] = two_nodes(&server).await;
    let mut events_a = rooms_a.presence_events("lobby");
    let mut events_b = rooms_b.presence_events("lobby");

    // alice on both nodes (two sessions on b), bob on b.
    open(&node_a, "a-alice", "alice", "lobby").await;
    for event in [&mut events_a, &mut events_b] {
        assert_eq!(next(event).await, join("alice"));
    }
    open(&node_b, "b-alice-1", "alice", "lobby").await;
    open(&node_b, "b-alice-2", "alice", "lobby").await;
    open(&node_b, "b-bob", "bob", "lobby").await;
    for event in [&mut events_a, &mut events_b] {
        // Once, however many sessions and nodes alice has.
        assert_eq!(next(event).await, join("bob"));
    }
    for rooms in [&rooms_a, &rooms_b] {
        let presence = rooms.presence("lobby").await;
        assert_eq!(presence.users(), ["alice", "bob"]);
        assert!(presence.is_complete());
    }
    // The sessions, by node: the count above is of users.
    assert_eq!((rooms_a.members("lobby"), rooms_b.members("lobby")), (1, 3));
    // Session ids are nowhere in Redis: the room's users by key, and the
    // nodes' entries by node id and key.
    let here = "ZCARD sockjs:{sockjs:rooms:/p:lobby}:here";
    assert_eq!(server.command(here).as_deref(), Some(":3\r\n"));
    for id in ["a-alice", "b-alice-1", "b-bob"] {
        let key = format!(
            "ZSCORE sockjs:{{sockjs:rooms:/p:lobby}}:here {}|{id}",
            a.node_id()
        );
        assert_eq!(server.command(&key).as_deref(), Some("$-1\r\n"), "{id}");
    }
    let entry = format!(
        "ZSCORE sockjs:{{sockjs:rooms:/p:lobby}}:here {}|alice",
        a.node_id()
    );
    assert_ne!(server.command(&entry).as_deref(), Some("$-1\r\n"));

    // alice leaves node b (one session leaves, the other closes): still
    // on node a, so no event.
    send(&node_b, "b-alice-1", "leave").await;
    assert_eq!(poll(&node_b, "b-alice-1").await, "a[\"left\"]\n");
    send(&node_b, "b-alice-2", "bye").await;
    assert_eq!(poll(&node_b, "b-alice-2").await, "c[1000,\"bye\"]\n");
    // bob's leaving is told after alice's changes: none came before it.
    send(&node_b, "b-bob", "bye").await;
    for event in [&mut events_a, &mut events_b] {
        assert_eq!(next(event).await, leave("bob"));
    }
    users_become(&rooms_b, "lobby", &["alice"]).await;

    // alice's last session closes: she leaves, for every node.
    send(&node_a, "a-alice", "bye").await;
    for event in [&mut events_a, &mut events_b] {
        assert_eq!(next(event).await, leave("alice"));
    }
    for rooms in [&rooms_a, &rooms_b] {
        users_become(rooms, "lobby", &[]).await;
    }
    quiet(&mut events_a, Duration::from_millis(200)).await;
    // An empty room leaves nothing behind.
    let exists = "EXISTS sockjs:{sockjs:rooms:/p:lobby}:here sockjs:{sockjs:rooms:/p:lobby}:users";
    assert_eq!(server.command(exists).as_deref(), Some(":0\r\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_user_reaches_its_sessions_on_every_node() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let [(_a, rooms_a, node_a), (_b, rooms_b, node_b)] = two_nodes(&server).await;
    open(&node_a, "a-alice", "alice", "x").await;
    open(&node_b, "b-alice", "alice", "y").await;
    open(&node_b, "b-bob", "bob", "x").await;

    // Sent on b: b's session at once, a's through Redis; bob's never.
    assert_eq!(rooms_b.send_to_user("alice", "you have mail"), 1);
    assert_eq!(rooms_a.send_to_user("carol", "nobody"), 0);
    for (node, id) in [(&node_a, "a-alice"), (&node_b, "b-alice")] {
        assert_eq!(poll(node, id).await, "a[\"you have mail\"]\n", "{id}");
    }
    rooms_a.send_all("end");
    assert_eq!(poll(&node_b, "b-bob").await, "a[\"end\"]\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_users_leave_within_the_bound() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let ttl = Duration::from_millis(300);
    let options = Options::default().presence_ttl(ttl);
    let a = Redis::connect_with(&server.url(), options.clone())
        .await
        .unwrap();
    let rooms_a = a.rooms("/p");
    let node_a = app(&rooms_a);
    let mut events = rooms_a.presence_events("lobby");
    let mut quiet_room = rooms_a.presence_events("elsewhere");

    // Node b: its own handle, with carol in the lobby and in a room where
    // nobody of node a is.
    let b = Redis::connect_with(&server.url(), options).await.unwrap();
    let broker_b = b.broker("/p");
    let presence_b = broker_b.presence().expect("presence on Redis");
    subscribed(&[&a, &b]).await;
    presence_b.join("lobby", "carol");
    presence_b.join("elsewhere", "carol");
    assert_eq!(next(&mut events).await, join("carol"));
    assert_eq!(next(&mut quiet_room).await, join("carol"));
    open(&node_a, "a-dave", "dave", "lobby").await;
    assert_eq!(next(&mut events).await, join("dave"));
    // Renewed: still there after several times the TTL.
    tokio::time::sleep(ttl * 3).await;
    users_become(&rooms_a, "lobby", &["carol", "dave"]).await;
    quiet(&mut events, Duration::from_millis(1)).await;

    // Node b dies without a word: its entries are no longer renewed.
    let died = Instant::now();
    drop((presence_b, broker_b, b));
    assert_eq!(next(&mut events).await, leave("carol"));
    let lobby = died.elapsed();
    assert_eq!(next(&mut quiet_room).await, leave("carol"));
    let elsewhere = died.elapsed();
    // Within the TTL and a third (the sweep's period), with room for a
    // busy machine; not before the TTL less a renewal period.
    let bound = ttl + ttl / 3;
    for took in [lobby, elsewhere] {
        assert!(
            took >= ttl - ttl / 3 - Duration::from_millis(50),
            "{took:?}"
        );
        assert!(took <= bound + Duration::from_millis(400), "{took:?}");
    }
    eprintln!("a dead node's users left after {lobby:?} (its room) and {elsewhere:?} (swept); bound {bound:?}");
    users_become(&rooms_a, "lobby", &["dave"]).await;
    users_become(&rooms_a, "elsewhere", &[]).await;
    // dave's node is alive: he stays.
    quiet(&mut events, ttl * 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_writes_its_entries_again_after_redis_lost_them() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let options = Options::default()
        .presence_ttl(Duration::from_millis(300))
        .timeout(Duration::from_millis(200));
    let a = Redis::connect_with(&server.url(), options).await.unwrap();
    let rooms_a = a.rooms("/p");
    let node_a = app(&rooms_a);
    subscribed(&[&a]).await;
    open(&node_a, "a-dave", "dave", "lobby").await;
    let users = "HKEYS sockjs:{sockjs:rooms:/p:lobby}:users";
    let written = |server: &RedisServer| server.command(users).as_deref() == Some("*1\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !written(&server) {
        assert!(Instant::now() < deadline, "dave never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Redis restarts empty: the next renewal writes dave again.
    server.restart();
    assert!(!written(&server));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !written(&server) {
        assert!(Instant::now() < deadline, "dave not written again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    subscribed(&[&a]).await;
    users_become(&rooms_a, "lobby", &["dave"]).await;
}
