//! Clients that stop reading, over real sockets: a streaming session whose
//! client stopped reading (receive window full) ends as
//! `CloseReason::Stalled` after `send_timeout`, is forgotten, and its
//! handler's `Receiver` ends, while a client that reads on the same server
//! keeps receiving; a polling session whose client stopped reading is
//! forgotten after `disconnect_delay` like any client that went away.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sockjs::{CloseReason, Config, Session, Shutdown, SockJsRouter};

use crate::fixture::streaming_openings;
#[cfg(target_os = "linux")]
use crate::fixture::thread_cpu_ticks;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// Stuck clients per transport, all at once.
const STUCK: usize = 100;
/// Rounds of the polling test.
const POLLING_ROUNDS: usize = 5;
const SEND_TIMEOUT: Duration = Duration::from_millis(300);

/// Every session sends 4 KiB messages until its sender fails, then reports
/// its path and why it ended.
fn app(
    config: Config,
    shutdown: &Shutdown,
) -> (Router, mpsc::UnboundedReceiver<(String, CloseReason)>) {
    let (report, reports) = mpsc::unbounded_channel();
    let service = SockJsRouter::new(move |session: Session| {
        let report = report.clone();
        async move {
            let path = session.path().to_owned();
            let (tx, mut rx) = session.split();
            let chunk = "x".repeat(4096);
            while tx.send(chunk.clone()).await.is_ok() {}
            while rx.recv().await.is_some() {}
            let _ = report.send((path, rx.close_reason().expect("a reason once ended")));
        }
    })
    .config(config)
    .shutdown(shutdown.clone())
    .into_router();
    (Router::new().nest("/s", service), reports)
}

/// Serves `app` on a loopback port whose connections have a 64 KiB send
/// buffer (accepted sockets inherit it), so that a stuck client fills the
/// server's buffers in a few frames rather than autotuned megabytes.
async fn serve(app: Router) -> SocketAddr {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1024).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A connection with a small receive window (fills at once when not
/// read), `request` sent on it.
async fn open(addr: SocketAddr, request: &str) -> TcpStream {
    connect(addr, request, Some(4096)).await
}

/// A connection with the system's receive buffer (a tiny one slows a
/// reading client down to the persist timer on loopback), `request` sent.
async fn open_reading(addr: SocketAddr, request: &str) -> TcpStream {
    connect(addr, request, None).await
}

async fn connect(addr: SocketAddr, request: &str, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut stream = timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .expect("connect in time")
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads what came (within 5 s) after `total` bytes: the connection must
/// still be open.
async fn read_more(stream: &mut TcpStream, buf: &mut [u8], total: usize) -> usize {
    let n = timeout(Duration::from_secs(5), stream.read(buf))
        .await
        .expect("data in time")
        .unwrap();
    assert!(n > 0, "the connection ended after {total} bytes");
    n
}

fn request(method: &str, path: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
}

/// Waits for `n` reports, with a deadline.
async fn reports(
    rx: &mut mpsc::UnboundedReceiver<(String, CloseReason)>,
    n: usize,
    within: Duration,
) -> Vec<(String, CloseReason)> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => got.push(r),
            Ok(None) => panic!("the report channel closed"),
            Err(_) => panic!(
                "{} of {n} sessions ended within {within:?}: {got:?}",
                got.len()
            ),
        }
    }
    got
}

/// Polls `cond` until it holds, or panics after `within`.
async fn until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_clients_that_stop_reading_are_reaped_and_others_go_on() {
    let shutdown = Shutdown::new();
    let config = Config::default()
        .send_timeout(SEND_TIMEOUT)
        // Long enough that only the stall can end a stuck session.
        .disconnect_delay(Duration::from_secs(60))
        .heartbeat_delay(Duration::from_secs(60))
        .response_limit(1 << 40)
        .queue_capacity(16);
    let (app, mut ended) = app(config, &shutdown);
    let addr = serve(app).await;

    // A client that reads everything, all along.
    let healthy = open_reading(addr, &request("POST", "/s/0/healthy/xhr_streaming")).await;
    let read = Arc::new(AtomicU64::new(0));
    let reader = {
        let read = read.clone();
        tokio::spawn(async move {
            let mut healthy = healthy;
            let mut buf = vec![0; 64 * 1024];
            loop {
                match healthy.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read.fetch_add(n as u64, Ordering::Relaxed),
                };
            }
        })
    };

    // Clients on every streaming transport that never read a byte.
    let mut stuck = Vec::new();
    for i in 0..STUCK {
        for opening in streaming_openings("/s", &format!("stuck{i}")) {
            stuck.push(open(addr, &request(opening.method, &opening.path)).await);
        }
    }
    let t0 = Instant::now();
    let got = reports(&mut ended, stuck.len(), Duration::from_secs(30)).await;
    let took = t0.elapsed();
    for (path, reason) in &got {
        assert!(path.contains("stuck"), "{path} ended: {reason}");
        assert_eq!(reason, &CloseReason::Stalled, "{path}");
        assert_eq!(reason.to_string(), "client stopped reading");
    }
    for opening in streaming_openings("/s", "x") {
        let name = opening.endpoint();
        let n = got
            .iter()
            .filter(|(p, _)| p.ends_with(name) || p.contains(&format!("/{name}")))
            .count();
        assert_eq!(n, STUCK, "{name}: {n} stalled sessions of {STUCK}");
    }
    assert!(
        took >= SEND_TIMEOUT,
        "stalled after {took:?}, before send_timeout"
    );
    // Forgotten at once: only the healthy session is left.
    until(Duration::from_secs(5), "stuck sessions forgotten", || {
        shutdown.open_sessions() == 1
    })
    .await;
    // The reader was not held up by them: it still receives.
    let before = read.load(Ordering::Relaxed);
    until(
        Duration::from_secs(5),
        "the healthy client receives",
        || read.load(Ordering::Relaxed) > before + 1024 * 1024,
    )
    .await;
    assert!(ended.try_recv().is_err(), "the healthy session ended");

    reader.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pauses_for_less_than_send_timeout_is_not_cut() {
    let shutdown = Shutdown::new();
    let config = Config::default()
        .send_timeout(Duration::from_secs(1))
        .disconnect_delay(Duration::from_secs(60))
        .response_limit(1 << 40)
        .queue_capacity(16);
    let (app, mut ended) = app(config, &shutdown);
    let addr = serve(app).await;
    let mut paused = open_reading(addr, &request("GET", "/s/0/paused/eventsource")).await;
    let mut buf = vec![0; 64 * 1024];
    let t0 = Instant::now();
    let mut total = 0;
    // For three send timeouts: stops reading for a quarter of one (the
    // server's buffers fill), then reads flat out for 100 ms.
    while t0.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let burst = Instant::now() + Duration::from_millis(100);
        while Instant::now() < burst {
            total += read_more(&mut paused, &mut buf, total).await;
        }
    }
    assert!(total > 1024 * 1024, "read {total} bytes");
    assert!(ended.try_recv().is_err(), "the paused session was cut");
    assert_eq!(shutdown.open_sessions(), 1);
}

/// A raw WebSocket client that reads slowly but steadily: the batches it
/// is sent (hundreds of messages each) take far longer than `send_timeout`
/// to write, but every message goes out well within it. The timeout
/// counts from the last message written, so the session is not cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_but_steady_websocket_reader_is_not_cut() {
    let shutdown = Shutdown::new();
    let config = Config::default()
        .send_timeout(SEND_TIMEOUT)
        .disconnect_delay(Duration::from_secs(60))
        .queue_capacity(1024);
    let (app, mut ended) = app(config, &shutdown);
    let addr = serve(app).await;
    let upgrade = "GET /s/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Version: 13\r\n\r\n";
    let mut slow = connect(addr, upgrade, Some(64 * 1024)).await;
    let mut buf = vec![0; 16 * 1024];
    let t0 = Instant::now();
    let mut total = 0;
    // About 800 KiB a second, for several send timeouts.
    while t0.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        total += read_more(&mut slow, &mut buf, total).await;
    }
    assert!(total > 512 * 1024, "read {total} bytes");
    assert!(ended.try_recv().is_err(), "the slow reader was cut");
    assert_eq!(shutdown.open_sessions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_clients_that_stop_reading_time_out() {
    let shutdown = Shutdown::new();
    let disconnect = Duration::from_millis(300);
    let config = Config::default()
        .send_timeout(SEND_TIMEOUT)
        .disconnect_delay(disconnect)
        .queue_capacity(16);
    let (app, mut ended) = app(config, &shutdown);
    let addr = serve(app).await;
    for round in 0..POLLING_ROUNDS {
        let mut stuck = Vec::new();
        for i in 0..STUCK {
            for (transport, method, query) in [("xhr", "POST", ""), ("jsonp", "GET", "?c=cb")] {
                let req = request(
                    method,
                    &format!("/s/0/r{round}c{i}{transport}/{transport}{query}"),
                );
                // The `o` poll, read; then a poll that is never read.
                let mut first = open(addr, &req).await;
                let mut buf = vec![0; 1024];
                let n = timeout(Duration::from_secs(5), first.read(&mut buf))
                    .await
                    .expect("the open frame in time")
                    .unwrap();
                assert!(n > 0);
                stuck.push(open(addr, &req).await);
            }
        }
        let got = reports(&mut ended, 2 * STUCK, Duration::from_secs(30)).await;
        for (path, reason) in &got {
            assert_eq!(reason, &CloseReason::TimedOut, "{path}");
        }
        until(Duration::from_secs(5), "polling sessions forgotten", || {
            shutdown.open_sessions() == 0
        })
        .await;
    }
}

#[test]
fn stalled_sessions_are_counted() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // A recorder for this thread only: a current-thread runtime.
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let shutdown = Shutdown::new();
                let config = Config::default()
                    .send_timeout(SEND_TIMEOUT)
                    .disconnect_delay(Duration::from_secs(60))
                    .response_limit(1 << 40)
                    .queue_capacity(16);
                let (app, mut ended) = app(config, &shutdown);
                let addr = serve(app).await;
                let mut stuck = Vec::new();
                for i in 0..10 {
                    let path = format!("/s/0/m{i}/xhr_streaming");
                    stuck.push(open(addr, &request("POST", &path)).await);
                }
                reports(&mut ended, 10, Duration::from_secs(30)).await;
                until(Duration::from_secs(5), "forgotten", || {
                    shutdown.open_sessions() == 0
                })
                .await;
            })
    });
    let stalled: u64 = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == sockjs::metrics::SESSIONS_CLOSED
                && key
                    .key()
                    .labels()
                    .any(|l| l.key() == "reason" && l.value() == "stalled")
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(stalled, 10);
}

/// A streaming session whose client read everything and then has nothing
/// to read is not stalled: its watchdog neither reaps it (a frame read is
/// no longer awaiting a poll) nor spins (it sleeps a send timeout at a
/// time). One runtime thread serves both ends: a spin shows in its CPU.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn an_idle_streaming_session_that_read_everything_is_left_alone() {
    let (report, mut ended) = mpsc::unbounded_channel();
    let shutdown = Shutdown::new();
    let service = SockJsRouter::new(move |session: Session| {
        let report = report.clone();
        async move {
            let (tx, mut rx) = session.split();
            let _ = tx.send("hi").await;
            while rx.recv().await.is_some() {}
            let _ = report.send(rx.close_reason());
        }
    })
    .config(
        Config::default()
            .send_timeout(Duration::from_millis(200))
            .disconnect_delay(Duration::from_secs(60)),
    )
    .shutdown(shutdown.clone())
    .into_router();
    let addr = serve(Router::new().nest("/s", service)).await;
    let mut client = open_reading(addr, &request("GET", "/s/0/idle/eventsource")).await;
    let mut seen = String::new();
    let mut buf = vec![0; 4096];
    while !seen.contains("a[\"hi\"]") {
        let n = timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "the response ended: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let before = thread_cpu_ticks();
    // Five send timeouts with nothing to send.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = thread_cpu_ticks() - before;
    assert!(ended.try_recv().is_err(), "the idle session was cut");
    assert_eq!(shutdown.open_sessions(), 1);
    assert!(used < 30, "{used} ticks of CPU in a second of idleness");
}
