//! Byte budgets and bounded waits: what one session (and one service) holds
//! for a handler that does not read and for a client that does not take,
//! the answer a send gets when there is no room, sends to closed sessions,
//! and the bound on session ids.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixture::*;
use axum::Router;
use http::StatusCode;
use sockjs::{Config, QueueFullPolicy, Rejection, Session, SockJsRouter, TrySendError};
use sockjs_conformance::client::{Request, Target};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Per-session gates: a session's handler reads one message per permit.
#[derive(Clone, Default)]
struct Gates(Arc<Mutex<HashMap<String, Arc<Semaphore>>>>);

impl Gates {
    fn of(&self, session: &str) -> Arc<Semaphore> {
        let mut map = self.0.lock().unwrap();
        map.entry(session.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(0)))
            .clone()
    }

    /// Lets session `session`'s handler read `n` more messages.
    fn open(&self, session: &str, n: usize) {
        self.of(session).add_permits(n);
    }
}

/// A service at `/g` whose handlers read one message per permit of their
/// session's gate, report it, and close the session when it starts with
/// `close`.
fn gated(config: Config) -> (Router, Gates, mpsc::UnboundedReceiver<String>) {
    let gates = Gates::default();
    let (reads, read) = mpsc::unbounded_channel();
    let handler_gates = gates.clone();
    let service = SockJsRouter::new(move |session: Session| {
        let reads = reads.clone();
        let id = session.path().rsplit('/').nth(1).unwrap_or("").to_owned();
        let gate = handler_gates.of(&id);
        async move {
            let (tx, mut rx) = session.split();
            loop {
                let Ok(permit) = gate.acquire().await else {
                    return;
                };
                permit.forget();
                let Some(message) = rx.recv().await else {
                    return;
                };
                if message.starts_with("close") {
                    tx.close(3000, "Go away!");
                }
                let _ = reads.send(message);
            }
        }
    })
    .config(config);
    (
        Router::new().nest_service("/g", service.into_router()),
        gates,
        read,
    )
}

/// A JSON array of `messages` strings of `len` bytes each, the first
/// starting with `tag`.
fn batch(tag: &str, len: usize, messages: usize) -> String {
    let one = |t: &str| format!("\"{t}{}\"", "x".repeat(len - t.len()));
    let items: Vec<String> = (0..messages)
        .map(|i| one(if i == 0 { tag } else { "" }))
        .collect();
    format!("[{}]", items.join(","))
}

async fn send(app: &Router, session: &str, body: String) -> (StatusCode, String) {
    let response = call(app, req("POST", &format!("/g/0/{session}/xhr_send"), body)).await;
    let status = response.status();
    (status, text(response).await)
}

async fn open(app: &Router, session: &str) {
    let response = call(app, req("POST", &format!("/g/0/{session}/xhr"), "")).await;
    assert_eq!(text(response).await, "o\n");
}

fn budget_config() -> Config {
    Config::default()
        .inbound_budget(10 * 1024)
        .inbound_timeout(Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn a_send_without_room_waits_the_bound_then_gets_503_and_delivers_nothing() {
    let (app, gate, mut reads) = gated(budget_config());
    open(&app, "s").await;
    assert_eq!(
        send(&app, "s", batch("a", 4096, 1)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "s", batch("b", 4096, 1)).await.0,
        StatusCode::NO_CONTENT
    );

    let started = Instant::now();
    let (status, body) = send(&app, "s", batch("c", 4096, 1)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, Rejection::IncomingQueueFull.message());
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "waited the bound"
    );
    // A batch that does not fit whole is refused whole.
    assert_eq!(
        send(&app, "s", batch("d", 1024, 2)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Under the Wait policy the session stays open: once the handler reads,
    // a waiting send gets in.
    let waiting = tokio::spawn({
        let app = app.clone();
        async move { send(&app, "s", batch("e", 4096, 1)).await.0 }
    });
    tokio::task::yield_now().await;
    gate.open("s", 1);
    assert_eq!(waiting.await.unwrap(), StatusCode::NO_CONTENT);
    gate.open("s", 2);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(reads.recv().await.unwrap().chars().next().unwrap());
    }
    assert_eq!(got, ['a', 'b', 'e'], "refused sends delivered nothing");
}

#[tokio::test(start_paused = true)]
async fn concurrent_sends_to_one_session_take_turns_within_the_bound() {
    let (app, _gate, _reads) = gated(budget_config());
    open(&app, "s").await;
    let started = Instant::now();
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, "s", batch(&i.to_string(), 4096, 1)).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for send in sends {
        let (status, _) = send.await.unwrap();
        statuses.push(status.as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses[..2], [204, 204], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 503), "{statuses:?}");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1),
        "one bound for all"
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_larger_than_the_budget_gets_into_an_empty_queue() {
    let (app, gate, mut reads) = gated(budget_config());
    open(&app, "s").await;
    assert_eq!(
        send(&app, "s", batch("a", 30_000, 1)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "s", batch("b", 10, 1)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    gate.open("s", 1);
    assert!(reads.recv().await.unwrap().starts_with('a'));
    assert_eq!(
        send(&app, "s", batch("b", 10, 1)).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(start_paused = true)]
async fn under_the_close_policy_a_send_without_room_closes_the_session_with_1013() {
    let (app, _gate, _reads) = gated(budget_config().queue_full(QueueFullPolicy::Close));
    open(&app, "s").await;
    assert_eq!(
        send(&app, "s", batch("a", 8000, 1)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "s", batch("b", 8000, 1)).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let poll = call(&app, req("POST", "/g/0/s/xhr", "")).await;
    assert_eq!(text(poll).await, "c[1013,\"Incoming queue full\"]\n");
    assert_eq!(
        send(&app, "s", batch("c", 10, 1)).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(start_paused = true)]
async fn the_service_budget_bounds_all_sessions_together() {
    let config = Config::default()
        .service_inbound_budget(10 * 1024)
        .inbound_timeout(Duration::from_secs(10))
        .disconnect_delay(Duration::from_secs(60));
    let (app, gate, mut reads) = gated(config);
    open(&app, "a").await;
    open(&app, "b").await;
    assert_eq!(
        send(&app, "a", batch("a", 8000, 1)).await.0,
        StatusCode::NO_CONTENT
    );
    // Session b is empty, but the service is not: b waits...
    let waiting = tokio::spawn({
        let app = app.clone();
        async move { send(&app, "b", batch("b", 4000, 1)).await.0 }
    });
    // A negative property, so a wait (virtual time: the runtime is
    // paused): b is still waiting 9 s on, 1 s short of inbound_timeout.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(!waiting.is_finished());
    // ...until a's handler reads: room in the pool wakes another session.
    gate.open("a", 1);
    assert!(reads.recv().await.unwrap().starts_with('a'));
    let started = Instant::now();
    assert_eq!(waiting.await.unwrap(), StatusCode::NO_CONTENT);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_closed_session_is_gone_for_senders_before_it_is_reaped() {
    let (app, _events) = app(Config::default().disconnect_delay(Duration::from_secs(60)));
    let poll = || req("POST", "/close/0/c/xhr", "");
    assert_eq!(text(call(&app, poll()).await).await, "o\n");
    assert_eq!(
        text(call(&app, poll()).await).await,
        "c[3000,\"Go away!\"]\n"
    );
    for (path, body) in [
        ("/close/0/c/xhr_send", "[\"x\"]"),
        ("/close/0/c/jsonp_send", "d=%5B%22x%22%5D"),
        ("/close/0/c/xhr_send", "[]"),
    ] {
        let mut request = req("POST", path, body);
        request.headers_mut().insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let response = call(&app, request).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path} {body}");
        assert_eq!(text(response).await, "Session not found.");
    }
    // As for an unknown session, a bad body is refused for what it is first.
    let response = call(&app, req("POST", "/close/0/c/xhr_send", "[")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text(response).await, "Broken JSON encoding.");
    // Still the close frame for receivers: the session is not reaped yet.
    assert_eq!(
        text(call(&app, poll()).await).await,
        "c[3000,\"Go away!\"]\n"
    );
}

#[tokio::test]
async fn session_and_server_ids_longer_than_64_bytes_are_not_found() {
    let (app, _events) = app(fast_config());
    let ok = "a".repeat(64);
    let long = "a".repeat(65);
    let response = call(&app, req("POST", &format!("/echo/0/{ok}/xhr"), "")).await;
    assert_eq!(text(response).await, "o\n");
    for path in [
        format!("/echo/0/{long}/xhr"),
        format!("/echo/0/{long}/xhr_send"),
        format!("/echo/0/{long}/xhr_streaming"),
        format!("/echo/0/{long}/eventsource"),
        format!("/echo/0/{long}/jsonp?c=x"),
        format!("/echo/0/{long}/websocket"),
        format!("/echo/{long}/s/xhr"),
        format!("/echo/0/{}/xhr", "x".repeat(60_000)),
    ] {
        let method = if path.contains("xhr") { "POST" } else { "GET" };
        let response = call(&app, req(method, &path, "[\"x\"]")).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{method} {path:.80}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_outbound_budget_counts_bytes_and_takes_a_large_message_alone() {
    let (results, mut result) = mpsc::unbounded_channel();
    let service = SockJsRouter::new(move |session: Session| {
        let results = results.clone();
        async move {
            let (tx, _rx) = session.split();
            let chunk = "x".repeat(4000);
            let mut outcome = Vec::new();
            for _ in 0..3 {
                outcome.push(match tx.try_send(chunk.clone()) {
                    Ok(()) => "ok",
                    Err(TrySendError::Full(_)) => "full",
                    Err(TrySendError::Closed(_)) => "closed",
                });
            }
            let _ = results.send(outcome);
            // Larger than the whole budget: waits for an empty queue, then goes.
            let _ = results.send(vec![match tx.send("y".repeat(50_000)).await {
                Ok(()) => "sent",
                Err(_) => "closed",
            }]);
            std::future::pending::<()>().await;
        }
    })
    .config(Config::default().outbound_budget(10 * 1024));
    let app = Router::new().nest_service("/o", service.into_router());
    let poll = || req("POST", "/o/0/s/xhr", "");
    assert_eq!(text(call(&app, poll()).await).await, "o\n");
    assert_eq!(result.recv().await.unwrap(), ["ok", "ok", "full"]);
    let frame = text(call(&app, poll()).await).await;
    assert_eq!(frame.len(), "a[,]\n".len() + 2 * (4000 + 2));
    assert_eq!(result.recv().await.unwrap(), ["sent"]);
    let frame = text(call(&app, poll()).await).await;
    assert_eq!(frame.len(), "a[]\n".len() + 50_000 + 2);
}

#[tokio::test(start_paused = true)]
async fn over_its_outbound_budget_a_close_policy_session_is_closed_with_1013() {
    let service = SockJsRouter::new(|session: Session| async move {
        let (tx, _rx) = session.split();
        while tx.try_send("x".repeat(3000)).is_ok() {}
        std::future::pending::<()>().await;
    })
    .config(
        Config::default()
            .outbound_budget(10 * 1024)
            .queue_full(QueueFullPolicy::Close),
    );
    let app = Router::new().nest_service("/o", service.into_router());
    let poll = || req("POST", "/o/0/s/xhr", "");
    assert_eq!(text(call(&app, poll()).await).await, "o\n");
    let frame = text(call(&app, poll()).await).await;
    assert_eq!(frame.matches("xxx\"").count(), 3, "what fit is delivered");
    assert_eq!(
        text(call(&app, poll()).await).await,
        "c[1013,\"Outgoing queue full\"]\n"
    );
}

/// Over real sockets, many times: a send waiting for room is answered
/// within the bound whatever happens meanwhile — the handler reads (204),
/// nothing happens (503), or the handler closes the session (204 if the
/// send got in first, else 404).
#[tokio::test]
async fn a_waiting_send_is_always_answered_within_the_bound() {
    const CYCLES: usize = 300;
    let wait = Duration::from_millis(50);
    let config = Config::default()
        .inbound_budget(200)
        .inbound_timeout(wait)
        .disconnect_delay(Duration::from_secs(30));
    let (app, gate, mut reads) = gated(config);
    let addr = serve(app).await;
    let target = Target::resolve(&format!("http://{addr}"), Duration::from_secs(5))
        .await
        .unwrap();
    let post = |path: String, body: String| {
        let target = target.clone();
        async move {
            let response = target
                .send(Request::new("POST", path).body(body))
                .await
                .unwrap();
            (response.status(), response.text())
        }
    };
    let mut seen = [0usize; 3];
    for cycle in 0..CYCLES {
        let id = format!("cycle{cycle}");
        let s = format!("/g/0/{id}");
        assert_eq!(post(format!("{s}/xhr"), String::new()).await.1, "o\n");
        let first = if cycle % 3 == 2 { "close" } else { "first" };
        let (status, _) = post(format!("{s}/xhr_send"), batch(first, 150, 1)).await;
        assert_eq!(status, 204, "cycle {cycle}");
        let started = std::time::Instant::now();
        let waiting = tokio::spawn(post(format!("{s}/xhr_send"), batch("second", 150, 1)));
        if cycle % 3 != 1 {
            gate.open(&id, 1);
            let read = tokio::time::timeout(Duration::from_secs(5), reads.recv()).await;
            assert!(read.unwrap().unwrap().starts_with(first));
        }
        let (status, body) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap_or_else(|_| panic!("cycle {cycle}: no answer"))
            .unwrap();
        assert!(
            started.elapsed() < wait + Duration::from_secs(2),
            "cycle {cycle}"
        );
        match (cycle % 3, status) {
            (1, 503) => assert_eq!(body, "Incoming queue full."),
            (0 | 2, 204) | (2, 404) => {}
            other => panic!("cycle {cycle}: {other:?} {body}"),
        }
        seen[match status {
            204 => 0,
            503 => 1,
            _ => 2,
        }] += 1;
        // Drain what is left for the next cycle's handler.
        if status == 204 && cycle % 3 == 0 {
            gate.open(&id, 1);
            let read = tokio::time::timeout(Duration::from_secs(5), reads.recv()).await;
            assert!(read.unwrap().unwrap().starts_with("second"));
        }
    }
    eprintln!(
        "answers over {CYCLES} cycles: 204 x{}, 503 x{}, 404 x{}",
        seen[0], seen[1], seen[2]
    );
}

/// The `/ticker` attack of issue 15, as a reproducible driver (ignored:
/// it runs the test server binary and takes ~10 s): 150 xhr_sends of 1 MB
/// to one `/ticker` session (a handler that never reads) while a receiver
/// streams, first one after the other until one is refused, then the rest
/// at once. It prints the server's RSS before, its peak (`VmHWM`) and
/// after, and how the sends were answered; with the server's defaults it
/// asserts that every send is answered within the bound and the peak stays
/// within the budgets.
///
/// ```text
/// cargo build -p sockjs-test-server
/// cargo test -p sockjs-axum --test server -- --ignored --nocapture budgets::ticker_attack
/// # the old behaviour (no byte budgets) for comparison:
/// SOCKJS_ATTACK_BREAK=unbounded-inbound cargo test ... (same)
/// ```
///
/// `SOCKJS_TEST_SERVER` names another server binary.
#[tokio::test]
#[ignore]
async fn ticker_attack() {
    const SENDS: usize = 150;
    const MESSAGE: usize = 1_000_000;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = std::env::var("SOCKJS_TEST_SERVER").map_or_else(
        |_| root.join("target/debug/sockjs-test-server"),
        std::path::PathBuf::from,
    );
    let mutation = std::env::var("SOCKJS_ATTACK_BREAK").ok();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(["--port", &port.to_string()]);
    if let Some(m) = &mutation {
        cmd.args(["--break", m]);
    }
    let mut server = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let pid = server.id();
    let target = Target::resolve(&format!("http://127.0.0.1:{port}"), Duration::from_secs(15))
        .await
        .unwrap();
    let ready = Instant::now() + Duration::from_secs(30);
    while target
        .send(Request::new("GET", "/echo/info"))
        .await
        .is_err()
    {
        assert!(Instant::now() < ready, "the server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = |field: &str| -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = text.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            / 1024
    };
    let before = status("VmRSS:");

    let s = "/ticker/000/attack";
    let _receiver = target
        .open(Request::new("POST", format!("{s}/xhr_streaming")))
        .await
        .unwrap();
    let body = format!("[\"{}\"]", "x".repeat(MESSAGE));
    let started = Instant::now();
    let send = |body: String| {
        let target = target.clone();
        async move {
            let sent = Instant::now();
            let answer = target
                .send(Request::new("POST", format!("{s}/xhr_send")).body(body))
                .await;
            (answer.map(|r| r.status()).unwrap_or(0), sent.elapsed())
        }
    };
    let mut answers = Vec::new();
    while answers.len() < SENDS {
        let answer = send(body.clone()).await;
        answers.push(answer);
        if answer.0 != 204 {
            break;
        }
    }
    let taken = answers.iter().filter(|(s, _)| *s == 204).count();
    let rest: Vec<_> = (answers.len()..SENDS)
        .map(|_| tokio::spawn(send(body.clone())))
        .collect();
    for handle in rest {
        answers.push(handle.await.unwrap());
    }
    let elapsed = started.elapsed();
    let peak = status("VmHWM:");
    let after = status("VmRSS:");
    let _ = server.kill();
    let _ = server.wait();

    let count = |code: u16| answers.iter().filter(|(s, _)| *s == code).count();
    let slowest = answers.iter().map(|(_, t)| *t).max().unwrap_or_default();
    eprintln!(
        "ticker attack ({}): {SENDS} x 1 MB sends in {:.1} s: {taken} taken one after the other, \
         then 204 x{}, 503 x{}, unanswered x{}; slowest answer {:.1} s; \
         server RSS {before} MiB before, peak {peak} MiB, {after} MiB after",
        mutation.as_deref().unwrap_or("defaults"),
        elapsed.as_secs_f64(),
        count(204),
        count(503),
        count(0),
        slowest.as_secs_f64(),
    );
    if mutation.is_none() {
        assert_eq!(count(0), 0, "every send is answered");
        assert_eq!(count(204) + count(503), SENDS);
        assert!(slowest < Duration::from_secs(10), "{slowest:?}");
        // 4 MiB of budget, one body in reading and its parse, the rest slack.
        assert!(peak - before < 32, "peak {peak} MiB from {before} MiB");
    }
}
