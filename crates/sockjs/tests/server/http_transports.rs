//! Every HTTP transport, in-process: bytes, headers and the session life.

use crate::fixture::*;
use http::header;
use sockjs::{CloseReason, Transport};

#[tokio::test]
async fn xhr_polling_round_trip_and_batching() {
    let (app, mut events) = app(fast_config());
    let r = call(&app, req("POST", "/echo/000/s1/xhr", "")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/javascript; charset=UTF-8"
    );
    assert_eq!(
        r.headers()[header::CACHE_CONTROL],
        "no-store, no-cache, no-transform, must-revalidate, max-age=0"
    );
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(text(r).await, "o\n");
    assert_eq!(
        next_event(&mut events).await,
        Event::Opened(Transport::XhrPolling)
    );

    let r = call(
        &app,
        req("POST", "/echo/999/s1/xhr_send", r#"["a","b\u2028"]"#),
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/plain; charset=UTF-8"
    );
    assert_eq!(text(r).await, "");
    assert_eq!(next_event(&mut events).await, Event::Message("a".into()));
    assert_eq!(
        next_event(&mut events).await,
        Event::Message("b\u{2028}".into())
    );
    // Both echoes were queued while no receiver was attached: one frame.
    let r = call(&app, req("POST", "/echo/000/s1/xhr", "")).await;
    assert_eq!(text(r).await, "a[\"a\",\"b\\u2028\"]\n");
}

#[tokio::test]
async fn idle_poll_gets_a_heartbeat() {
    let (app, _events) = app(fast_config());
    text(call(&app, req("POST", "/quiet/0/hb/xhr", "")).await).await;
    let started = std::time::Instant::now();
    let r = call(&app, req("POST", "/quiet/0/hb/xhr", "")).await;
    assert_eq!(text(r).await, "h\n");
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}

/// A streaming response sends `h` only after `heartbeat_delay` without a
/// frame: messages every 80 ms (delay 200 ms) keep it away; once they stop,
/// it comes 200 ms after the last one. Virtual time, so exact.
#[tokio::test(start_paused = true)]
async fn a_streaming_heartbeat_comes_only_after_a_quiet_delay() {
    let delay = std::time::Duration::from_millis(200);
    let (app, _events) = app(fast_config().heartbeat_delay(delay));
    let r = call(&app, req("POST", "/echo/0/hq/xhr_streaming", "")).await;
    let mut body = r.into_body();
    assert_eq!(
        next_chunk(&mut body).await,
        format!("{}\n", "h".repeat(2048))
    );
    assert_eq!(next_chunk(&mut body).await, "o\n");
    let mut last = tokio::time::Instant::now();
    for i in 0..8 {
        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        let sent = call(
            &app,
            req("POST", "/echo/0/hq/xhr_send", format!(r#"["m{i}"]"#)),
        );
        assert_eq!(sent.await.status(), 204);
        assert_eq!(
            next_chunk(&mut body).await,
            format!("a[\"m{i}\"]\n"),
            "message {i}"
        );
        last = tokio::time::Instant::now();
    }
    assert_eq!(next_chunk(&mut body).await, "h\n");
    assert_eq!(last.elapsed(), delay);
}

#[tokio::test]
async fn second_receiver_gets_2010_and_first_is_unaffected() {
    let (app, _events) = app(fast_config());
    let first = call(&app, req("POST", "/echo/0/busy/xhr_streaming", "")).await;
    let mut first_body = first.into_body();
    // Read the prelude and the open frame so the first receiver is attached.
    assert_eq!(
        next_chunk(&mut first_body).await,
        format!("{}\n", "h".repeat(2048))
    );
    assert_eq!(next_chunk(&mut first_body).await, "o\n");
    let second = call(&app, req("POST", "/echo/0/busy/xhr", "")).await;
    assert_eq!(
        text(second).await,
        "c[2010,\"Another connection still open\"]\n"
    );
    // The first still receives.
    let r = call(&app, req("POST", "/echo/0/busy/xhr_send", r#"["x"]"#)).await;
    assert_eq!(r.status(), 204);
    assert_eq!(next_chunk(&mut first_body).await, "a[\"x\"]\n");
}

#[tokio::test]
async fn close_frame_is_repeated_until_the_session_expires() {
    // The fixture's `/close`, with a handle that shows when the session
    // is forgotten.
    let service = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
        session.sender().close(3000, "Go away!");
    })
    .config(fast_config());
    let sessions = service.shutdown_handle();
    let app = axum::Router::new().nest_service("/close", service.into_router());
    assert_eq!(
        text(call(&app, req("POST", "/close/0/c/xhr", "")).await).await,
        "o\n"
    );
    for _ in 0..3 {
        let r = call(&app, req("POST", "/close/0/c/xhr", "")).await;
        assert_eq!(text(r).await, "c[3000,\"Go away!\"]\n");
    }
    assert_eq!(sessions.open_sessions(), 1, "closed, not yet forgotten");
    // No poll for disconnect_delay (150 ms): the session is forgotten.
    eventually(
        std::time::Duration::from_secs(3),
        "the closed session forgotten",
        || sessions.open_sessions() == 0,
    )
    .await;
    assert_eq!(
        text(call(&app, req("POST", "/close/0/c/xhr", "")).await).await,
        "o\n"
    );
}

#[tokio::test]
async fn a_session_without_receiver_times_out_once() {
    let (app, mut events) = app(fast_config());
    text(call(&app, req("POST", "/echo/0/t/xhr", "")).await).await;
    assert_eq!(
        next_event(&mut events).await,
        Event::Opened(Transport::XhrPolling)
    );
    assert_eq!(
        next_event(&mut events).await,
        Event::Closed(Some(CloseReason::TimedOut))
    );
    let r = call(&app, req("POST", "/echo/0/t/xhr_send", r#"["late"]"#)).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn application_close_reaches_the_receiver() {
    let (app, mut events) = app(fast_config());
    text(call(&app, req("POST", "/echo/0/ac/xhr", "")).await).await;
    call(&app, req("POST", "/echo/0/ac/xhr_send", r#"["close-me"]"#)).await;
    let r = call(&app, req("POST", "/echo/0/ac/xhr", "")).await;
    assert_eq!(text(r).await, "c[3001,\"as asked\"]\n");
    let _opened = next_event(&mut events).await;
    let _message = next_event(&mut events).await;
    assert_eq!(
        next_event(&mut events).await,
        Event::Closed(Some(CloseReason::ServerClosed {
            code: 3001,
            reason: "as asked".into()
        }))
    );
}

#[tokio::test]
async fn xhr_streaming_ends_at_the_response_limit_and_keeps_the_rest() {
    // `o\n` alone reaches the limit: the first response ends after it.
    let (app, _events) = app(fast_config().response_limit(2));
    let r = call(&app, req("POST", "/echo/0/rl/xhr_streaming", "")).await;
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/javascript; charset=UTF-8"
    );
    let got = chunks(r, 10).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], "o\n");
    call(
        &app,
        req("POST", "/echo/0/rl/xhr_send", r#"["0123456789"]"#),
    )
    .await;
    let r = call(&app, req("POST", "/echo/0/rl/xhr_streaming", "")).await;
    // Prelude, one frame over the limit, then the response ends.
    let got = chunks(r, 10).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], "a[\"0123456789\"]\n");
}

#[tokio::test]
async fn eventsource_framing_and_headers() {
    let (app, _events) = app(fast_config());
    let r = call(&app, req("GET", "/echo/0/es/eventsource", "")).await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body();
    assert_eq!(next_chunk(&mut body).await, "\r\n");
    assert_eq!(next_chunk(&mut body).await, "data: o\r\n\r\n");
    call(&app, req("POST", "/echo/0/es/xhr_send", r#"["%\r\n"]"#)).await;
    assert_eq!(
        next_chunk(&mut body).await,
        "data: a[\"%25\\r\\n\"]\r\n\r\n"
    );
}

#[tokio::test]
async fn htmlfile_and_jsonp_framing() {
    let (app, _events) = app(fast_config());
    let r = call(&app, req("GET", "/echo/0/hf/htmlfile?c=%63allback", "")).await;
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/html; charset=UTF-8"
    );
    let got = chunks(r, 2).await;
    assert!(got[0].contains("var c = parent.callback;"));
    assert!(got[0].len() > 1024);
    assert!(got[0].ends_with("\r\n\r\n"));
    assert_eq!(got[1], "<script>\np(\"o\");\n</script>\r\n");

    let r = call(&app, req("GET", "/echo/0/jp/jsonp?c=cb", "")).await;
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(text(r).await, "/**/cb(\"o\");\r\n");
    let mut send = req("POST", "/echo/0/jp/jsonp_send", "d=%5B%22x%5C%22%22%5D");
    send.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let r = call(&app, send).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], "2");
    assert_eq!(text(r).await, "ok");
    let r = call(&app, req("GET", "/echo/0/jp/jsonp?c=cb", "")).await;
    assert_eq!(text(r).await, "/**/cb(\"a[\\\"x\\\\\\\"\\\"]\");\r\n");
}

#[tokio::test]
async fn info_greeting_iframe() {
    let (app, _events) = app(fast_config().jsessionid(true));
    let r = call(&app, req("GET", "/echo", "")).await;
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "text/plain; charset=UTF-8"
    );
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(text(r).await, "Welcome to SockJS!\n");
    assert_eq!(call(&app, req("GET", "/echo/", "")).await.status(), 200);
    // HEAD as GET; any other method 405, naming both.
    assert_eq!(call(&app, req("HEAD", "/echo", "")).await.status(), 200);
    let r = call(&app, req("POST", "/echo", "")).await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
    for method in ["HEAD", "POST"] {
        let r = call(&app, req(method, "/echo/iframe.html", "")).await;
        let expected = if method == "HEAD" { 200 } else { 405 };
        assert_eq!(r.status(), expected, "{method} /iframe.html");
    }

    let r = call(&app, req("GET", "/echo/info", "")).await;
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/json; charset=UTF-8"
    );
    let info: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(info["websocket"], true);
    assert_eq!(info["cookie_needed"], true);
    assert_eq!(info["origins"], serde_json::json!(["*:*"]));
    assert!(info["entropy"].is_u64());

    let mut preflight = req("OPTIONS", "/echo/info", "");
    preflight
        .headers_mut()
        .insert(header::ORIGIN, "https://a.example".parse().unwrap());
    let r = call(&app, preflight).await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_METHODS],
        "OPTIONS, GET"
    );
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://a.example"
    );
    assert_eq!(r.headers()[header::ACCESS_CONTROL_MAX_AGE], "31536000");
    assert!(r.headers().contains_key(header::EXPIRES));

    let r = call(&app, req("GET", "/echo/iframe-1.2.3.html?t=1", "")).await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()[header::ETAG].clone();
    assert!(r.headers().get(header::LAST_MODIFIED).is_none());
    let body = text(r).await;
    assert!(body.contains(
        "<script src=\"https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js\"></script>"
    ));
    let mut again = req("GET", "/echo/iframe.html", "");
    again.headers_mut().insert(header::IF_NONE_MATCH, etag);
    let r = call(&app, again).await;
    assert_eq!(r.status(), 304);
    assert!(r.headers().get(header::CONTENT_TYPE).is_none());
    assert_eq!(text(r).await, "");
}

#[tokio::test]
async fn jsessionid_cookie_on_session_transports() {
    let (app, _events) = app(fast_config().jsessionid(true));
    let r = call(&app, req("POST", "/echo/0/js/xhr", "")).await;
    assert_eq!(r.headers()[header::SET_COOKIE], "JSESSIONID=dummy; path=/");
    let mut with_cookie = req("POST", "/echo/0/js/xhr_send", "[\"a\"]");
    with_cookie
        .headers_mut()
        .insert(header::COOKIE, "JSESSIONID=abc".parse().unwrap());
    let r = call(&app, with_cookie).await;
    assert_eq!(r.headers()[header::SET_COOKIE], "JSESSIONID=abc; path=/");
    let r = call(&app, req("GET", "/echo/info", "")).await;
    assert!(r.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn cors_off_leaves_cors_to_the_app_and_hides_the_iframe() {
    let (app, _events) = app(fast_config().cors(false));
    let mut r = req("POST", "/echo/0/nc/xhr", "");
    r.headers_mut()
        .insert(header::ORIGIN, "https://a.example".parse().unwrap());
    let r = call(&app, r).await;
    assert!(r
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
    assert_eq!(
        call(&app, req("GET", "/echo/iframe.html", ""))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn disabled_transports_are_404() {
    let config = fast_config()
        .disable(Transport::WebSocket)
        .disable(Transport::RawWebSocket)
        .disable(Transport::JsonpPolling);
    let (app, _events) = app(config);
    for (method, uri) in [
        ("GET", "/echo/websocket"),
        ("GET", "/echo/0/0/websocket"),
        ("GET", "/echo/0/0/jsonp?c=x"),
        ("POST", "/echo/0/0/jsonp_send"),
    ] {
        assert_eq!(
            call(&app, req(method, uri, "")).await.status(),
            404,
            "{method} {uri}"
        );
    }
    let r = call(&app, req("GET", "/echo/info", "")).await;
    assert!(text(r).await.contains("\"websocket\":false"));
}

/// `xhr_send` is there for a service with either xhr transport, and
/// only then.
#[tokio::test]
async fn xhr_send_is_served_with_either_xhr_transport() {
    let (streaming, _events) = app(fast_config().disable(Transport::XhrPolling));
    let r = call(&streaming, req("POST", "/echo/0/st/xhr_streaming", "")).await;
    assert_eq!(r.status(), 200);
    let sent = call(&streaming, req("POST", "/echo/0/st/xhr_send", r#"["x"]"#)).await;
    assert_eq!(sent.status(), 204, "xhr-streaming alone");

    let (polling, _events) = app(fast_config().disable(Transport::XhrStreaming));
    let r = call(&polling, req("POST", "/echo/0/po/xhr", "")).await;
    assert_eq!(text(r).await, "o\n");
    let sent = call(&polling, req("POST", "/echo/0/po/xhr_send", r#"["x"]"#)).await;
    assert_eq!(sent.status(), 204, "xhr-polling alone");

    let (neither, _events) = app(fast_config()
        .disable(Transport::XhrPolling)
        .disable(Transport::XhrStreaming));
    let sent = call(&neither, req("POST", "/echo/0/po/xhr_send", r#"["x"]"#)).await;
    assert_eq!(sent.status(), 404, "neither");
}

/// What a handler does before its first `.await` (join a room, say) is
/// done before the client sees `o`, as with sockjs-node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_starts_before_the_client_sees_open() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let joined = Arc::new(AtomicUsize::new(0));
    let seen = joined.clone();
    let service: axum::Router = sockjs::router(move |_session: sockjs::Session| {
        let joined = joined.clone();
        async move {
            // Some work before registering, to widen any race.
            let mut x = 0u64;
            for i in 0..20_000 {
                x = x.wrapping_add(std::hint::black_box(i));
            }
            std::hint::black_box(x);
            joined.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
    });
    let app = axum::Router::new().nest_service("/room", service);
    for i in 0..50 {
        let r = call(&app, req("POST", &format!("/room/0/s{i}/xhr"), "")).await;
        assert_eq!(text(r).await, "o\n");
        assert_eq!(seen.load(Ordering::SeqCst), i + 1, "session {i}");
    }
}

#[tokio::test]
async fn a_poll_waits_for_the_handler_to_answer_what_was_sent() {
    // A handler that answers each message twice, the second time 30 ms
    // later (a database write, say). A poll right after the send finds
    // the first answer queued; it waits for the handler to come back for
    // more (up to 50 ms), so both answers travel in one response.
    let slow = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
        let (tx, mut rx) = session.split();
        while let Some(message) = rx.recv().await {
            let _ = tx.send(format!("{message}-1")).await;
            // The handler's slow work, on purpose: not a synchronisation.
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            let _ = tx.send(format!("{message}-2")).await;
        }
    })
    .config(fast_config())
    .into_router::<()>();
    let app = axum::Router::new().nest_service("/slow", slow);
    for cycle in 0..5 {
        let id = format!("/slow/0/catch-up-{cycle}");
        assert_eq!(
            text(call(&app, req("POST", &format!("{id}/xhr"), "")).await).await,
            "o\n"
        );
        let r = call(&app, req("POST", &format!("{id}/xhr_send"), r#"["m"]"#)).await;
        assert_eq!(r.status(), 204);
        let r = call(&app, req("POST", &format!("{id}/xhr"), "")).await;
        assert_eq!(text(r).await, "a[\"m-1\",\"m-2\"]\n", "cycle {cycle}");
    }
}

#[tokio::test]
async fn a_receiver_that_replaces_an_aborted_one_is_not_refused() {
    // The client aborts its streaming request and at once opens the next
    // one; the server notices the abort a little later (here 40 ms). The
    // new request waits for the old one to let go and gets the session's
    // interruption, not `c[2010,..]`.
    let (app, _events) = app(fast_config());
    let first = call(&app, req("POST", "/echo/0/abort/xhr_streaming", "")).await;
    let mut first_body = first.into_body();
    assert_eq!(
        next_chunk(&mut first_body).await,
        format!("{}\n", "h".repeat(2048))
    );
    assert_eq!(next_chunk(&mut first_body).await, "o\n");
    let abort = tokio::spawn(async move {
        // The late abort is the behaviour under test: not a synchronisation.
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        drop(first_body);
    });
    let second = call(&app, req("POST", "/echo/0/abort/xhr", "")).await;
    assert_eq!(text(second).await, "c[1002,\"Connection interrupted\"]\n");
    abort.await.unwrap();
}

/// The handles say what they are in `Debug` (for logs): the session its
/// transport and path, the sender whether it is open, the receiver why it
/// ended.
#[tokio::test]
async fn handles_print_what_they_are() {
    let service = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
        let printed = format!("{session:?}");
        let (tx, rx) = session.split();
        let _ = tx.send(format!("{printed} | {tx:?} | {rx:?}")).await;
    })
    .config(fast_config());
    let app = axum::Router::new().nest_service("/dbg", service.into_router());
    text(call(&app, req("POST", "/dbg/0/d/xhr", "")).await).await;
    let printed = text(call(&app, req("POST", "/dbg/0/d/xhr", "")).await).await;
    for part in [
        "Session {",
        "transport: XhrPolling",
        "/dbg/0/d/xhr",
        "Sender { open: true }",
        "Receiver { close_reason: None }",
    ] {
        assert!(printed.contains(part), "{part:?} in {printed}");
    }
}

/// A handler that lets go of both halves while it runs on (handing its
/// work to nobody) closes its session with 1000 at that moment: the client
/// does not wait for the handler's end, which may never come.
#[tokio::test]
async fn dropping_both_halves_closes_the_session_with_1000() {
    let service = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
        let (tx, rx) = session.split();
        let _ = tx.send("bye".to_owned()).await;
        drop((tx, rx));
        std::future::pending::<()>().await;
    })
    .config(fast_config());
    let app = axum::Router::new().nest_service("/drop", service.into_router());
    assert_eq!(
        text(call(&app, req("POST", "/drop/0/d/xhr", "")).await).await,
        "o\n"
    );
    let poll = || async {
        let polled = async { text(call(&app, req("POST", "/drop/0/d/xhr", "")).await).await };
        within(std::time::Duration::from_secs(5), polled).await
    };
    assert_eq!(poll().await, "a[\"bye\"]\n");
    assert_eq!(poll().await, "c[1000,\"Normal closure\"]\n");
}
