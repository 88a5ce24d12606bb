//! Rooms: membership, delivery to a room and to everyone (once, in order,
//! on every transport), slow members, and a broker joining two nodes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixture::*;
use axum::Router;
use sockjs::rooms::{Broker, Inbox, Target};
use sockjs::{Config, Rooms, Session, SockJsRouter};

/// `/room`: each session joins the room named by its first message, then
/// echoes nothing (room messages only).
fn app(rooms: &Rooms, config: Config) -> Router {
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        if let Some(room) = rx.recv().await {
            tx.join(&room);
            let _ = tx.send(format!("joined {room}")).await;
        }
        while let Some(m) = rx.recv().await {
            if m == "leave" {
                tx.leave("a");
                let _ = tx.send("left").await;
            }
        }
    })
    .config(config)
    .rooms(rooms.clone())
    .into_router();
    Router::new().nest_service("/room", service)
}

/// Opens an xhr-polling session and joins `room`.
async fn member(app: &Router, id: &str, room: &str) {
    assert_eq!(
        text(call(app, req("POST", &format!("/room/0/{id}/xhr"), "")).await).await,
        "o\n"
    );
    let body = format!("[\"{room}\"]");
    assert_eq!(
        call(app, req("POST", &format!("/room/0/{id}/xhr_send"), body))
            .await
            .status(),
        204
    );
    assert_eq!(poll(app, id).await, format!("a[\"joined {room}\"]\n"));
}

async fn poll(app: &Router, id: &str) -> String {
    text(call(app, req("POST", &format!("/room/0/{id}/xhr"), "")).await).await
}

#[tokio::test]
async fn room_messages_reach_members_only_in_order_once() {
    let rooms = Rooms::new();
    let app = app(&rooms, fast_config());
    member(&app, "a1", "a").await;
    member(&app, "a2", "a").await;
    member(&app, "b1", "b").await;
    assert_eq!(
        (rooms.members("a"), rooms.members("b"), rooms.sessions()),
        (2, 1, 3)
    );
    assert_eq!(rooms.send("a", "one\u{2028}"), 2);
    assert_eq!(rooms.send("a", "two"), 2);
    assert_eq!(rooms.send("nobody", "x"), 0);
    for id in ["a1", "a2"] {
        assert_eq!(poll(&app, id).await, "a[\"one\\u2028\",\"two\"]\n");
    }
    assert_eq!(rooms.send_all("all"), 3);
    for id in ["a1", "a2", "b1"] {
        assert_eq!(poll(&app, id).await, "a[\"all\"]\n");
    }
    // Leaving, and closing, take a session out.
    call(&app, req("POST", "/room/0/a1/xhr_send", "[\"leave\"]")).await;
    assert_eq!(poll(&app, "a1").await, "a[\"left\"]\n");
    assert_eq!(rooms.members("a"), 1);
    for _ in 0..100 {
        // fast_config: sessions without a poll time out after 150 ms.
        tokio::time::sleep(Duration::from_millis(20)).await;
        if rooms.sessions() == 0 {
            assert_eq!((rooms.members("a"), rooms.members("b")), (0, 0));
            return;
        }
    }
    panic!("closed sessions stayed in their rooms");
}

/// A session joins a room once however often it asks, joins as many rooms
/// as it asks for, and a closed one
/// joins nothing: the close took it out of its rooms, and a join after it
/// must not put it back (a member nobody would ever take out).
#[tokio::test]
async fn joins_are_once_and_never_after_the_close() {
    let rooms = Rooms::new();
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let service = SockJsRouter::new(move |session: Session| {
        let done = done_tx.clone();
        async move {
            let (tx, mut rx) = session.split();
            tx.join("twice");
            tx.join("twice");
            tx.join("other");
            let _ = tx.send("joined").await;
            let _ = rx.recv().await;
            tx.close(3000, "bye");
            tx.join("late");
            let _ = done.send(());
        }
    })
    .config(fast_config())
    .rooms(rooms.clone())
    .into_router();
    let app = Router::new().nest_service("/j", service);
    assert_eq!(
        text(call(&app, req("POST", "/j/0/s/xhr", "")).await).await,
        "o\n"
    );
    assert_eq!(
        text(call(&app, req("POST", "/j/0/s/xhr", "")).await).await,
        "a[\"joined\"]\n"
    );
    assert_eq!((rooms.members("twice"), rooms.members("other")), (1, 1));
    assert_eq!(rooms.send("twice", "once"), 1);
    assert_eq!(
        text(call(&app, req("POST", "/j/0/s/xhr", "")).await).await,
        "a[\"once\"]\n"
    );
    call(&app, req("POST", "/j/0/s/xhr_send", "[\"go\"]")).await;
    tokio::time::timeout(Duration::from_secs(5), done.recv())
        .await
        .expect("the handler ran to its end");
    assert_eq!(rooms.members("late"), 0, "a closed session joined a room");
    assert_eq!(
        (rooms.members("twice"), rooms.members("other")),
        (0, 0),
        "the close left the rooms"
    );
}

#[tokio::test]
async fn a_slow_member_gets_everything_up_to_twice_its_queue_then_is_closed() {
    let rooms = Rooms::new();
    let config = fast_config()
        .queue_capacity(4)
        .disconnect_delay(Duration::from_secs(10));
    let app = app(&rooms, config);
    member(&app, "fast", "r").await;
    member(&app, "slow", "r").await;
    for i in 0..8 {
        assert_eq!(rooms.send("r", i.to_string()), 2);
        if i % 2 == 1 {
            // The fast member reads as it goes.
            poll(&app, "fast").await;
        }
    }
    // The slow one holds 8 (twice its queue) and nothing was lost.
    assert_eq!(
        poll(&app, "slow").await,
        "a[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]\n"
    );
    for i in 0..9 {
        rooms.send("r", format!("x{i}"));
        if i % 2 == 1 {
            poll(&app, "fast").await;
        }
    }
    // One more than it can hold: closed, the others go on.
    assert_eq!(rooms.members("r"), 1);
    assert!(poll(&app, "slow").await.starts_with("a[\"x0\""));
    assert_eq!(
        poll(&app, "slow").await,
        "c[1013,\"Outgoing queue full\"]\n"
    );
    assert_eq!(rooms.send("r", "after"), 1);
}

/// A broker joining the `Rooms` of two nodes in this process, recording
/// what it carried.
#[derive(Clone, Default)]
struct Wire {
    inboxes: Arc<Mutex<Vec<(usize, Inbox)>>>,
    carried: Arc<Mutex<Vec<(usize, String)>>>,
}

struct Node(usize, Wire);

impl Broker for Node {
    fn start(&self, inbox: Inbox) {
        self.1.inboxes.lock().unwrap().push((self.0, inbox));
    }

    fn publish(&self, target: Target<'_>, message: &str) {
        self.1
            .carried
            .lock()
            .unwrap()
            .push((self.0, message.to_owned()));
        let inboxes = self.1.inboxes.lock().unwrap().clone();
        for (node, inbox) in inboxes {
            if node != self.0 {
                inbox.deliver(target, message.to_owned());
            }
        }
    }
}

#[tokio::test]
async fn a_broker_carries_room_messages_to_the_other_nodes_once() {
    let wire = Wire::default();
    let rooms_a = Rooms::with_broker(Node(1, wire.clone()));
    let rooms_b = Rooms::with_broker(Node(2, wire.clone()));
    let node_a = app(&rooms_a, fast_config());
    let node_b = app(&rooms_b, fast_config());
    member(&node_a, "x", "lobby").await;
    member(&node_b, "y", "lobby").await;
    // Sent on node a: its own member at once, node b's through the broker.
    assert_eq!(rooms_a.send("lobby", "1"), 1);
    assert_eq!(rooms_a.send("lobby", "2"), 1);
    assert_eq!(rooms_b.send_all("3"), 1);
    assert_eq!(poll(&node_a, "x").await, "a[\"1\",\"2\",\"3\"]\n");
    assert_eq!(poll(&node_b, "y").await, "a[\"1\",\"2\",\"3\"]\n");
    assert_eq!(
        *wire.carried.lock().unwrap(),
        [(1, "1".into()), (1, "2".into()), (2, "3".into())]
    );
}

// ---- history and resume ----

/// `/resume`: a session's first message is `new <room>` (join now) or
/// `<position> <room>` (join since that position); `lost` is sent when
/// the history is gone.
fn resume_app(rooms: &Rooms) -> Router {
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        let Some(first) = rx.recv().await else {
            return;
        };
        let (since, room) = first.split_once(' ').unwrap();
        match since.parse::<sockjs::rooms::Position>() {
            Ok(position) => {
                if tx.join_since(room, position).await.is_err() {
                    let _ = tx.send("lost").await;
                }
            }
            Err(_) => tx.join(room),
        }
        let _ = tx.send("joined").await;
        while rx.recv().await.is_some() {}
    })
    .config(fast_config())
    .rooms(rooms.clone())
    .into_router();
    Router::new().nest_service("/resume", service)
}

/// A room message's position and data.
fn unwrap_envelope(text: &str) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    (
        value["pos"].as_str().unwrap().to_owned(),
        value["data"].as_str().unwrap().to_owned(),
    )
}

/// Reads until `joined` (a room message may not come before it: the
/// sender waits for the join).
async fn until_joined(connection: &mut sockjs_client::Connection) -> Vec<String> {
    let mut before = Vec::new();
    loop {
        let m = within(Duration::from_secs(5), connection.recv())
            .await
            .unwrap();
        if m == "joined" {
            return before;
        }
        before.push(m);
    }
}

/// A client reads part of a numbered stream, goes away mid-stream while
/// the room goes on sending, comes back with the last position it read and
/// gets the rest: every number exactly once, in order. 150 cycles over the
/// Rust client's three transports, each with its own room.
#[tokio::test]
async fn a_resumed_session_gets_every_message_once_in_order() {
    use sockjs::rooms::History;
    use sockjs_client::{Client, Transport};
    const N: usize = 40;
    let rooms = Rooms::new().history(History::messages(1000));
    let app = resume_app(&rooms);
    for cycle in 0..150 {
        let transport = Transport::DEFAULT_ORDER[cycle % 3];
        let room = format!("r{cycle}");
        let client = Client::in_process(app.clone()).transport(transport);
        let mut first = within(Duration::from_secs(5), client.open("/resume"))
            .await
            .unwrap();
        first.send(format!("new {room}")).await.unwrap();
        assert!(until_joined(&mut first).await.is_empty());
        let sender = {
            let (rooms, room) = (rooms.clone(), room.clone());
            tokio::spawn(async move {
                for i in 1..=N {
                    rooms.send(&room, i.to_string());
                    if i % 4 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            })
        };
        let mut got = Vec::new();
        let mut last = String::new();
        let read_first = 1 + cycle % 15;
        while got.len() < read_first {
            let m = within(Duration::from_secs(5), first.recv()).await.unwrap();
            let (pos, data) = unwrap_envelope(&m);
            got.push(data.parse::<usize>().unwrap());
            last = pos;
        }
        first.close().await;
        let mut again = within(Duration::from_secs(5), client.open("/resume"))
            .await
            .unwrap();
        again.send(format!("{last} {room}")).await.unwrap();
        let replay = until_joined(&mut again).await;
        assert!(
            !replay.contains(&"lost".to_owned()),
            "cycle {cycle}: {replay:?}"
        );
        let mut incoming = replay.into_iter();
        while got.last() != Some(&N) {
            let m = match incoming.next() {
                Some(m) => m,
                None => within(Duration::from_secs(5), again.recv()).await.unwrap(),
            };
            got.push(unwrap_envelope(&m).1.parse().unwrap());
        }
        sender.await.unwrap();
        assert_eq!(
            got,
            (1..=N).collect::<Vec<_>>(),
            "cycle {cycle} on {transport}"
        );
        again.close().await;
    }
}

/// A position the history no longer covers, or of another epoch, is
/// `Lost`; the session is in the room all the same and gets what follows.
#[tokio::test]
async fn a_resume_past_the_history_is_lost_and_joins_anyway() {
    use sockjs::rooms::History;
    use sockjs_client::Client;
    let rooms = Rooms::new().history(History::messages(3));
    let app = resume_app(&rooms);
    let start = rooms.position("small");
    for i in 1..=5 {
        rooms.send("small", format!("{i}"));
    }
    let client = Client::in_process(app);
    let mut late = client.open("/resume").await.unwrap();
    late.send(format!("{start} small")).await.unwrap();
    assert_eq!(until_joined(&mut late).await, ["lost"]);
    rooms.send("small", "6");
    let m = within(Duration::from_secs(5), late.recv()).await.unwrap();
    assert_eq!(unwrap_envelope(&m).1, "6");

    let mut stranger = client.open("/resume").await.unwrap();
    stranger.send("ffff-2 small").await.unwrap();
    assert_eq!(until_joined(&mut stranger).await, ["lost"]);

    // Within the history: the kept messages after the position, no `lost`.
    let kept_from = format!("{}", rooms.position("small"))
        .rsplit_once('-')
        .map(|(epoch, _)| format!("{epoch}-4"))
        .unwrap();
    let mut back = client.open("/resume").await.unwrap();
    back.send(format!("{kept_from} small")).await.unwrap();
    let replay: Vec<String> = until_joined(&mut back)
        .await
        .iter()
        .map(|m| unwrap_envelope(m).1)
        .collect();
    assert_eq!(replay, ["5", "6"]);
}

/// A session already in one room that resumes another is in both
/// afterwards: `join_since` adds the room to those it is in, it does not
/// take the place of the others, nor is the new one dropped after the
/// replay as if left meanwhile.
#[tokio::test]
async fn a_resume_into_a_second_room_keeps_the_session_in_both() {
    use sockjs::rooms::History;
    use sockjs_client::Client;
    let rooms = Rooms::new().history(History::messages(10));
    let since = rooms.position("b");
    let service = SockJsRouter::new(move |session: Session| async move {
        let (tx, mut rx) = session.split();
        tx.join("a");
        let resumed = tx.join_since("b", since).await;
        let _ = tx.send(format!("{resumed:?}")).await;
        let _ = tx.send("joined").await;
        while rx.recv().await.is_some() {}
    })
    .config(fast_config())
    .rooms(rooms.clone())
    .into_router();
    let app = Router::new().nest_service("/two", service);
    let mut connection = within(Duration::from_secs(5), Client::in_process(app).open("/two"))
        .await
        .unwrap();
    assert_eq!(until_joined(&mut connection).await, ["Ok(())"]);
    rooms.send("b", "to b");
    rooms.send("a", "to a");
    for expected in ["to b", "to a"] {
        let m = within(Duration::from_secs(5), connection.recv())
            .await
            .unwrap();
        assert_eq!(unwrap_envelope(&m).1, expected);
    }
    assert_eq!(rooms.members("a"), 1);
    assert_eq!(rooms.members("b"), 1);
}

/// Leaving one room leaves the others alone: the session can join the room
/// it left again, stays in the others, and its close takes it out of every
/// room it is in.
#[tokio::test]
async fn leaving_a_room_keeps_the_others_and_allows_coming_back() {
    use sockjs_client::Client;
    let rooms = Rooms::new();
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        tx.join("a");
        tx.join("b");
        tx.leave("a");
        tx.join("a");
        let _ = tx.send("ready").await;
        while rx.recv().await.is_some() {}
    })
    .config(fast_config())
    .rooms(rooms.clone())
    .into_router();
    let app = Router::new().nest_service("/leave", service);
    let mut connection = within(
        Duration::from_secs(5),
        Client::in_process(app).open("/leave"),
    )
    .await
    .unwrap();
    let ready = within(Duration::from_secs(5), connection.recv()).await;
    assert_eq!(ready.unwrap(), "ready");
    assert_eq!((rooms.members("a"), rooms.members("b")), (1, 1));
    connection.close().await;
    let left = rooms.clone();
    eventually(Duration::from_secs(5), "out of both rooms", move || {
        (left.members("a"), left.members("b")) == (0, 0)
    })
    .await;
}

/// A router made without `.rooms(..)` has rooms of its own, and
/// `rooms_handle` reaches its sessions.
#[tokio::test]
async fn a_routers_own_rooms_reach_its_sessions() {
    let service = SockJsRouter::new(|session: Session| async move {
        let (_tx, mut rx) = session.split();
        while rx.recv().await.is_some() {}
    });
    let rooms = service.rooms_handle();
    let app = Router::new().nest_service("/own", service.into_router::<()>());
    let open = call(&app, req("POST", "/own/0/s/xhr", "")).await;
    assert_eq!(text(open).await, "o\n");
    assert_eq!(rooms.send_all("tick"), 1);
    let poll = call(&app, req("POST", "/own/0/s/xhr", "")).await;
    assert_eq!(text(poll).await, "a[\"tick\"]\n");
}
