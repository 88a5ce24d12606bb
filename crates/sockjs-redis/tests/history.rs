//! Room history on Redis Streams through a real `redis-server`: two nodes
//! in one process (two handles, two `Rooms` with history), sessions on
//! each polled in-process. A session resumes on one node from a position
//! it got on the other.

mod server;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::Router;
use http_body_util::BodyExt;
use server::RedisServer;
use sockjs::rooms::{History, Position};
use sockjs::{Config, Rooms, Session, SockJsRouter};
use sockjs_redis::{Options, Redis};
use tower::ServiceExt;

/// `/resume`: a session's first message is `new <room>` (join now) or
/// `<position> <room>` (join since that position); it is told `lost` when
/// that history is gone, then `joined`.
fn app(rooms: &Rooms) -> Router {
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        let Some(first) = rx.recv().await else {
            return;
        };
        let Some((since, room)) = first.split_once(' ') else {
            return;
        };
        match since.parse::<Position>() {
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
    .config(Config::default().disconnect_delay(Duration::from_secs(30)))
    .rooms(rooms.clone())
    .into_router();
    Router::new().nest_service("/resume", service)
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

/// One poll: the messages of its `a[...]` frame.
async fn messages(app: &Router, id: &str) -> Vec<String> {
    let path = format!("/resume/0/{id}/xhr");
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

/// Opens session `id` with `first` as its first message; returns what it
/// got up to `joined` (`lost`, or nothing), and the room messages that came
/// with it.
async fn open(app: &Router, id: &str, first: &str) -> (bool, Vec<Envelope>) {
    assert_eq!(post(app, &format!("/resume/0/{id}/xhr"), "").await.1, "o\n");
    let body = serde_json::to_string(&[first]).unwrap();
    let sent = post(app, &format!("/resume/0/{id}/xhr_send"), &body).await;
    assert_eq!(sent.0, 204);
    let (mut lost, mut joined) = (false, false);
    let mut room = Vec::new();
    while !joined {
        // Room messages may come before and after "joined".
        for m in messages(app, id).await {
            match m.as_str() {
                "lost" => lost = true,
                "joined" => joined = true,
                _ => room.push(envelope(&m)),
            }
        }
    }
    (lost, room)
}

/// A room message as members get it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Envelope {
    room: String,
    pos: Position,
    data: String,
}

fn envelope(text: &str) -> Envelope {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{text}"));
    Envelope {
        room: v["room"].as_str().unwrap().to_owned(),
        pos: v["pos"].as_str().unwrap().parse().unwrap(),
        data: v["data"].as_str().unwrap().to_owned(),
    }
}

/// Polls `id` until a message with `last` as data came; returns the room
/// messages (after `got`).
async fn until(app: &Router, id: &str, mut got: Vec<Envelope>, last: &str) -> Vec<Envelope> {
    while !got.iter().any(|e| e.data == last) {
        got.extend(messages(app, id).await.iter().map(|m| envelope(m)));
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

/// Two nodes on `server`, with history.
async fn nodes(server: &RedisServer, history: History) -> [(Redis, Rooms, Router); 2] {
    let options = Options::default().timeout(Duration::from_secs(2));
    let mut out = Vec::new();
    for _ in 0..2 {
        let redis = Redis::connect_with(&server.url(), options.clone())
            .await
            .unwrap();
        let rooms = redis.rooms("/resume").history(history);
        let app = app(&rooms);
        out.push((redis, rooms, app));
    }
    subscribed(&[&out[0].0, &out[1].0]).await;
    out.try_into().unwrap_or_else(|_| unreachable!())
}

/// Every message once, in order, and their positions consecutive.
fn assert_in_order(got: &[Envelope], room: &str, from: usize, to: usize, what: &str) {
    let data: Vec<&str> = got.iter().map(|e| e.data.as_str()).collect();
    let want: Vec<String> = (from..to).map(|i| i.to_string()).collect();
    assert_eq!(data, want, "{what}");
    for pair in got.windows(2) {
        assert_eq!(pair[0].pos.epoch(), pair[1].pos.epoch(), "{what}");
        assert_eq!(pair[0].pos.offset() + 1, pair[1].pos.offset(), "{what}");
    }
    assert!(got.iter().all(|e| e.room == room), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumes_on_another_node_while_sends_go_on() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let [(a, rooms_a, node_a), (b, _rooms_b, node_b)] =
        nodes(&server, History::messages(10_000)).await;
    const CYCLES: usize = 100;
    const SENT: usize = 60;
    for cycle in 0..CYCLES {
        let room = format!("r{cycle}");
        // A watcher on node a: it sees every message, with its position.
        let watcher = format!("w{cycle}");
        let (lost, early) = open(&node_a, &watcher, &format!("new {room}")).await;
        assert!(!lost && early.is_empty());
        // Node a sends, with pauses, while b's session resumes.
        let sender = {
            let (rooms, room) = (rooms_a.clone(), room.clone());
            tokio::spawn(async move {
                for i in 0..SENT {
                    rooms.send(&room, i.to_string());
                    if i % 4 == 0 {
                        tokio::time::sleep(Duration::from_micros(300)).await;
                    }
                }
            })
        };
        // The client saw up to message `middle` on node a...
        let middle = 5 + cycle % 20;
        let seen = until(&node_a, &watcher, Vec::new(), &middle.to_string()).await;
        let last = seen.iter().find(|e| e.data == middle.to_string()).unwrap();
        // ...and comes back on node b from there.
        let resumer = format!("s{cycle}");
        let (lost, replayed) = open(&node_b, &resumer, &format!("{} {room}", last.pos)).await;
        assert!(!lost, "cycle {cycle}");
        let got = until(&node_b, &resumer, replayed, &(SENT - 1).to_string()).await;
        assert_in_order(
            &got,
            &room,
            middle + 1,
            SENT,
            &format!("cycle {cycle} resumed"),
        );
        let watched = until(&node_a, &watcher, seen, &(SENT - 1).to_string()).await;
        assert_in_order(&watched, &room, 0, SENT, &format!("cycle {cycle} watched"));
        sender.await.unwrap();
        // Positions are the cluster's: the same on both nodes.
        assert_eq!(got.last(), watched.last());
    }
    // A batch is counted once Redis answered, which may be after the
    // members got it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.stats().published != (CYCLES * SENT) as u64 {
        assert!(Instant::now() < deadline, "{:?}", a.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.skipped + sb.skipped, 0, "{sa:?} {sb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_too_old_or_of_a_lost_history_is_lost() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let [(_a, rooms_a, node_a), (_b, _rooms_b, node_b)] =
        nodes(&server, History::messages(5)).await;
    let (_, early) = open(&node_a, "w", "new r").await;
    assert!(early.is_empty());
    for i in 0..20 {
        rooms_a.send("r", i.to_string());
    }
    let seen = until(&node_a, "w", Vec::new(), "19").await;
    assert_in_order(&seen, "r", 0, 20, "watched");
    let at = |i: usize| seen[i].pos;

    // 5 kept (15..=19): resuming after 14 works, after 13 does not.
    let (lost, replayed) = open(&node_b, "s1", &format!("{} r", at(14))).await;
    assert!(!lost);
    assert_in_order(
        &until(&node_b, "s1", replayed, "19").await,
        "r",
        15,
        20,
        "s1",
    );
    let (lost, replayed) = open(&node_b, "s2", &format!("{} r", at(13))).await;
    assert!(lost && replayed.is_empty());
    // Up to date: nothing to replay, not lost.
    let (lost, replayed) = open(&node_b, "s3", &format!("{} r", at(19))).await;
    assert!(!lost && replayed.is_empty());
    // Another epoch, or a position not reached yet.
    let other = Position::new(at(19).epoch() ^ 1, 3);
    assert!(open(&node_b, "s4", &format!("{other} r")).await.0);
    let ahead = Position::new(at(19).epoch(), 21);
    assert!(open(&node_b, "s5", &format!("{ahead} r")).await.0);

    // Redis loses its data: the room starts a new epoch, old positions
    // are lost, and the sessions in the room get what comes next.
    assert_eq!(server.command("FLUSHALL").as_deref(), Some("+OK\r\n"));
    let (lost, _) = open(&node_b, "s6", &format!("{} r", at(19))).await;
    assert!(lost);
    rooms_a.send("r", "after");
    let got = until(&node_b, "s6", Vec::new(), "after").await;
    assert_eq!(got.len(), 1);
    assert_ne!(got[0].pos.epoch(), at(19).epoch());
    let s3 = until(&node_b, "s3", Vec::new(), "after").await;
    assert_eq!(s3.last().unwrap().pos, got[0].pos);
    // The new epoch's first message is at offset 1.
    assert_eq!(got[0].pos.offset(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_pub_sub_lost_are_filled_from_the_stream_in_order() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let [(a, rooms_a, node_a), (b, _rooms_b, node_b)] =
        nodes(&server, History::messages(10_000)).await;
    let (_, early) = open(&node_b, "m", "new r").await;
    assert!(early.is_empty());
    const SENT: usize = 400;
    let sender = {
        let rooms = rooms_a.clone();
        tokio::spawn(async move {
            for i in 0..SENT {
                rooms.send("r", i.to_string());
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        })
    };
    // Cut node b's subscription a few times while messages flow: it
    // reconnects, and what it missed comes from the stream.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let killed = server.command("CLIENT KILL TYPE pubsub").unwrap();
        assert!(killed.starts_with(':'), "{killed}");
    }
    sender.await.unwrap();
    let got = until(&node_b, "m", Vec::new(), &(SENT - 1).to_string()).await;
    assert_in_order(&got, "r", 0, SENT, "member of b");
    let _ = node_a;
    let (sa, sb) = (a.stats(), b.stats());
    assert!(sa.filled + sb.filled > 0, "{sa:?} {sb:?}");
    assert_eq!(sa.skipped + sb.skipped, 0, "{sa:?} {sb:?}");
}

/// Redis memory per retained message (`MEMORY USAGE` of the room's stream,
/// and `INFO memory`'s `used_memory` before and after), for the README's
/// figure: printed, and bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_memory_per_retained_message() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const N: usize = 10_000;
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let used = |info: String| -> i64 {
        let line = info
            .lines()
            .find(|l| l.starts_with("used_memory:"))
            .unwrap();
        line["used_memory:".len()..].trim().parse().unwrap()
    };
    let [(a, rooms_a, _), _] = nodes(&server, History::messages(N).bytes(1 << 30)).await;
    for size in [16usize, 100, 1000] {
        let room = format!("m{size}");
        let key = format!("sockjs:{{sockjs:rooms:/resume:{room}}}:log");
        let before = used(
            redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut conn)
                .await
                .unwrap(),
        );
        for chunk in 0..N / 1000 {
            for k in chunk * 1000..(chunk + 1) * 1000 {
                // The number, padded to `size` bytes.
                rooms_a.send(&room, format!("{k:0size$}"));
            }
            // Within the publishing queue (4096).
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let len: usize = redis::cmd("XLEN")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if len == (chunk + 1) * 1000 {
                    break;
                }
                assert!(Instant::now() < deadline, "{len} in the stream");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let after = used(
            redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut conn)
                .await
                .unwrap(),
        );
        let usage: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
        let per = usage as f64 / N as f64;
        let per_used = (after - before) as f64 / N as f64;
        eprintln!(
            "{size}-byte messages: {per:.1} bytes each by MEMORY USAGE of the stream, \
             {per_used:.1} by used_memory ({N} kept)"
        );
        // The message, its time and its id, and the stream's nodes (of at
        // most 4 kB: large messages fill them less well).
        assert!(per < size as f64 * 1.5 + 48.0, "{per}");
    }
    assert_eq!(a.stats().skipped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_messages_wait_then_a_new_epoch_begins() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let [(a, rooms_a, _), (b, _rooms_b, node_b)] = nodes(&server, History::messages(100)).await;
    let (_, early) = open(&node_b, "m", "new r").await;
    assert!(early.is_empty());
    rooms_a.send("r", "0");
    let before = until(&node_b, "m", Vec::new(), "0").await;

    server.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.stats().subscribed || b.stats().subscribed {
        assert!(Instant::now() < deadline, "the loss went unnoticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Positions come from Redis: these wait in the queue.
    rooms_a.send("r", "1");
    rooms_a.send("r", "2");
    server.restart();
    subscribed(&[&a, &b]).await;
    // One more once b listens again: if "1" and "2" were published before
    // it did, "3" shows the gap and they are read from the stream.
    rooms_a.send("r", "3");
    // The restarted Redis has neither the script (loaded again) nor the
    // room's history: a new epoch, from 1.
    let after = until(&node_b, "m", Vec::new(), "3").await;
    let data: Vec<&str> = after.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["1", "2", "3"], "{:?}", b.stats());
    assert_ne!(after[0].pos.epoch(), before[0].pos.epoch());
    let offsets: Vec<u64> = after.iter().map(|e| e.pos.offset()).collect();
    assert_eq!(offsets, [1, 2, 3]);
    // A resume from before the restart is lost.
    let (lost, _) = open(&node_b, "s", &format!("{} r", before[0].pos)).await;
    assert!(lost);
}
