//! Metrics through a recording recorder (the session span is checked in
//! `tracing.rs`, alone in its test binary: tracing's callsite interest is
//! global to a process).

use std::time::Duration;

use crate::fixture::*;
use axum::Router;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use sockjs::metrics as names;

type Metrics = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// The value of metric `name` whose labels include every one of `labels`.
/// (A snapshot resets what it reads: take one, query it many times.)
fn value(snapshot: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    snapshot
        .iter()
        .find(|(key, ..)| {
            key.key().name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(key, _, _, value)| match (key.kind(), value) {
            (MetricKind::Counter, DebugValue::Counter(n)) => *n as f64,
            (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
            (_, other) => panic!("{name}: {other:?}"),
        })
}

/// Runs `test` on a current-thread runtime with `recorder` installed for
/// this thread only, so that tests running at once do not mix their counts.
fn with_recorder(test: impl std::future::Future<Output = ()>) -> Metrics {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(false)
            .build()
            .unwrap()
            .block_on(test)
    });
    snapshotter.snapshot().into_vec()
}

#[test]
fn http_sessions_are_counted_from_open_to_timeout() {
    let snapshot = with_recorder(async {
        let (app, _events) = app(fast_config().metrics_service("test"));
        let xhr = |s: &str| req("POST", &format!("/echo/000/{s}/xhr"), "");
        assert_eq!(text(call(&app, xhr("m")).await).await, "o\n");
        let send = req("POST", "/echo/000/m/xhr_send", r#"["ab","cde"]"#);
        assert_eq!(call(&app, send).await.status(), 204);
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
        // Sessions without a receiver time out (150 ms).
        tokio::time::sleep(Duration::from_millis(600)).await;
    });
    let m = |name: &str, labels: &[(&str, &str)]| value(&snapshot, name, labels);
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
    let snapshot = with_recorder(async {
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
        ws.until_closed(false).await.unwrap();
        // The session ends after the closing handshake; poll for it.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let m = |name: &str, labels: &[(&str, &str)]| value(&snapshot, name, labels);
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
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
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
                // The session is counted once the server let go of the
                // socket: poll for it (a snapshot resets what it reads).
                let deadline = std::time::Instant::now() + Duration::from_secs(3);
                let mut timed_out = 0.0;
                while timed_out < 1.0 {
                    assert!(std::time::Instant::now() < deadline, "not counted");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    let snapshot = snapshotter.snapshot().into_vec();
                    timed_out += value(
                        &snapshot,
                        names::SESSIONS_CLOSED,
                        &[
                            ("service", "keepalive"),
                            ("transport", "websocket-raw"),
                            ("reason", "timed_out"),
                        ],
                    )
                    .unwrap_or(0.0);
                }
                assert_eq!(timed_out, 1.0);
            });
    });
}
