//! Metrics through a recording recorder (the session span is checked in
//! `tracing.rs`, alone in its test binary: tracing's callsite interest is
//! global to a process).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixture::*;
use axum::Router;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use sockjs::metrics as names;

/// Whether `key` is metric `name` with every one of `labels`.
fn matches(key: &metrics_util::CompositeKey, name: &str, labels: &[(&str, &str)]) -> bool {
    key.key().name() == name
        && labels
            .iter()
            .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
}

/// A counter's or gauge's value.
fn number(key: &metrics_util::CompositeKey, value: &DebugValue) -> f64 {
    match (key.kind(), value) {
        (MetricKind::Counter, DebugValue::Counter(n)) => *n as f64,
        (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
        (_, other) => panic!("{}: {other:?}", key.key().name()),
    }
}

/// Every metric's value since the recorder was installed, readable while
/// the test runs. A snapshot resets what it reads (counters and gauges
/// alike, to 0), so the ledger adds the snapshots up; that is exact for the
/// library's metrics, whose gauge only moves by increments and decrements.
#[derive(Clone)]
struct Ledger {
    snapshotter: Arc<Snapshotter>,
    totals: Arc<Mutex<Vec<(metrics_util::CompositeKey, f64)>>>,
}

impl Ledger {
    fn new(snapshotter: Snapshotter) -> Self {
        Self {
            snapshotter: Arc::new(snapshotter),
            totals: Arc::default(),
        }
    }

    /// The value of metric `name` whose labels include every one of
    /// `labels`, as of now.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut totals = self.totals.lock().unwrap();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let n = number(&key, &value);
            match totals.iter_mut().find(|(k, _)| *k == key) {
                Some((_, total)) => *total += n,
                None => totals.push((key, n)),
            }
        }
        totals
            .iter()
            .find(|(key, _)| matches(key, name, labels))
            .map(|(_, total)| *total)
    }
}

/// Runs `test` on a current-thread runtime with a recorder installed for
/// this thread only, so that tests running at once do not mix their counts;
/// the test reads the metrics through the ledger it is given.
fn with_recorder<F: std::future::Future<Output = ()>>(test: impl FnOnce(Ledger) -> F) -> Ledger {
    let recorder = DebuggingRecorder::new();
    let ledger = Ledger::new(recorder.snapshotter());
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(false)
            .build()
            .unwrap()
            .block_on(test(ledger.clone()))
    });
    ledger
}

#[test]
fn http_sessions_are_counted_from_open_to_timeout() {
    let ledger = with_recorder(|ledger| async move {
        let (app, _events) = app(fast_config().metrics_service("test"));
        let xhr = |s: &str| req("POST", &format!("/echo/000/{s}/xhr"), "");
        assert_eq!(text(call(&app, xhr("m")).await).await, "o\n");
        let send = req("POST", "/echo/000/m/xhr_send", r#"["ab","cde"]"#);
        assert_eq!(call(&app, send).await.status(), 204);
        // An empty batch is no message.
        let none = req("POST", "/echo/000/m/xhr_send", "[]");
        assert_eq!(call(&app, none).await.status(), 204);
        assert_eq!(
            text(call(&app, xhr("m")).await).await,
            "a[\"ab\",\"cde\"]\n"
        );
        // A second receiver while one waits: 2010.
        let (first, poll) = (app.clone(), xhr("m"));
        let waiting = tokio::spawn(async move { text(call(&first, poll).await).await });
        for _ in 0..10 {
            // Lets the first poll attach (one thread: it runs now).
            tokio::task::yield_now().await;
        }
        assert!(text(call(&app, xhr("m")).await).await.starts_with("c[2010"));
        assert_eq!(waiting.await.unwrap(), "h\n");
        // Refusals.
        let unknown = req("POST", "/echo/000/nope/xhr_send", "[\"x\"]");
        assert_eq!(call(&app, unknown).await.status(), 404);
        // A streaming response across response_limit (4096), and a
        // heartbeat (fast_config: 200 ms).
        let mut body = call(&app, req("POST", "/echo/000/st/xhr_streaming", ""))
            .await
            .into_body();
        next_chunk(&mut body).await; // prelude
        next_chunk(&mut body).await; // o
        assert_eq!(next_chunk(&mut body).await, "h\n");
        let big = format!("[\"{}\"]", "x".repeat(5000));
        call(&app, req("POST", "/echo/000/st/xhr_send", big)).await;
        next_chunk(&mut body).await;
        drop(body);
        // Sessions without a receiver time out (disconnect_delay 150 ms).
        let closed = |transport| {
            ledger.value(
                names::SESSIONS_CLOSED,
                &[("transport", transport), ("reason", "timed_out")],
            )
        };
        eventually(Duration::from_secs(3), "both sessions timed out", || {
            closed("xhr-polling").is_some() && closed("xhr-streaming").is_some()
        })
        .await;
    });
    let m = |name: &str, labels: &[(&str, &str)]| ledger.value(name, labels);
    let xhr = [("service", "test"), ("transport", "xhr-polling")];
    assert_eq!(m(names::SESSIONS_OPENED, &xhr), Some(1.0));
    assert_eq!(m(names::MESSAGES_RECEIVED, &xhr), Some(2.0));
    assert_eq!(m(names::BYTES_RECEIVED, &xhr), Some(5.0));
    assert_eq!(m(names::MESSAGES_SENT, &xhr), Some(2.0));
    assert!(m(names::BYTES_SENT, &xhr).unwrap() >= 18.0);
    assert_eq!(m(names::ANOTHER_CONNECTION, &xhr), Some(1.0));
    let streaming = [("transport", "xhr-streaming")];
    assert_eq!(m(names::RESPONSE_LIMIT_RECYCLES, &streaming), Some(1.0));
    assert!(m(names::HEARTBEATS, &streaming).unwrap() >= 1.0);
    assert_eq!(
        m(
            names::REJECTED_REQUESTS,
            &[("status", "404"), ("reason", "session_not_found")]
        ),
        Some(1.0)
    );
    // Both sessions are gone: no receiving request came back for them
    // within disconnect_delay (the streaming response had ended at
    // response_limit).
    assert_eq!(m(names::SESSIONS_OPEN, &xhr), Some(0.0));
    assert_eq!(m(names::SESSIONS_OPEN, &streaming), Some(0.0));
    let closed = |transport, reason| {
        m(
            names::SESSIONS_CLOSED,
            &[("transport", transport), ("reason", reason)],
        )
    };
    assert_eq!(closed("xhr-polling", "timed_out"), Some(1.0));
    assert_eq!(closed("xhr-streaming", "timed_out"), Some(1.0));
}

#[test]
fn websocket_sessions_and_hook_refusals_are_counted() {
    use axum::http::StatusCode;
    use sockjs_conformance::client::{Target, WireFrame};
    let ledger = with_recorder(|ledger| async move {
        let echo = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
            let (tx, mut rx) = session.split();
            while let Some(m) = rx.recv().await {
                let _ = tx.send(m).await;
            }
        })
        .into_router();
        let guarded = sockjs::SockJsRouter::new(|_session: sockjs::Session| async {})
            .handshake(|headers: http::HeaderMap| async move {
                if headers.contains_key("x-ok") {
                    Ok(())
                } else {
                    Err(StatusCode::FORBIDDEN)
                }
            })
            .into_router();
        let app = Router::new()
            .nest_service("/echo", echo)
            .nest_service("/guarded", guarded);
        assert_eq!(
            call(&app, req("POST", "/guarded/0/g/xhr", ""))
                .await
                .status(),
            403
        );
        let addr = serve(app).await;
        let target = Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(5),
        };
        let mut ws = target.wire_ws("/echo/0/w/websocket").await.unwrap();
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
        ws.send_text("[\"hello\"]").await.unwrap();
        assert_eq!(
            ws.next().await.unwrap(),
            Some(WireFrame::Text("a[\"hello\"]".into()))
        );
        ws.send_close(Some(1000)).await.unwrap();
        assert!(ws.until_closed(false).await.unwrap().server_ended);
        // The client lets go of its socket, as a browser does; the session
        // ends (without it, the server reads on until the client's end of
        // the connection, or its close_timeout, 3 s: the old fixed 1 s wait
        // passed only because dropping the runtime ended the session).
        drop(ws);
        eventually(Duration::from_secs(2), "the session counted closed", || {
            ledger
                .value(names::SESSIONS_CLOSED, &[("transport", "websocket")])
                .is_some()
        })
        .await;
    });
    let m = |name: &str, labels: &[(&str, &str)]| ledger.value(name, labels);
    let ws = [("transport", "websocket")];
    assert_eq!(m(names::SESSIONS_OPENED, &ws), Some(1.0));
    assert_eq!(m(names::MESSAGES_RECEIVED, &ws), Some(1.0));
    assert_eq!(m(names::MESSAGES_SENT, &ws), Some(1.0));
    assert_eq!(m(names::BYTES_SENT, &ws), Some("a[\"hello\"]".len() as f64));
    assert_eq!(m(names::SESSIONS_OPEN, &ws), Some(0.0));
    assert_eq!(
        m(
            names::SESSIONS_CLOSED,
            &[("transport", "websocket"), ("reason", "client_closed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m(
            names::REJECTED_REQUESTS,
            &[("status", "403"), ("reason", "handshake")]
        ),
        Some(1.0)
    );
}

/// A WebSocket that stops answering keepalive pings is counted as
/// `timed_out`.
#[test]
fn a_websocket_keepalive_timeout_is_counted_as_timed_out() {
    use sockjs_conformance::client::{Target, WireFrame, WireWs};
    let ledger = with_recorder(|ledger| async move {
        let config = fast_config()
            .metrics_service("keepalive")
            .websocket_ping(Duration::from_millis(100), Duration::from_millis(100));
        let (app, _events) = app(config);
        let addr = serve(app).await;
        let target = Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(3),
        };
        let mut ws = WireWs::connect(&target, "/echo/websocket").await.unwrap();
        loop {
            match ws.next().await.unwrap() {
                Some(WireFrame::Ping) => {}
                Some(WireFrame::Close(close)) => {
                    assert_eq!(close.map(|(code, _)| code), Some(1001));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        ws.until_end(Duration::from_secs(2)).await.unwrap();
        drop(ws);
        // The session is counted once the server let go of the socket.
        eventually(Duration::from_secs(3), "counted", || {
            ledger
                .value(names::SESSIONS_CLOSED, &[("service", "keepalive")])
                .is_some()
        })
        .await;
    });
    assert_eq!(
        ledger.value(
            names::SESSIONS_CLOSED,
            &[
                ("service", "keepalive"),
                ("transport", "websocket-raw"),
                ("reason", "timed_out"),
            ],
        ),
        Some(1.0)
    );
}
