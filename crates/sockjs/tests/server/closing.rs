//! Closes over real sockets, repeated: a close races the client's last
//! reads, so each case runs 200 open→close cycles, the client answering the
//! server's close frame on three of four (as browsers do) and not on the
//! fourth (each of those waits `NO_REPLY_WAIT`, 200 ms, to see that the
//! server keeps the connection open; `SOCKJS_CLOSE_CYCLES=N` runs N). Every cycle must see every message, the exact close code and
//! reason, and never a reset, which would make the client's kernel discard
//! what it had not read. A client that answers sees the server end the
//! connection (FIN) after its answer; one that does not sees the server
//! wait for the answer (RFC 6455 section 7.1.1) until `close_timeout`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::fixture::messages_of;
use axum::Router;
use sockjs::{Config, Session, SockJsRouter};
use sockjs_conformance::client::{Ending, Request, Target, WireFrame, WireWs};

const CYCLES: usize = 200;

/// The services' `close_timeout`.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(600);

/// `/close` closes at once with 3000 `Go away!`; `/goodbye` sends `1`..`20`
/// then closes with 3001 `bye`; `/echo` echoes, refusing messages over 1000
/// bytes.
fn app() -> Router {
    let config = Config::default()
        .max_message_size(1000)
        .close_timeout(CLOSE_TIMEOUT);
    let close = SockJsRouter::new(|session: Session| async move {
        session.sender().close(3000, "Go away!");
    })
    .config(config.clone())
    .into_router();
    let goodbye = SockJsRouter::new(|session: Session| async move {
        let (tx, _rx) = session.split();
        for i in 1..=20 {
            tx.send(i.to_string()).await.expect("open");
        }
        tx.close(3001, "bye");
    })
    .config(config.clone())
    .into_router();
    let echo = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        while let Some(message) = rx.recv().await {
            if tx.send(message).await.is_err() {
                break;
            }
        }
    })
    .config(config)
    .into_router();
    Router::new()
        .nest_service("/close", close)
        .nest_service("/goodbye", goodbye)
        .nest_service("/echo", echo)
}

async fn target() -> Target {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app()).await.unwrap();
    });
    Target {
        addr,
        host: addr.to_string(),
        prefix: String::new(),
        timeout: Duration::from_secs(5),
    }
}

/// Runs `cycle(i, reply)` CYCLES times (or `SOCKJS_CLOSE_CYCLES`), the
/// client answering the close frame on three batches of four out of four; panics
/// with the cycle's number on a failure.
async fn cycles<F, Fut>(what: &str, cycle: F)
where
    F: Fn(usize, bool) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let cycles = std::env::var("SOCKJS_CLOSE_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CYCLES);
    // Four connections at a time: each cycle is its own race, and the
    // non-answering ones spend their 200 ms side by side.
    let mut i = 0;
    while i < cycles {
        let batch: Vec<usize> = (i..cycles.min(i + 4)).collect();
        let results = futures_util::future::join_all(batch.iter().map(|&i| {
            // Every fourth batch does not answer: its waits overlap.
            let reply = (i / 4) % 4 != 3;
            let run = cycle(i, reply);
            async move { (i, reply, run.await) }
        }))
        .await;
        for (i, reply, result) in results {
            if let Err(e) = result {
                panic!("{what}, cycle {i} (client answers the close frame: {reply}): {e}");
            }
        }
        i += 4;
    }
}

/// Opens `path`, reads it to its end (answering the close frame or not).
async fn ending(target: &Target, path: &str, reply: bool) -> Result<Ending, String> {
    let mut ws = WireWs::connect(target, path).await.map_err(|e| e.0)?;
    let end = ws.until_closed(reply).await.map_err(|e| e.0)?;
    ended_as_rfc_6455_says(&end, reply)?;
    Ok(end)
}

/// After a server's close frame: ended (FIN) once the client answered,
/// kept open while it has not.
fn ended_as_rfc_6455_says(end: &Ending, reply: bool) -> Result<(), String> {
    match (reply, end.server_ended) {
        (true, true) | (false, false) => Ok(()),
        (true, false) => Err("the server did not end the connection after the reply".into()),
        (false, true) => {
            Err("the server ended the connection before the client's close frame".into())
        }
    }
}

fn ended_by_server(end: &Ending) -> Result<(), String> {
    if end.server_ended {
        Ok(())
    } else {
        Err("the server did not end the connection after its close frame".into())
    }
}

fn close(code: u16, reason: &str) -> Option<(u16, String)> {
    Some((code, reason.to_owned()))
}

fn numbers() -> Vec<String> {
    (1..=20).map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn raw_close() {
    let target = target().await;
    cycles("/close/websocket", |_, reply| {
        let target = &target;
        async move {
            let end = ending(target, "/close/websocket", reply).await?;
            assert_eq!(end.texts, Vec::<String>::new());
            assert_eq!(end.close, close(3000, "Go away!"));
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn framed_close() {
    let target = target().await;
    cycles("/close framed", |i, reply| {
        let target = &target;
        async move {
            let end = ending(target, &format!("/close/0/c{i}/websocket"), reply).await?;
            assert_eq!(end.texts, ["o", "c[3000,\"Go away!\"]"]);
            assert_eq!(end.close, close(3000, "Go away!"));
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn messages_queued_before_an_application_close_all_arrive_first() {
    let target = target().await;
    cycles("/goodbye", |i, reply| {
        let target = &target;
        async move {
            // Framed: `o`, the messages in one or more `a` frames, `c`.
            let end = ending(target, &format!("/goodbye/0/g{i}/websocket"), reply).await?;
            let n = end.texts.len();
            assert_eq!(end.texts[0], "o");
            assert_eq!(end.texts[n - 1], "c[3001,\"bye\"]");
            let mut got = Vec::new();
            for frame in &end.texts[1..n - 1] {
                got.extend(messages_of(frame));
            }
            assert_eq!(got, numbers());
            assert_eq!(end.close, close(3001, "bye"));
            // Raw: one websocket message each.
            let end = ending(target, "/goodbye/websocket", reply).await?;
            assert_eq!(end.texts, numbers());
            assert_eq!(end.close, close(3001, "bye"));
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn broken_json() {
    let target = target().await;
    cycles("broken JSON", |i, reply| {
        let target = &target;
        async move {
            let mut ws = WireWs::connect(target, &format!("/echo/0/b{i}/websocket"))
                .await
                .map_err(|e| e.0)?;
            assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
            ws.send_text("[\"a").await.unwrap();
            let end = ws.until_closed(reply).await.map_err(|e| e.0)?;
            ended_as_rfc_6455_says(&end, reply)?;
            assert_eq!(end.texts, Vec::<String>::new());
            assert_eq!(end.close, close(3000, "Broken framing."));
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn oversized_message_is_refused_with_1009_and_read_to_the_end() {
    let target = target().await;
    // Far more than the limit, and than a socket buffer: most of it is
    // still on its way when the server refuses it.
    let big = format!("[\"{}\"]", "x".repeat(256 * 1024));
    cycles("oversized message", |i, reply| {
        let (target, big) = (&target, &big);
        async move {
            let mut ws = WireWs::connect(target, &format!("/echo/0/o{i}/websocket"))
                .await
                .map_err(|e| e.0)?;
            assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
            ws.send_text(big).await.map_err(|e| e.0)?;
            let end = ws.until_closed(reply).await.map_err(|e| e.0)?;
            ended_by_server(&end)?;
            assert_eq!(end.close, close(1009, "Message too big"));
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn client_close_is_answered_and_the_connection_ended() {
    let target = target().await;
    cycles("client close", |i, _| {
        let target = &target;
        async move {
            let mut ws = WireWs::connect(target, &format!("/echo/0/k{i}/websocket"))
                .await
                .map_err(|e| e.0)?;
            assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
            ws.send_text("[\"x\"]").await.unwrap();
            ws.send_close(Some(1000)).await.unwrap();
            let end = ws.until_closed(false).await.map_err(|e| e.0)?;
            ended_by_server(&end)?;
            assert!(end.texts.iter().all(|t| t == "a[\"x\"]"), "{:?}", end.texts);
            assert_eq!(end.close.map(|(code, _)| code), Some(1000));
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn streaming_close_frame_and_last_chunk_arrive_before_the_connection_ends() {
    let target = target().await;
    cycles("/goodbye xhr_streaming", |i, _| {
        let target = &target;
        async move {
            let path = format!("/goodbye/0/s{i}/xhr_streaming");
            let mut r = target
                .open(Request::new("POST", path))
                .await
                .map_err(|e| e.0)?;
            let prelude = r.read_exact(2049).await.map_err(|e| e.0)?;
            assert!(prelude.ends_with(b"h\n"));
            let mut frames = Vec::new();
            loop {
                let frame = r.read_text_until("\n").await.map_err(|e| e.0)?;
                let done = frame.starts_with('c');
                frames.push(frame);
                if done {
                    break;
                }
            }
            assert_eq!(frames[0], "o\n");
            assert_eq!(frames.last().unwrap(), "c[3001,\"bye\"]\n");
            let mut got = Vec::new();
            for frame in &frames[1..frames.len() - 1] {
                got.extend(messages_of(frame));
            }
            assert_eq!(got, numbers());
            r.expect_end().await.map_err(|e| e.0)?;
            r.conn().expect_closed().await.map_err(|e| e.0)?;
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn hixie76_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = target().await;
    let addr = target.addr;
    cycles("hixie-76 /close", |i, reply| async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /close/0/h{i}/websocket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
             Upgrade: WebSocket\r\nOrigin: http://{addr}\r\n\
             Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        tcp.write_all(b"aaaaaaaa").await.unwrap();
        let mut got = Vec::new();
        let expected_tail: &[u8] = b"\x00o\xff\x00c[3000,\"Go away!\"]\xff\xff\x00";
        let mut replied = false;
        loop {
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk))
                .await
                .map_err(|_| "timeout".to_string())?
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            if reply && !replied && got.ends_with(b"\xff\x00") {
                tcp.write_all(b"\xff\x00").await.unwrap();
                replied = true;
            }
        }
        if !got.ends_with(expected_tail) {
            return Err(format!("got {:?}", String::from_utf8_lossy(&got)));
        }
        Ok(())
    })
    .await;
}

/// Reads `path` up to the server's close frame and checks its code.
async fn up_to_the_close_frame(target: &Target, path: &str) -> Result<WireWs, String> {
    let mut ws = WireWs::connect(target, path).await.map_err(|e| e.0)?;
    loop {
        match ws.next().await.map_err(|e| e.0)? {
            Some(WireFrame::Close(close)) => {
                assert_eq!(close, Some((3000, "Go away!".to_owned())), "{path}");
                return Ok(ws);
            }
            Some(WireFrame::Text(_)) => {}
            other => return Err(format!("{path}: {other:?} before the close frame")),
        }
    }
}

/// RFC 6455 order, deterministically: after its close frame the server
/// keeps the connection open for the client's close frame (a client that
/// waits 200 ms before answering finds it open), and ends it promptly once
/// the answer came.
#[tokio::test]
async fn close_waits_for_the_clients_close_frame() {
    let target = target().await;
    let target = &target;
    // Five clients at a time: each waits its 200 ms beside the others.
    for_each_by(20, 5, |i| async move {
        for path in [
            "/close/websocket".to_owned(),
            format!("/close/0/w{i}/websocket"),
        ] {
            let mut ws = up_to_the_close_frame(target, &path).await.unwrap();
            // A slow client, on purpose: not a synchronisation.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(
                !ws.ended_now().unwrap(),
                "{path}: the connection ended before the client's close frame"
            );
            ws.send_close(Some(3000)).await.unwrap();
            let took = ws.until_end(Duration::from_secs(2)).await.unwrap();
            assert!(
                took < CLOSE_TIMEOUT / 2,
                "{path}: ended {took:?} after the reply"
            );
        }
    })
    .await;
}

/// A client that never answers the close frame is cut off at
/// `close_timeout`: not before, not much after.
#[tokio::test]
async fn an_unanswered_close_is_cut_off_at_close_timeout() {
    let target = target().await;
    let target = &target;
    let took = std::sync::Mutex::new(Vec::new());
    let took_ref = &took;
    for_each_by(10, 5, |i| async move {
        for path in [
            "/close/websocket".to_owned(),
            format!("/close/0/n{i}/websocket"),
        ] {
            let mut ws = up_to_the_close_frame(target, &path).await.unwrap();
            let t = ws.until_end(CLOSE_TIMEOUT * 3).await.unwrap();
            // The server's clock started just before the frame was read.
            assert!(
                t + Duration::from_millis(50) >= CLOSE_TIMEOUT,
                "{path}: cut off after {t:?}"
            );
            assert!(
                t < CLOSE_TIMEOUT + Duration::from_millis(300),
                "{path}: cut off after {t:?}"
            );
            took_ref.lock().unwrap().push(t);
        }
    })
    .await;
    let took = took.into_inner().unwrap();
    eprintln!(
        "cut off after {:?} .. {:?} (close_timeout {CLOSE_TIMEOUT:?})",
        took.iter().min().unwrap(),
        took.iter().max().unwrap()
    );
}

/// hixie-76 in the same order: after the server's `0xFF 0x00` the
/// connection stays open for the client's, then ends promptly.
#[tokio::test]
async fn hixie76_close_waits_for_the_clients_close_frame() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = target().await;
    let addr = target.addr;
    for_each_by(20, 5, |i| async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /close/0/hw{i}/websocket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
             Upgrade: WebSocket\r\nOrigin: http://{addr}\r\n\
             Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        tcp.write_all(b"aaaaaaaa").await.unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"\xff\xff\x00") {
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk))
                .await
                .expect("the close frame")
                .unwrap();
            assert!(n > 0, "ended before the close frame: {got:?}");
            got.extend_from_slice(&chunk[..n]);
        }
        // A slow client, on purpose: not a synchronisation.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut probe = [0u8; 16];
        match tcp.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("cycle {i}: {other:?} before the client's close frame"),
        }
        tcp.write_all(b"\xff\x00").await.unwrap();
        let started = std::time::Instant::now();
        let n = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut probe))
            .await
            .expect("the end")
            .unwrap();
        assert_eq!(n, 0, "cycle {i}");
        assert!(started.elapsed() < CLOSE_TIMEOUT / 2, "cycle {i}");
    })
    .await;
}

/// Runs `body(i)` for `i` in `0..n`, `by` at a time.
async fn for_each_by<F, Fut>(n: usize, by: usize, body: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut i = 0;
    while i < n {
        futures_util::future::join_all((i..n.min(i + by)).map(&body)).await;
        i += by;
    }
}
