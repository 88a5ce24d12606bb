//! WebSocket transports over real sockets: framed, raw and hixie-76.

use std::time::Duration;

use crate::fixture::*;
use futures_util::{SinkExt, StreamExt};
use sockjs::{CloseReason, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(addr: std::net::SocketAddr, path: &str) -> Ws {
    let (ws, _) = within(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!("ws://{addr}{path}")),
    )
    .await
    .expect("websocket handshake");
    ws
}

/// The next text message, or a description of what came instead.
async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Err(_) => return Err("timeout".into()),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(format!(
                    "close {:?}",
                    frame.map(|f| (u16::from(f.code), f.reason.to_string()))
                ))
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(format!("error {e}")),
            Ok(None) => return Err("end".into()),
        }
    }
}

#[tokio::test]
async fn framed_echo_ignores_empty_messages_and_accepts_single_strings() {
    let (app, mut events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let mut ws = connect(addr, "/echo/000/abc/websocket").await;
    assert_eq!(next_text(&mut ws).await.unwrap(), "o");
    assert_eq!(
        next_event(&mut events).await,
        Event::Opened(Transport::WebSocket)
    );
    for m in ["", "[]", r#"["a","b"]"#, r#""c""#] {
        ws.send(Message::text(m)).await.unwrap();
    }
    // Echoes may be batched into fewer frames; their order is kept.
    let mut got: Vec<String> = Vec::new();
    while got.len() < 3 {
        got.extend(messages_of(&next_text(&mut ws).await.unwrap()));
    }
    assert_eq!(got, ["a", "b", "c"]);
    ws.close(None).await.unwrap();
    for _ in 0..3 {
        let _message = next_event(&mut events).await;
    }
    assert_eq!(
        next_event(&mut events).await,
        Event::Closed(Some(CloseReason::ClientClosed))
    );
}

#[tokio::test]
async fn heartbeats_on_an_idle_socket() {
    let (app, _events) = app(fast_config());
    let addr = serve(app).await;
    let mut ws = connect(addr, "/quiet/0/hb/websocket").await;
    assert_eq!(next_text(&mut ws).await.unwrap(), "o");
    assert_eq!(next_text(&mut ws).await.unwrap(), "h");
}

#[tokio::test]
async fn broken_json_closes_the_socket() {
    let (app, mut events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let mut ws = connect(addr, "/echo/0/bj/websocket").await;
    assert_eq!(next_text(&mut ws).await.unwrap(), "o");
    ws.send(Message::text("[\"a")).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.unwrap_err(),
        "close Some((3000, \"Broken framing.\"))"
    );
    let _opened = next_event(&mut events).await;
    assert!(matches!(
        next_event(&mut events).await,
        Event::Closed(Some(CloseReason::TransportError(_)))
    ));
}

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let (app, mut events) = app(no_heartbeat_config().max_message_size(1000));
    let addr = serve(app).await;
    let mut ws = connect(addr, "/echo/0/big/websocket").await;
    assert_eq!(next_text(&mut ws).await.unwrap(), "o");
    ws.send(Message::text(format!("[\"{}\"]", "x".repeat(2000))))
        .await
        .unwrap();
    // The SockJS close frame and the WebSocket close frame carry the same
    // code: sockjs-client reports the first and ignores the second.
    assert_eq!(
        next_text(&mut ws).await.unwrap(),
        "c[1009,\"Message too big\"]"
    );
    let closed = next_text(&mut ws).await.unwrap_err();
    assert!(closed.starts_with("close Some((1009,"), "{closed}");
    let _opened = next_event(&mut events).await;
    assert!(matches!(
        next_event(&mut events).await,
        Event::Closed(Some(CloseReason::TransportError(_)))
    ));
}

#[tokio::test]
async fn server_close_sends_the_close_frame_then_closes() {
    let (app, _events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let mut ws = connect(addr, "/close/0/c/websocket").await;
    assert_eq!(next_text(&mut ws).await.unwrap(), "o");
    assert_eq!(next_text(&mut ws).await.unwrap(), "c[3000,\"Go away!\"]");
    assert_eq!(
        next_text(&mut ws).await.unwrap_err(),
        "close Some((3000, \"Go away!\"))"
    );
}

#[tokio::test]
async fn session_ids_may_be_reused_by_concurrent_sockets() {
    let (app, _events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let mut a = connect(addr, "/echo/0/same/websocket").await;
    let mut b = connect(addr, "/echo/0/same/websocket").await;
    assert_eq!(next_text(&mut a).await.unwrap(), "o");
    assert_eq!(next_text(&mut b).await.unwrap(), "o");
    a.send(Message::text(r#"["a"]"#)).await.unwrap();
    b.send(Message::text(r#"["b"]"#)).await.unwrap();
    assert_eq!(next_text(&mut a).await.unwrap(), r#"a["a"]"#);
    assert_eq!(next_text(&mut b).await.unwrap(), r#"a["b"]"#);
}

#[tokio::test]
async fn raw_websocket_round_trips_and_closes_with_code() {
    let (app, mut events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let mut ws = connect(addr, "/echo/websocket").await;
    ws.send(Message::text("Hello world!\u{ffff}"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await.unwrap(), "Hello world!\u{ffff}");
    assert_eq!(
        next_event(&mut events).await,
        Event::Opened(Transport::RawWebSocket)
    );
    let mut close = connect(addr, "/close/websocket").await;
    assert_eq!(
        next_text(&mut close).await.unwrap_err(),
        "close Some((3000, \"Go away!\"))"
    );
    ws.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn hixie76_handshake_headers_first_then_the_answer() {
    let (app, _events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /echo/000/h76/websocket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
         Upgrade: WebSocket\r\nOrigin: http://{addr}\r\n\
         Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // The response head arrives before the 8 key bytes are sent.
    let head = read_head(&mut tcp).await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"));
    assert!(head.contains(&format!(
        "sec-websocket-location: ws://{addr}/echo/000/h76/websocket"
    )));
    assert!(head.contains(&format!("sec-websocket-origin: http://{addr}")));
    assert!(!head.contains("content-length"));
    tcp.write_all(b"aaaaaaaa").await.unwrap();
    let mut answer = [0u8; 16];
    within(Duration::from_secs(3), tcp.read_exact(&mut answer))
        .await
        .unwrap();
    assert_eq!(&answer, b"\xca4\x00\xd8\xa5\x08G\x97,\xd5qZ\xba\xbfC{");
    // Then SockJS framing over hixie-76 frames.
    let mut open = [0u8; 3];
    within(Duration::from_secs(3), tcp.read_exact(&mut open))
        .await
        .unwrap();
    assert_eq!(&open, b"\x00o\xff");
    hixie76_echoes_hi(&mut tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_starts_before_the_socket_sees_open() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let joined = Arc::new(AtomicUsize::new(0));
    let seen = joined.clone();
    let service: axum::Router = sockjs::router(move |_session: sockjs::Session| {
        let joined = joined.clone();
        async move {
            joined.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    });
    let addr = serve(axum::Router::new().nest_service("/room", service)).await;
    for i in 0..20 {
        let mut ws = connect(addr, &format!("/room/0/s{i}/websocket")).await;
        assert_eq!(next_text(&mut ws).await.unwrap(), "o");
        assert_eq!(seen.load(Ordering::SeqCst), i + 1, "session {i}");
    }
}

/// A handler slower than its client: the session's incoming budget holds
/// one message, so the socket is left unread while the application's
/// queue is full, again and again, and read on when there is room. Every
/// message arrives once, in order, framed and raw.
#[tokio::test]
async fn a_slow_handler_holds_the_socket_back_as_often_as_its_queue_fills() {
    let service = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
        let (tx, mut rx) = session.split();
        while let Some(message) = rx.recv().await {
            // Slower than the client sends, on purpose.
            tokio::time::sleep(Duration::from_millis(3)).await;
            if tx.send(message).await.is_err() {
                break;
            }
        }
    })
    .config(no_heartbeat_config().inbound_budget(64));
    let addr = serve(axum::Router::new().nest("/slow", service.into_router())).await;
    const MESSAGES: usize = 40;
    let padding = "p".repeat(40);
    for (path, framed) in [("/slow/0/bp/websocket", true), ("/slow/websocket", false)] {
        let mut ws = connect(addr, path).await;
        if framed {
            assert_eq!(next_text(&mut ws).await.unwrap(), "o");
        }
        for i in 0..MESSAGES {
            let text = format!("{i} {padding}");
            let frame = if framed {
                format!("[\"{text}\"]")
            } else {
                text
            };
            within(Duration::from_secs(3), ws.send(Message::text(frame)))
                .await
                .unwrap();
        }
        let mut got = Vec::new();
        while got.len() < MESSAGES {
            let text = next_text(&mut ws)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            if framed {
                got.extend(messages_of(&text));
            } else {
                got.push(text);
            }
        }
        let sent: Vec<String> = (0..MESSAGES).map(|i| format!("{i} {padding}")).collect();
        assert_eq!(got, sent, "{path}");
    }
}

#[tokio::test]
async fn heartbeats_only_when_idle() {
    let (app, _events) = app(fast_config());
    let addr = serve(app).await;
    let mut ws = connect(addr, "/echo/0/busy/websocket").await;
    assert_eq!(next_text(&mut ws).await.unwrap(), "o");
    // Busy for twice the heartbeat delay (200 ms): echoes only, no `h`.
    for i in 0..8 {
        ws.send(Message::text(format!("[\"{i}\"]"))).await.unwrap();
        assert_eq!(next_text(&mut ws).await.unwrap(), format!("a[\"{i}\"]"));
        // A busy client's pace, on purpose: not a synchronisation.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Then idle: a heartbeat within about one delay.
    let started = std::time::Instant::now();
    assert_eq!(next_text(&mut ws).await.unwrap(), "h");
    assert!(started.elapsed() < Duration::from_millis(400));
}

/// A client frame that breaks RFC 6455, after one good message.
struct Violation {
    what: &'static str,
    /// Frames as (first byte, payload, masked).
    frames: &'static [(u8, &'static [u8], bool)],
    code: u16,
    reason: &'static str,
}

const VIOLATIONS: &[Violation] = &[
    Violation {
        what: "reserved bit",
        frames: &[(0x80 | 0x40 | 0x1, b"x", true)],
        code: 1002,
        reason: "Protocol error",
    },
    Violation {
        what: "reserved opcode",
        frames: &[(0x80 | 0x3, b"x", true)],
        code: 1002,
        reason: "Protocol error",
    },
    Violation {
        what: "continuation with nothing to continue",
        frames: &[(0x80, b"x", true)],
        code: 1002,
        reason: "Protocol error",
    },
    Violation {
        what: "unmasked frame",
        frames: &[(0x81, b"x", false)],
        code: 1002,
        reason: "Protocol error",
    },
    Violation {
        what: "invalid UTF-8",
        frames: &[(0x81, b"\"\xff\"", true)],
        code: 1007,
        reason: "Invalid UTF-8",
    },
    // Refused at the fragment that cannot continue a valid sequence, the
    // message's last fragment never sent.
    Violation {
        what: "invalid UTF-8 across fragments",
        frames: &[(0x01, b"\"ok \xc3", true), (0x00, b"\x28", true)],
        code: 1007,
        reason: "Invalid UTF-8",
    },
];

/// A client frame of fewer than 126 payload bytes, masked with the key 0.
fn wire_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        frame.extend_from_slice(&[0; 4]);
    }
    frame.extend_from_slice(payload);
    frame
}

/// Every violation, on framed and raw WebSockets: the message before it is
/// handled and answered, then `c[code,..]` (framed) and a close frame with
/// the RFC 6455 code, then at once the end of the connection.
#[tokio::test]
async fn protocol_violations_fail_with_their_code_after_answering_what_came_before() {
    use sockjs_conformance::client::{Target, WireFrame, WireWs};
    let (app, _events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    let target = Target {
        addr,
        host: addr.to_string(),
        prefix: String::new(),
        timeout: Duration::from_secs(3),
    };
    for (i, v) in VIOLATIONS.iter().enumerate() {
        for framed in [true, false] {
            let path = if framed {
                format!("/echo/0/v{i}/websocket")
            } else {
                "/echo/websocket".to_owned()
            };
            let what = format!("{} on {path}", v.what);
            let mut ws = WireWs::connect(&target, &path).await.unwrap();
            if framed {
                assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
            }
            // The good message and the violation in one TCP write: the
            // server reads both before the handler can answer the first.
            let good: &[u8] = if framed { b"[\"a\"]" } else { b"a" };
            let mut bytes = wire_frame(0x81, good, true);
            for (first, payload, masked) in v.frames {
                bytes.extend(wire_frame(*first, payload, *masked));
            }
            ws.send_bytes(&bytes).await.unwrap();
            // The client does not answer the close frame: a failed
            // connection is not read on (RFC 6455 section 7.1.7), so the
            // server ends it at once, not after `close_timeout` (3 s).
            let end = ws
                .until_closed(false)
                .await
                .unwrap_or_else(|e| panic!("{what}: {e:?}"));
            let expected: Vec<String> = if framed {
                vec!["a[\"a\"]".into(), format!("c[{},\"{}\"]", v.code, v.reason)]
            } else {
                vec!["a".into()]
            };
            assert_eq!(end.texts, expected, "{what}");
            assert_eq!(end.close, Some((v.code, v.reason.to_owned())), "{what}");
            assert!(end.server_ended, "{what}");
        }
    }
}

fn wire_target(addr: std::net::SocketAddr) -> sockjs_conformance::client::Target {
    sockjs_conformance::client::Target {
        addr,
        host: addr.to_string(),
        prefix: String::new(),
        timeout: Duration::from_secs(3),
    }
}

/// Keepalive: a raw client that never answers pings (as a vanished peer)
/// is taken for gone within interval + timeout of its last frame: the
/// handler's `Receiver` ends with `TimedOut` and the socket gets 1001,
/// then at once the end of the connection.
#[tokio::test]
async fn a_client_that_stops_answering_pings_times_out() {
    use sockjs_conformance::client::{WireFrame, WireWs};
    const INTERVAL: Duration = Duration::from_millis(150);
    const TIMEOUT: Duration = Duration::from_millis(100);
    let (app, mut events) = app(no_heartbeat_config().websocket_ping(INTERVAL, TIMEOUT));
    let addr = serve(app).await;
    let target = wire_target(addr);
    for round in 0..5 {
        // Taken before the handshake: the server's clock starts when it
        // answers the upgrade, which is before `connect` returns here, so a
        // clock started after `connect` can read a little under the bound.
        let silent_since = std::time::Instant::now();
        let mut ws = WireWs::connect(&target, "/echo/websocket").await.unwrap();
        assert_eq!(
            next_event(&mut events).await,
            Event::Opened(Transport::RawWebSocket)
        );
        let mut pings = 0;
        let close = loop {
            match ws.next().await.unwrap() {
                Some(WireFrame::Ping) => pings += 1,
                Some(WireFrame::Close(close)) => break close,
                other => panic!("round {round}: {other:?}"),
            }
        };
        let took = silent_since.elapsed();
        assert_eq!(pings, 1, "round {round}");
        assert_eq!(close, Some((1001, "Keepalive timeout".to_owned())));
        // The connection is failed, not closed by handshake: the server
        // does not wait `close_timeout` (3 s) for a close frame from a
        // peer it takes for gone, it ends the connection at once.
        let ended = ws.until_end(Duration::from_millis(500)).await;
        assert!(ended.is_ok(), "round {round}: {ended:?}");
        assert!(took >= INTERVAL + TIMEOUT, "round {round}: {took:?}");
        assert!(
            took < INTERVAL + TIMEOUT + Duration::from_millis(250),
            "round {round}: {took:?}"
        );
        assert_eq!(
            next_event(&mut events).await,
            Event::Closed(Some(CloseReason::TimedOut))
        );
    }
}

/// Keepalive: a client that answers pings stays, however long it is quiet.
#[tokio::test]
async fn a_client_that_answers_pings_stays() {
    use sockjs_conformance::client::{WireFrame, WireWs};
    let interval = Duration::from_millis(50);
    let (app, _events) = app(no_heartbeat_config().websocket_ping(interval, interval));
    let addr = serve(app).await;
    let mut ws = WireWs::connect(&wire_target(addr), "/echo/websocket")
        .await
        .unwrap();
    for _ in 0..10 {
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Ping));
        ws.send_frame(0xA, b"").await.unwrap();
    }
    ws.send_text("still here").await.unwrap();
    loop {
        match ws.next().await.unwrap() {
            Some(WireFrame::Ping) => ws.send_frame(0xA, b"").await.unwrap(),
            other => {
                assert_eq!(other, Some(WireFrame::Text("still here".into())));
                break;
            }
        }
    }
}

/// Keepalive: a ping goes out only after an interval with nothing from the
/// client. A client that keeps sending is never pinged, although the ping
/// timer, set when the session opened and not moved by each frame, fires
/// within the first interval (it then re-arms from the last frame); once
/// the client is quiet, the ping comes one interval after its last frame.
#[tokio::test]
async fn a_client_that_keeps_talking_is_not_pinged() {
    use sockjs_conformance::client::{WireFrame, WireWs};
    let interval = Duration::from_millis(500);
    let (app, _events) =
        app(no_heartbeat_config().websocket_ping(interval, Duration::from_secs(5)));
    let addr = serve(app).await;
    let mut ws = WireWs::connect(&wire_target(addr), "/echo/websocket")
        .await
        .unwrap();
    // Three intervals of talk, a message every tenth of one.
    for i in 0..30 {
        let text = format!("talk {i}");
        ws.send_text(&text).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap(),
            Some(WireFrame::Text(text)),
            "message {i}"
        );
        tokio::time::sleep(interval / 10).await;
    }
    let quiet = std::time::Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a ping once the client is quiet");
    assert_eq!(next.unwrap(), Some(WireFrame::Ping));
    let took = quiet.elapsed();
    assert!(
        took >= interval - interval / 5,
        "pinged {took:?} after the last message"
    );
}

/// Keepalive with a ping interval shorter than its timeout: an answer
/// brings the next ping forward to one interval after it: not the timeout
/// after the ping it answered, and not at once.
#[tokio::test]
async fn an_answer_to_a_ping_schedules_the_next_after_one_interval() {
    use sockjs_conformance::client::{WireFrame, WireWs};
    let interval = Duration::from_millis(100);
    let timeout = Duration::from_secs(3);
    let (app, _events) = app(no_heartbeat_config().websocket_ping(interval, timeout));
    let addr = serve(app).await;
    let mut ws = WireWs::connect(&wire_target(addr), "/echo/websocket")
        .await
        .unwrap();
    for round in 0..3 {
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Ping));
        let answered = std::time::Instant::now();
        ws.send_frame(0xA, b"").await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a next ping");
        assert_eq!(next.unwrap(), Some(WireFrame::Ping));
        let took = answered.elapsed();
        // One interval after the answer: not at once (a frame from the
        // client moves the next ping later), not the timeout after the ping.
        assert!(
            took >= interval - Duration::from_millis(5),
            "round {round}: {took:?}"
        );
        assert!(
            took < Duration::from_millis(1500),
            "round {round}: {took:?}"
        );
        ws.send_frame(0xA, b"").await.unwrap();
    }
}

/// Keepalive between pings costs nothing: the ping timer, once it fired,
/// is set to the next deadline (not left expired, which would turn the
/// session loop into a spin until then). The test's runtime has one
/// thread, which serves the session too: a spin shows in its CPU time.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_quiet_keepalive_session_does_not_spin() {
    use sockjs_conformance::client::{WireFrame, WireWs};
    let interval = Duration::from_millis(200);
    let (app, _events) =
        app(no_heartbeat_config().websocket_ping(interval, Duration::from_secs(3)));
    let addr = serve(app).await;
    let mut ws = WireWs::connect(&wire_target(addr), "/echo/websocket")
        .await
        .unwrap();
    assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Ping));
    ws.send_frame(0xA, b"").await.unwrap();
    let before = thread_cpu_ticks();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Ping));
        ws.send_frame(0xA, b"").await.unwrap();
    }
    let took = started.elapsed();
    let used = thread_cpu_ticks() - before;
    // Five intervals (a second) of waiting: a spin burns most of it (100
    // ticks); a quiet session a tick or two.
    assert!(used < 30, "{used} ticks of CPU in {took:?}");
}

/// How each flooded session ended, in order.
type Ends = std::sync::Arc<std::sync::Mutex<Vec<Option<CloseReason>>>>;

/// A server whose `/flood` handler sends 64 KB messages until its session
/// closes, then records why it closed.
async fn flood_server(send_timeout: Duration) -> (std::net::SocketAddr, Ends) {
    let ends: Ends = Ends::default();
    let seen = ends.clone();
    let flood = sockjs::SockJsRouter::new(move |session: sockjs::Session| {
        let ends = seen.clone();
        async move {
            let (tx, rx) = session.split();
            let chunk = "x".repeat(64 * 1024);
            for _ in 0..100_000 {
                if tx.send(chunk.clone()).await.is_err() {
                    break;
                }
            }
            ends.lock().unwrap().push(rx.close_reason());
        }
    })
    .config(no_heartbeat_config().send_timeout(send_timeout))
    .into_router();
    let addr = serve(axum::Router::new().nest_service("/flood", flood)).await;
    (addr, ends)
}

/// A raw WebSocket to `/flood`, its handshake sent (its answer not read).
async fn open_flood(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!(
            "GET /flood/websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tcp
}

/// Why the `round`th flooded session ended, once it has, within `within`
/// of `since`.
async fn flood_end(
    ends: &Ends,
    round: usize,
    since: std::time::Instant,
    within: Duration,
) -> Option<CloseReason> {
    loop {
        if let Some(end) = ends.lock().unwrap().get(round) {
            return end.clone();
        }
        assert!(
            since.elapsed() < within,
            "round {round}: no end within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client that never reads while the handler floods it: the write that
/// cannot complete within `send_timeout` ends the session as `Stalled`.
#[tokio::test]
async fn a_client_that_stops_reading_stalls_out() {
    let (addr, ends) = flood_server(Duration::from_millis(300)).await;
    for round in 0..3 {
        let tcp = open_flood(addr).await;
        // Never read: the socket buffers fill, the server's write stalls.
        let end = flood_end(
            &ends,
            round,
            std::time::Instant::now(),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(end, Some(CloseReason::Stalled));
        drop(tcp);
    }
}

/// A client whose connection is reset while the handler floods it: the
/// write fails, and the session ends at once as a transport error: not
/// `send_timeout` later as `Stalled`, which is for a client that is still
/// there but does not read.
#[tokio::test]
async fn a_connection_reset_mid_write_ends_the_session_at_once() {
    use tokio::io::AsyncReadExt;
    let (addr, ends) = flood_server(Duration::from_secs(20)).await;
    for round in 0..3 {
        let mut tcp = open_flood(addr).await;
        // Some of the flood, then a pause: the buffers fill and the server
        // waits to write more; then the reset.
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < 256 * 1024 {
            got += tcp.read(&mut buf).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        tcp.set_zero_linger().unwrap();
        let reset = std::time::Instant::now();
        drop(tcp);
        // Not `send_timeout` (20 s) later.
        let end = flood_end(&ends, round, reset, Duration::from_secs(5)).await;
        assert!(
            matches!(end, Some(CloseReason::TransportError(_))),
            "round {round}: {end:?}"
        );
    }
}

/// A hixie-76 upgrade without its 8 key bytes is closed after
/// `body_timeout`, not kept forever.
#[tokio::test]
async fn hixie76_without_its_key_is_closed_after_body_timeout() {
    let body_timeout = Duration::from_millis(300);
    let (app, _events) = app(no_heartbeat_config().body_timeout(body_timeout));
    let addr = serve(app).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /echo/000/nokey/websocket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
         Upgrade: WebSocket\r\nOrigin: http://{addr}\r\n\
         Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut chunk))
            .await
            .expect("the connection ends")
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    let took = started.elapsed();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 101"), "{got}");
    assert!(got.ends_with("\r\n\r\n"), "nothing after the head: {got}");
    assert!(took >= body_timeout - Duration::from_millis(20), "{took:?}");
    assert!(took < body_timeout + Duration::from_millis(500), "{took:?}");
}

/// Connects once the service has room for a session (`max_sessions`): the
/// last session's connection has ended and given its place back.
async fn connect_when_free(addr: std::net::SocketAddr, path: &str) -> Ws {
    within(Duration::from_secs(5), async {
        loop {
            match tokio_tungstenite::connect_async(format!("ws://{addr}{path}")).await {
                Ok((ws, _)) => return ws,
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await
}

/// The handler of a WebSocket session is polled in its connection's task
/// while the connection lives. A panic in it ends the handler alone, as in
/// a task of its own: its session closes as when a handler returns (1000),
/// with the closing handshake; the next session is served. And what is
/// left of a handler when its connection has ended goes on without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_ends_its_session_cleanly_and_a_handler_outlives_its_socket() {
    let (after_tx, mut after_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let released = release.clone();
    let service: axum::Router = sockjs::SockJsRouter::new(move |session: sockjs::Session| {
        let after = after_tx.clone();
        let released = released.clone();
        async move {
            let (tx, mut rx) = session.split();
            let mut last = String::new();
            while let Some(message) = rx.recv().await {
                if message == "panic" {
                    panic!("a bug of the application, on purpose");
                }
                if tx.send(message.clone()).await.is_err() {
                    break;
                }
                last = message;
            }
            if !last.is_empty() {
                // Goes on once the test saw the connection's end.
                released.notified().await;
                let _ = after.send(last);
            }
        }
    })
    .config(no_heartbeat_config().max_sessions(1))
    .into_router();
    let addr = serve(axum::Router::new().nest_service("/app", service)).await;
    for i in 0..20 {
        let mut ws = connect_when_free(addr, &format!("/app/0/p{i}/websocket")).await;
        assert_eq!(next_text(&mut ws).await.unwrap(), "o");
        ws.send(Message::text(r#"["before"]"#)).await.unwrap();
        assert_eq!(next_text(&mut ws).await.unwrap(), r#"a["before"]"#);
        ws.send(Message::text(r#"["panic"]"#)).await.unwrap();
        assert_eq!(
            next_text(&mut ws).await.unwrap(),
            r#"c[1000,"Normal closure"]"#,
            "session {i}"
        );
        assert_eq!(
            next_text(&mut ws).await.unwrap_err(),
            r#"close Some((1000, "Normal closure"))"#
        );
        drop(ws);

        let mut ws = connect_when_free(addr, &format!("/app/0/q{i}/websocket")).await;
        assert_eq!(next_text(&mut ws).await.unwrap(), "o");
        ws.send(Message::text(format!(r#"["m{i}"]"#)))
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await.unwrap(), format!(r#"a["m{i}"]"#));
        ws.close(None).await.unwrap();
        while ws.next().await.is_some() {}
        drop(ws);
        // Its place is given back when its connection's task is done.
        let mut probe = connect_when_free(addr, &format!("/app/0/r{i}/websocket")).await;
        release.notify_one();
        assert_eq!(
            within(Duration::from_secs(3), after_rx.recv()).await,
            Some(format!("m{i}"))
        );
        probe.close(None).await.unwrap();
        while probe.next().await.is_some() {}
    }
}

/// A masked text frame of any length (client to server, mask zero).
fn masked_text(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

/// A client may send its first frames right behind the upgrade request, in
/// the same packet: hyper has read them by the time it hands the socket
/// over. Under `axum::serve` and under `sockjs::serve` (where the socket is
/// taken back from hyper as the serve helper's own stream), they come
/// first, in order, a frame longer than the socket's read buffer included.
/// And over a stream that holds writes until flushed (`accept_with`, as TLS
/// does under back-pressure), every frame is flushed.
#[tokio::test]
async fn frames_sent_with_the_upgrade_request_are_read_first_under_either_server() {
    let long = "x".repeat(3000);
    for server in ["axum::serve", "sockjs::serve", "sockjs::serve, buffered"] {
        let (app, _events) = app(no_heartbeat_config());
        let addr = match server {
            "axum::serve" => serve(app).await,
            _ => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let mut serving = sockjs::serve(listener, app);
                if server.ends_with("buffered") {
                    serving = serving.accept_with(|tcp: TcpStream| async move {
                        Ok::<_, std::io::Error>(tokio::io::BufStream::new(tcp))
                    });
                }
                tokio::spawn(std::future::IntoFuture::into_future(serving));
                addr
            }
        };
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut bytes = format!(
            "GET /echo/websocket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .into_bytes();
        for payload in ["one", &long, "two"] {
            bytes.extend(masked_text(payload.as_bytes()));
        }
        tcp.write_all(&bytes).await.unwrap();
        let head = read_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{server}: {head}");
        let mut got = Vec::new();
        for _ in 0..3 {
            let mut header = [0u8; 2];
            within(Duration::from_secs(3), tcp.read_exact(&mut header))
                .await
                .unwrap();
            assert_eq!(header[0], 0x81, "{server}: a text frame");
            let len = match header[1] {
                126 => {
                    let mut ext = [0u8; 2];
                    within(Duration::from_secs(3), tcp.read_exact(&mut ext))
                        .await
                        .unwrap();
                    usize::from(u16::from_be_bytes(ext))
                }
                n => usize::from(n),
            };
            let mut payload = vec![0u8; len];
            within(Duration::from_secs(3), tcp.read_exact(&mut payload))
                .await
                .unwrap();
            got.push(String::from_utf8(payload).unwrap());
        }
        assert_eq!(got, ["one", long.as_str(), "two"], "{server}");
    }
}

/// The response head to a raw HTTP/1.1 request on a fresh connection.
async fn head_of(addr: std::net::SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut tcp).await
}

/// A response head, read a byte at a time (what follows it stays unread),
/// each byte within 3 s.
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(Duration::from_secs(3), tcp.read_exact(&mut byte))
            .await
            .unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The framed endpoint answers the WebSocket versions sockjs-node answers,
/// 13 and the drafts 8 and 7, and refuses others with 400.
#[tokio::test]
async fn websocket_versions_13_8_and_7_are_answered_and_others_refused() {
    let (app, _events) = app(no_heartbeat_config());
    let addr = serve(app).await;
    for (version, status) in [
        ("13", "101"),
        ("8", "101"),
        ("7", "101"),
        ("12", "400"),
        ("", "400"),
    ] {
        let head = head_of(
            addr,
            &format!(
                "GET /echo/0/v{version}/websocket HTTP/1.1\r\nHost: {addr}\r\n\
                 Connection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: {version}\r\n\r\n"
            ),
        )
        .await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "version {version:?}: {head}"
        );
    }
}

/// Sends `["hi"]` on an open hixie-76 session and reads its echo.
async fn hixie76_echoes_hi(tcp: &mut TcpStream) {
    tcp.write_all(b"\x00[\"hi\"]\xff").await.unwrap();
    let mut echo = [0u8; 9];
    within(Duration::from_secs(3), tcp.read_exact(&mut echo))
        .await
        .unwrap();
    assert_eq!(&echo, b"\x00a[\"hi\"]\xff");
}

/// A hixie-76 session on `/echo/000/{id}/websocket`, its key bytes sent,
/// past the challenge's answer and the `o` frame.
async fn hixie76_open(addr: std::net::SocketAddr, id: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /echo/000/{id}/websocket HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
         Upgrade: WebSocket\r\nOrigin: http://{addr}\r\n\
         Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\naaaaaaaa"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut tcp).await;
    let mut answer_and_open = [0u8; 16 + 3];
    within(Duration::from_secs(3), tcp.read_exact(&mut answer_and_open))
        .await
        .unwrap();
    assert_eq!(&answer_and_open[16..], b"\x00o\xff");
    tcp
}

/// Hixie-76 has no pings, so the keepalive of `websocket_ping` leaves its
/// sessions alone: a quiet client is still served after several timeouts.
#[tokio::test]
async fn hixie76_sessions_are_not_failed_by_the_keepalive() {
    let step = Duration::from_millis(50);
    let (app, _events) = app(no_heartbeat_config().websocket_ping(step, step));
    let addr = serve(app).await;
    let mut tcp = hixie76_open(addr, "hk").await;
    // Past a ping and its timeout, four times over; the wait is the
    // behaviour under test.
    tokio::time::sleep(step * 8).await;
    hixie76_echoes_hi(&mut tcp).await;
}

/// A hixie-76 message over `max_message_size` bytes fails the connection as
/// on RFC 6455 (`c[1009,...]`, the close frame, FIN): whole in one read, or
/// still arriving (its end never sent), when the server stops reading it at
/// the limit instead of buffering the stream.
#[tokio::test]
async fn hixie76_messages_over_the_limit_are_refused_whole_or_unfinished() {
    let (app, _events) = app(no_heartbeat_config().max_message_size(64));
    let addr = serve(app).await;
    // One byte over, whole; one over, unfinished; far over, unfinished.
    let over = format!("[\"{}\"]", "a".repeat(61));
    let cases = [
        [b"\x00", over.as_bytes(), b"\xff"].concat(),
        [b"\x00", over.as_bytes()].concat(),
        [&b"\x00"[..], &[b'a'; 100_000]].concat(),
    ];
    for (i, message) in cases.iter().enumerate() {
        let mut tcp = hixie76_open(addr, &format!("hb{i}")).await;
        // The server may end the connection before the client wrote all.
        let _ = tcp.write_all(message).await;
        let mut rest = Vec::new();
        within(Duration::from_secs(3), tcp.read_to_end(&mut rest))
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&rest),
            String::from_utf8_lossy(b"\x00c[1009,\"Message too big\"]\xff\xff\x00"),
            "case {i}"
        );
    }
}

/// A hixie-76 message is taken up to `max_message_size` bytes, also while
/// it arrives in parts: a message of exactly the limit, its end marker sent
/// later, is echoed.
#[tokio::test]
async fn hixie76_messages_up_to_the_limit_are_taken_while_incomplete() {
    let (app, _events) = app(no_heartbeat_config().max_message_size(64));
    let addr = serve(app).await;
    let mut tcp = hixie76_open(addr, "hl").await;
    // `["aaa…"]`: 64 bytes, the limit.
    let text = format!("[\"{}\"]", "a".repeat(60));
    tcp.write_all(format!("\x00{text}").as_bytes())
        .await
        .unwrap();
    // The end marker comes later, in a read of its own: the message waits,
    // incomplete, in the socket's buffer meanwhile.
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(b"\xff").await.unwrap();
    let mut got = vec![0u8; 2 + text.len() + 1];
    within(Duration::from_secs(3), tcp.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(got, [b"\x00a", text.as_bytes(), b"\xff"].concat());
}
