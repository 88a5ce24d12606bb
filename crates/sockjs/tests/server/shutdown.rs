//! Graceful shutdown over real sockets: every transport's clients get what
//! was queued before the shutdown, then `c[1001,"Server shutting down"]`
//! (a 1001 close frame on raw websockets) and a clean end; new sessions are
//! refused; `axum::serve(..).with_graceful_shutdown(..)` returns. Then
//! `sockjs::serve`: the same shutdown through it, and its header and idle
//! timeouts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use sockjs::{Config, Sender, Session, Shutdown, SockJsRouter, Transport};
use sockjs_conformance::client::{Request, Target, WireFrame, WireWs};
use tokio::sync::oneshot;

use crate::fixture::openings;

/// Clients per transport in each shutdown cycle.
const CLIENTS: usize = 5;

/// A service whose sessions only listen; their senders are collected.
fn app(shutdown: &Shutdown, config: Config) -> (Router, Arc<Mutex<Vec<Sender>>>) {
    let senders: Arc<Mutex<Vec<Sender>>> = Arc::default();
    let collected = senders.clone();
    let service = SockJsRouter::new(move |session: Session| {
        let senders = collected.clone();
        async move {
            let (tx, mut rx) = session.split();
            senders.lock().unwrap().push(tx);
            while rx.recv().await.is_some() {}
        }
    })
    .config(config)
    .shutdown(shutdown.clone())
    .into_router();
    (Router::new().nest_service("/svc", service), senders)
}

struct Server {
    target: Target,
    stop: oneshot::Sender<Duration>,
    served: tokio::task::JoinHandle<sockjs::ShutdownReport>,
}

async fn start(shutdown: Shutdown, app: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, signal) = oneshot::channel::<Duration>();
    let report = Arc::new(Mutex::new(None));
    let reported = report.clone();
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let deadline = signal.await.unwrap();
                *reported.lock().unwrap() = Some(shutdown.graceful(deadline).await);
            })
            .await
            .unwrap();
        let report = report.lock().unwrap().take();
        report.expect("the shutdown ran")
    });
    Server {
        target: Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(5),
        },
        stop,
        served,
    }
}

/// One client's view: its frames from `o` to the close frame.
type Opened = tokio::task::JoinHandle<Result<Vec<String>, String>>;

/// How a streaming transport's body reads.
struct Streaming {
    method: &'static str,
    /// The prelude ends with this.
    prelude_end: &'static str,
    /// Each frame ends with this.
    frame_end: &'static str,
    /// The frame inside its wrapping.
    unwrap: fn(&str) -> Option<String>,
}

const XHR_STREAMING: Streaming = Streaming {
    method: "POST",
    prelude_end: "h\n",
    frame_end: "\n",
    unwrap: |f| f.strip_suffix('\n').map(str::to_owned),
};

const EVENTSOURCE: Streaming = Streaming {
    method: "GET",
    prelude_end: "\r\n",
    frame_end: "\r\n\r\n",
    unwrap: |f| {
        Some(
            f.strip_prefix("data: ")?
                .strip_suffix("\r\n\r\n")?
                .to_owned(),
        )
    },
};

const HTMLFILE: Streaming = Streaming {
    method: "GET",
    prelude_end: "\r\n\r\n",
    frame_end: "</script>\r\n",
    unwrap: |f| {
        let json = f
            .strip_prefix("<script>\np(")?
            .strip_suffix(");\n</script>\r\n")?;
        serde_json::from_str(json).ok()
    },
};

/// Opens a streaming receiver and reads its frames until `c[...]`, then
/// the end of the body and of the connection.
fn streaming(target: &Target, path: String, how: &'static Streaming) -> Opened {
    let target = target.clone();
    tokio::spawn(async move {
        let e = |e: sockjs_conformance::client::Error| format!("{path}: {e}");
        let mut r = target
            .open(Request::new(how.method, path.clone()))
            .await
            .map_err(e)?;
        r.read_text_until(how.prelude_end).await.map_err(e)?;
        let mut frames = Vec::new();
        loop {
            let wrapped = r.read_text_until(how.frame_end).await.map_err(e)?;
            let frame =
                (how.unwrap)(&wrapped).ok_or_else(|| format!("{path}: malformed {wrapped:?}"))?;
            if frame == "h" {
                continue;
            }
            let last = frame.starts_with('c');
            frames.push(frame);
            if last {
                break;
            }
        }
        r.expect_end().await.map_err(e)?;
        r.conn().expect_closed().await.map_err(e)?;
        Ok(frames)
    })
}

/// Polls `path` until a close frame; `unwrap` takes the frame out of the
/// transport's wrapping.
fn polling(target: &Target, path: String, unwrap: fn(&str) -> Option<String>) -> Opened {
    let target = target.clone();
    tokio::spawn(async move {
        let mut frames = Vec::new();
        loop {
            let r = target
                .send(Request::new(
                    if path.contains("jsonp") {
                        "GET"
                    } else {
                        "POST"
                    },
                    path.clone(),
                ))
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            if r.status() != 200 {
                return Err(format!("{path}: status {} {:?}", r.status(), r.text()));
            }
            let frame =
                unwrap(&r.text()).ok_or_else(|| format!("{path}: malformed {:?}", r.text()))?;
            if frame == "h" {
                continue;
            }
            let last = frame.starts_with('c');
            frames.push(frame);
            if last {
                return Ok(frames);
            }
        }
    })
}

fn websocket(target: &Target, path: String) -> Opened {
    let target = target.clone();
    tokio::spawn(async move {
        let mut ws = WireWs::connect(&target, &path)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let end = ws
            .until_closed(true)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        if end.close != Some((1001, "Server shutting down".into())) {
            return Err(format!("{path}: close frame {:?}", end.close));
        }
        if !end.server_ended {
            return Err(format!("{path}: the server did not end the connection"));
        }
        Ok(end.texts)
    })
}

/// Waits until `n` sessions are open and their handlers registered.
async fn until_open(senders: &Mutex<Vec<Sender>>, n: usize) {
    for _ in 0..5000 {
        if senders.lock().unwrap().len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{} of {n} sessions opened", senders.lock().unwrap().len());
}

/// Shutdowns repeated: each cycle is a fresh server with its clients.
const CYCLES: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transport_gets_its_messages_then_the_close_frame() {
    for cycle in 0..CYCLES {
        tokio::time::timeout(Duration::from_secs(20), shutdown_cycle())
            .await
            .unwrap_or_else(|_| panic!("cycle {cycle} timed out"));
    }
}

/// One server, `CLIENTS` clients on each transport, one shutdown.
async fn shutdown_cycle() {
    let shutdown = Shutdown::new();
    let config = Config::default().heartbeat_delay(Duration::from_secs(60));
    let (app, senders) = app(&shutdown, config);
    let server = start(shutdown.clone(), app).await;
    let t = &server.target;

    let mut clients: Vec<(Transport, Opened)> = Vec::new();
    for i in 0..CLIENTS {
        for opening in openings("/svc", &format!("c{i}")) {
            let path = opening.path;
            let client = match opening.transport {
                Transport::WebSocket | Transport::RawWebSocket => websocket(t, path),
                Transport::XhrStreaming => streaming(t, path, &XHR_STREAMING),
                Transport::EventSource => streaming(t, path, &EVENTSOURCE),
                Transport::HtmlFile => streaming(t, path, &HTMLFILE),
                Transport::XhrPolling => {
                    polling(t, path, |b| b.strip_suffix('\n').map(str::to_owned))
                }
                Transport::JsonpPolling => polling(t, path, |b| {
                    let json = b.strip_prefix("/**/cb(")?.strip_suffix(");\r\n")?;
                    serde_json::from_str(json).ok()
                }),
                other => panic!("no client for {other}"),
            };
            clients.push((opening.transport, client));
        }
    }
    until_open(&senders, clients.len()).await;
    assert_eq!(shutdown.open_sessions(), clients.len());
    // Queued right before the shutdown.
    for tx in senders.lock().unwrap().iter() {
        tx.try_send("before").unwrap();
    }
    server.stop.send(Duration::from_secs(5)).unwrap();

    for (transport, client) in clients {
        let frames = client
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{transport}: {e}"));
        if transport == Transport::RawWebSocket {
            assert_eq!(frames, ["before"], "{transport}");
            continue;
        }
        let close = "c[1001,\"Server shutting down\"]";
        let messages: Vec<&str> = frames
            .iter()
            .map(String::as_str)
            .filter(|f| *f != "o")
            .collect();
        assert_eq!(
            messages,
            ["a[\"before\"]", close],
            "{transport}: {frames:?}"
        );
    }
    let report = tokio::time::timeout(Duration::from_secs(5), server.served)
        .await
        .expect("axum::serve returned after the shutdown")
        .unwrap();
    assert_eq!(report.sessions, CLIENTS * 7);
    assert_eq!(report.forced, 0);
    // Websockets are gone; HTTP sessions are forgotten disconnect_delay
    // after their last request, as always.
    assert_eq!(shutdown.open_sessions(), CLIENTS * 5);
}

#[tokio::test]
async fn new_sessions_are_refused_once_it_began() {
    let shutdown = Shutdown::new();
    let (app, _senders) = app(&shutdown, Config::default());
    let server = start(shutdown.clone(), app).await;
    let t = server.target.clone();
    shutdown.begin();
    let mut refused: Vec<(&str, String)> = vec![("GET", "/svc/info".into())];
    for opening in openings("/svc", "new") {
        if opening.is_websocket() {
            let err = WireWs::connect(&t, &opening.path).await.unwrap_err();
            assert!(err.0.contains("503"), "{}: {err:?}", opening.path);
        } else {
            refused.push((opening.method, opening.path));
        }
    }
    for (method, path) in refused {
        let r = t.send(Request::new(method, path.clone())).await.unwrap();
        assert_eq!(
            (r.status(), r.text()),
            (503, "Server shutting down.".into()),
            "{path}"
        );
    }
    drop(server);
}

#[tokio::test]
async fn a_client_that_never_comes_back_is_cut_off_at_the_deadline() {
    let shutdown = Shutdown::new();
    let config = Config::default().disconnect_delay(Duration::from_secs(60));
    let (app, senders) = app(&shutdown, config);
    let server = start(shutdown.clone(), app).await;
    let r = server
        .target
        .send(Request::new("POST", "/svc/0/gone/xhr"))
        .await
        .unwrap();
    assert_eq!(r.text(), "o\n");
    until_open(&senders, 1).await;
    let started = std::time::Instant::now();
    server.stop.send(Duration::from_millis(300)).unwrap();
    let report = server.served.await.unwrap();
    assert_eq!((report.sessions, report.forced), (1, 1));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!senders.lock().unwrap()[0].is_open());
    // The cut-off session is forgotten at once, not after disconnect_delay.
    for _ in 0..100 {
        if shutdown.open_sessions() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} sessions left", shutdown.open_sessions());
}

#[tokio::test]
async fn a_websocket_that_does_not_read_is_cut_off_at_the_deadline() {
    let shutdown = Shutdown::new();
    let config = Config::default()
        .queue_capacity(1_000_000)
        .outbound_budget(usize::MAX);
    let (app, senders) = app(&shutdown, config);
    let server = start(shutdown.clone(), app).await;
    let mut ws = WireWs::connect(&server.target, "/svc/0/stuck/websocket")
        .await
        .unwrap();
    assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
    until_open(&senders, 1).await;
    // Far more than the socket buffers hold: the session loop blocks.
    let tx = senders.lock().unwrap()[0].clone();
    let big = "x".repeat(64 * 1024);
    for _ in 0..200 {
        tx.try_send(big.clone()).unwrap();
    }
    let started = std::time::Instant::now();
    server.stop.send(Duration::from_millis(300)).unwrap();
    let report = server.served.await.unwrap();
    assert_eq!((report.sessions, report.forced), (1, 1));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for _ in 0..100 {
        if shutdown.open_sessions() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} sessions left", shutdown.open_sessions());
}

// `sockjs::serve`: the same shutdown through the library's accept loop, and
// its timeouts, over real sockets with short timers.
#[cfg(feature = "serve")]
mod serve {
    use super::*;

    /// Header timeout of the `sockjs::serve` tests.
    const HEAD: Duration = Duration::from_millis(300);
    /// Idle timeout of the `sockjs::serve` tests.
    const IDLE: Duration = Duration::from_millis(700);

    /// A `sockjs::serve` server, with a flag set when its future returned.
    struct Served {
        target: Target,
        stop: Option<oneshot::Sender<()>>,
        done: tokio::task::JoinHandle<()>,
        /// Whether `TCP_NODELAY` was on when each socket reached the hook.
        nodelay: Arc<Mutex<Vec<bool>>>,
    }

    async fn serve(shutdown: Shutdown, app: Router) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, signal) = oneshot::channel::<()>();
        let nodelay: Arc<Mutex<Vec<bool>>> = Arc::default();
        let seen = nodelay.clone();
        let done = tokio::spawn(async move {
            sockjs::serve(listener, app)
                .header_read_timeout(HEAD)
                .idle_timeout(IDLE)
                .shutdown(shutdown)
                .shutdown_deadline(Duration::from_secs(2))
                .with_graceful_shutdown(async move {
                    let _ = signal.await;
                })
                .accept_with(move |tcp: tokio::net::TcpStream| {
                    seen.lock().unwrap().push(tcp.nodelay().unwrap());
                    async move { Ok::<_, std::io::Error>(tcp) }
                })
                .await
                .unwrap();
        });
        Served {
            target: Target {
                addr,
                host: addr.to_string(),
                prefix: String::new(),
                timeout: Duration::from_secs(5),
            },
            stop: Some(stop),
            done,
            nodelay,
        }
    }

    /// Reads until what was read ends with `end` (within 5 s a read).
    async fn read_until(tcp: &mut tokio::net::TcpStream, end: &[u8]) -> String {
        use tokio::io::AsyncReadExt;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(end) {
            let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
                .await
                .expect("an answer within 5 s")
                .unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Reads until the server ends the connection; how long that took.
    async fn until_closed(tcp: &mut tokio::net::TcpStream) -> (Duration, Vec<u8>) {
        use tokio::io::AsyncReadExt;
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (started.elapsed(), got),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => panic!(
                    "still open after 10 s; read {:?}",
                    String::from_utf8_lossy(&got)
                ),
            }
        }
    }

    #[tokio::test]
    async fn serve_cuts_off_slow_request_heads() {
        use tokio::io::AsyncWriteExt;
        let shutdown = Shutdown::new();
        let (app, _senders) = app(&shutdown, Config::default());
        let server = serve(shutdown, app).await;
        // Slowloris: part of a head, then silence.
        let mut slow = tokio::net::TcpStream::connect(server.target.addr)
            .await
            .unwrap();
        slow.write_all(b"GET /svc/info HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            .await
            .unwrap();
        // A client that connects and says nothing.
        let mut silent = tokio::net::TcpStream::connect(server.target.addr)
            .await
            .unwrap();
        let ((slow_took, slow_got), (silent_took, _)) =
            tokio::join!(until_closed(&mut slow), until_closed(&mut silent));
        assert!(
            slow_got.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&slow_got)
        );
        for took in [slow_took, silent_took] {
            assert!(took >= HEAD - Duration::from_millis(50), "{took:?}");
            assert!(took < HEAD + Duration::from_millis(700), "{took:?}");
        }
        eprintln!("slow head cut after {slow_took:?}, silent connection after {silent_took:?}");

        // A head sent byte by byte, each within the bound but the whole past it.
        let mut dribble = tokio::net::TcpStream::connect(server.target.addr)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut cut = false;
        for byte in b"GET /svc/info HTTP/1.1\r\nHost: x\r\n" {
            if dribble.write_all(&[*byte]).await.is_err() {
                cut = true;
                break;
            }
            // The dribble is the behaviour under test: not a synchronisation.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (took, _) = until_closed(&mut dribble).await;
        let total = started.elapsed();
        assert!(cut || total < Duration::from_secs(3), "{took:?} {total:?}");
        assert!(total < HEAD + Duration::from_millis(1500), "{total:?}");
        assert!(server.nodelay.lock().unwrap().iter().all(|on| *on));
    }

    #[tokio::test]
    async fn serve_times_a_later_request_head_on_a_kept_alive_connection_too() {
        use tokio::io::AsyncWriteExt;
        let shutdown = Shutdown::new();
        let (app, _senders) = app(&shutdown, Config::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // An idle timeout far past the header one: a cut near the header
        // timeout is the slow head's, not the idleness's.
        let server = tokio::spawn(std::future::IntoFuture::into_future(
            sockjs::serve(listener, app)
                .header_read_timeout(HEAD)
                .idle_timeout(Duration::from_secs(20)),
        ));
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /svc/info HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(read_until(&mut tcp, b"}").await.starts_with("HTTP/1.1 200"));
        // The second request's head never ends.
        tcp.write_all(b"GET /svc/info HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let (took, got) = until_closed(&mut tcp).await;
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
        assert!(took >= HEAD - Duration::from_millis(50), "{took:?}");
        assert!(took < HEAD + Duration::from_secs(2), "{took:?}");
        server.abort();
    }

    #[tokio::test]
    async fn serve_times_idleness_from_the_answer_to_a_request_whose_body_came_late() {
        use tokio::io::AsyncWriteExt;
        let shutdown = Shutdown::new();
        let (app, _senders) = app(&shutdown, Config::default());
        let server = serve(shutdown, app).await;
        let mut tcp = tokio::net::TcpStream::connect(server.target.addr)
            .await
            .unwrap();
        tcp.write_all(b"POST /svc/0/late/xhr HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        assert!(read_until(&mut tcp, b"o\n")
            .await
            .starts_with("HTTP/1.1 200"));
        // A send whose body comes after its head, while the request is in
        // flight: those bytes are no request head in the making.
        tcp.write_all(
            b"POST /svc/0/late/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
        )
        .await
        .unwrap();
        // A slow client, on purpose: not a synchronisation.
        tokio::time::sleep(Duration::from_millis(100)).await;
        tcp.write_all(b"[\"x\"]").await.unwrap();
        assert!(read_until(&mut tcp, b"\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 204"));
        // Idle from the answer on: cut at the idle timeout, not at the
        // header timeout after the body.
        let (took, got) = until_closed(&mut tcp).await;
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
        assert!(took >= IDLE - Duration::from_millis(50), "{took:?}");
        assert!(took < IDLE + Duration::from_millis(700), "{took:?}");
    }

    /// The serve helper's connection tasks wake when there is something to
    /// decide, not before: neither a connection waiting out its idle
    /// timeout nor one whose response is in flight past it spins. The
    /// test's runtime has one thread, which serves the connections too: a
    /// spin shows in its CPU time.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn serve_waits_quietly_for_a_timeout_and_while_a_response_is_in_flight() {
        use tokio::io::AsyncWriteExt;
        let shutdown = Shutdown::new();
        let config = Config::default().heartbeat_delay(Duration::from_secs(60));
        let (app, _senders) = app(&shutdown, config);
        let server = serve(shutdown, app).await;
        let t = server.target.clone();
        // A streaming response, in flight for three idle timeouts.
        let mut streaming = t
            .open(Request::new("POST", "/svc/0/quiet/xhr_streaming"))
            .await
            .unwrap();
        streaming.read_text_until("o\n").await.unwrap();
        let before = crate::fixture::thread_cpu_ticks();
        let started = std::time::Instant::now();
        // Three request heads in turn that never end, each until the
        // header timeout cuts it.
        for _ in 0..3 {
            let mut slow = tokio::net::TcpStream::connect(t.addr).await.unwrap();
            slow.write_all(b"GET /svc/info HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            let (took, _) = until_closed(&mut slow).await;
            assert!(took >= HEAD - Duration::from_millis(50), "{took:?}");
        }
        // A keep-alive connection idle after its request, until the idle
        // timeout closes it.
        let mut idle = tokio::net::TcpStream::connect(t.addr).await.unwrap();
        idle.write_all(b"GET /svc/info HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (took, _) = until_closed(&mut idle).await;
        assert!(took >= IDLE - Duration::from_millis(50), "{took:?}");
        // A temporal property ("quiet while waiting"), so a wait: the
        // streaming response goes on past two more idle timeouts.
        tokio::time::sleep(IDLE * 2).await;
        let used = crate::fixture::thread_cpu_ticks() - before;
        // About three seconds of waiting: a spin in any one of the waits
        // burns 30 to 200 ticks; quiet connections a few.
        assert!(used < 30, "{used} ticks of CPU in {:?}", started.elapsed());
        drop(server);
    }

    #[tokio::test]
    async fn serve_closes_idle_connections_but_not_quiet_sessions() {
        use tokio::io::AsyncWriteExt;
        let shutdown = Shutdown::new();
        let config = Config::default().heartbeat_delay(Duration::from_secs(60));
        let (app, senders) = app(&shutdown, config);
        let server = serve(shutdown, app).await;
        let t = server.target.clone();

        // A keep-alive connection idle after its request.
        let mut idle = tokio::net::TcpStream::connect(t.addr).await.unwrap();
        idle.write_all(b"GET /svc/info HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (took, got) = until_closed(&mut idle).await;
        let got = String::from_utf8_lossy(&got);
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        // Not the header timeout: the idle one.
        assert!(took >= IDLE - Duration::from_millis(50), "{took:?}");
        assert!(took < IDLE + Duration::from_millis(700), "{took:?}");
        eprintln!("idle keep-alive connection closed after {took:?}");

        // A streaming response and a WebSocket, quiet for longer than the idle
        // timeout (no heartbeat for a minute), are not cut.
        let mut streaming = t
            .open(Request::new("POST", "/svc/0/quiet/xhr_streaming"))
            .await
            .unwrap();
        streaming.read_text_until("o\n").await.unwrap();
        let mut ws = WireWs::connect(&t, "/svc/0/quietws/websocket")
            .await
            .unwrap();
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
        until_open(&senders, 2).await;
        // A temporal property ("not cut for being quiet"), so a wait: three
        // idle timeouts, well past the one the server would cut at.
        tokio::time::sleep(IDLE * 3).await;
        for tx in senders.lock().unwrap().iter() {
            tx.try_send("still here").unwrap();
        }
        assert_eq!(
            streaming.read_text_until("\n").await.unwrap(),
            "a[\"still here\"]\n"
        );
        assert_eq!(
            ws.next().await.unwrap(),
            Some(WireFrame::Text("a[\"still here\"]".into()))
        );
        drop(server);
    }

    #[tokio::test]
    async fn serve_shuts_the_sessions_down_then_returns() {
        let shutdown = Shutdown::new();
        let config = Config::default()
            .heartbeat_delay(Duration::from_secs(60))
            .max_sessions_per_address(2);
        let (app, senders) = app(&shutdown, config);
        let mut server = serve(shutdown.clone(), app).await;
        let t = &server.target;
        let clients = [
            streaming(t, "/svc/0/s/xhr_streaming".into(), &XHR_STREAMING),
            websocket(t, "/svc/0/w/websocket".into()),
        ];
        until_open(&senders, 2).await;
        // The per-address limit saw the clients' address (ConnectInfo).
        let third = t
            .send(Request::new("POST", "/svc/0/third/xhr"))
            .await
            .unwrap();
        assert_eq!(third.status(), 429, "{:?}", third.text());
        let started = std::time::Instant::now();
        server.stop.take().unwrap().send(()).unwrap();
        for client in clients {
            let frames = client.await.unwrap().unwrap();
            assert_eq!(frames.last().unwrap(), "c[1001,\"Server shutting down\"]");
        }
        tokio::time::timeout(Duration::from_secs(5), &mut server.done)
            .await
            .expect("serve returned")
            .unwrap();
        assert!(shutdown.is_shutting_down());
        eprintln!("serve returned {:?} after the signal", started.elapsed());
        // The listener is gone.
        assert!(tokio::net::TcpStream::connect(t.addr).await.is_err());
    }

    #[tokio::test]
    async fn serve_caps_connections_websockets_included() {
        let shutdown = Shutdown::new();
        let (app, senders) = app(&shutdown, Config::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(std::future::IntoFuture::into_future(
            sockjs::serve(listener, app).max_connections(1),
        ));
        let target = Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(5),
        };
        let mut ws = WireWs::connect(&target, "/svc/0/capped/websocket")
            .await
            .unwrap();
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
        until_open(&senders, 1).await;
        // The upgraded socket holds the only place: the next client waits in
        // the backlog.
        let waiting = tokio::spawn({
            let target = target.clone();
            async move { target.send(Request::new("GET", "/svc/info")).await }
        });
        // A negative property with no deadline to wait past (the client
        // waits as long as the WebSocket lives), so a sample: 300 ms, many
        // times what serving `/info` takes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished());
        // The WebSocket gone, it is served.
        ws.send_close(Some(1000)).await.unwrap();
        drop(ws);
        let answered = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("served once the WebSocket closed")
            .unwrap()
            .unwrap();
        assert_eq!(answered.status(), 200);
    }

    #[tokio::test]
    async fn serve_drops_connections_still_open_at_the_deadline() {
        use tokio::io::AsyncWriteExt;
        // A response that never ends, outside any SockJS session.
        let forever = Router::new().route(
            "/forever",
            axum::routing::get(|| async {
                use futures_util::StreamExt;
                let chunks = futures_util::stream::once(async {
                    Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"first\n"))
                })
                .chain(futures_util::stream::pending());
                axum::body::Body::from_stream(chunks)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, signal) = oneshot::channel::<()>();
        let served = tokio::spawn(std::future::IntoFuture::into_future(
            sockjs::serve(listener, forever)
                .shutdown_deadline(Duration::from_millis(200))
                .with_graceful_shutdown(async move {
                    let _ = signal.await;
                }),
        ));
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        crate::fixture::within(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut head),
        )
        .await
        .unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let started = std::time::Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("serve returned")
            .unwrap()
            .unwrap();
        // At least a second for the connections once the (no) sessions are
        // gone, then dropped.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_millis(2500), "{took:?}");
        let (_, _) = until_closed(&mut tcp).await;
        eprintln!("serve dropped a never-ending response {took:?} after the signal");
    }
}
