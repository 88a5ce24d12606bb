//! Malformed input gets the documented answer, reaches no application and
//! leaves other sessions alone.

use crate::fixture::*;
use http::header;

async fn open_with_pending(app: &axum::Router, id: &str) {
    let r = call(app, req("POST", &format!("/echo/0/{id}/xhr"), "")).await;
    assert_eq!(text(r).await, "o\n");
    let r = call(
        app,
        req("POST", &format!("/echo/0/{id}/xhr_send"), r#"["kept"]"#),
    )
    .await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn bad_send_bodies_are_refused_and_the_session_stays_usable() {
    let (app, mut events) = app(fast_config());
    open_with_pending(&app, "victim").await;
    open_with_pending(&app, "bad").await;
    let _ = (next_event(&mut events).await, next_event(&mut events).await);
    let _ = (next_event(&mut events).await, next_event(&mut events).await);
    let cases: &[(&[u8], &str)] = &[
        (b"", "Payload expected."),
        (b"   ", "Broken JSON encoding."),
        (b"[1,", "Broken JSON encoding."),
        (b"{\"a\":", "Broken JSON encoding."),
        (b"[\"a", "Broken JSON encoding."),
        (b"\xff\xfe\x00", "Broken JSON encoding."),
        (b"[\"\xff\"]", "Broken JSON encoding."),
        (b"{}", "Payload expected."),
        (b"\"a\"", "Payload expected."),
        (b"[1,2]", "Payload expected."),
        (b"[\"a\"]]", "Broken JSON encoding."),
    ];
    for (body, message) in cases {
        for (endpoint, content_type) in [("xhr_send", "text/plain"), ("jsonp_send", "text/plain")] {
            let mut r = req("POST", &format!("/echo/0/bad/{endpoint}"), body.to_vec());
            r.headers_mut()
                .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
            let r = call(&app, r).await;
            assert_eq!(r.status(), 500, "{endpoint} {body:?}");
            assert_eq!(
                r.headers()[header::CONTENT_TYPE],
                "text/plain; charset=UTF-8"
            );
            assert_eq!(text(r).await, *message, "{endpoint} {body:?}");
        }
    }
    for form in ["", "d=", "x=1", "d=%5B%22a"] {
        let mut r = req("POST", "/echo/0/bad/jsonp_send", form);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(call(&app, r).await.status(), 500, "{form}");
    }
    // Nothing of that reached an application; both sessions still work.
    assert!(events.try_recv().is_err());
    for id in ["bad", "victim"] {
        let r = call(&app, req("POST", &format!("/echo/0/{id}/xhr"), "")).await;
        assert_eq!(text(r).await, "a[\"kept\"]\n", "{id}");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let (app, _events) = app(fast_config().max_message_size(64));
    open_with_pending(&app, "big").await;
    let body = format!("[\"{}\"]", "x".repeat(100));
    let r = call(&app, req("POST", "/echo/0/big/xhr_send", body.clone())).await;
    assert_eq!(r.status(), 413);
    assert_eq!(text(r).await, "Payload too large.");
    // Without Content-Length (a stream), the limit still holds.
    let stream =
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from(body))]);
    let r = call(
        &app,
        req(
            "POST",
            "/echo/0/big/xhr_send",
            axum::body::Body::from_stream(stream),
        ),
    )
    .await;
    assert_eq!(r.status(), 413);
    let r = call(&app, req("POST", "/echo/0/big/xhr", "")).await;
    assert_eq!(text(r).await, "a[\"kept\"]\n");
    // Declared in Content-Length (refused before it is read): over the
    // limit by one byte, 413; at the limit exactly, taken.
    for (len, status) in [(65, 413), (64, 204)] {
        let body = format!("[\"{}\"]", "x".repeat(len - 4));
        let declared = http::Request::builder()
            .method("POST")
            .uri("/echo/0/big/xhr_send")
            .header(header::CONTENT_LENGTH, len)
            .body(axum::body::Body::from(body))
            .unwrap();
        assert_eq!(call(&app, declared).await.status(), status, "{len} bytes");
    }
}

#[tokio::test]
async fn sending_to_an_unknown_session_is_404() {
    let (app, _events) = app(fast_config());
    for endpoint in ["xhr_send", "jsonp_send"] {
        let r = call(
            &app,
            req("POST", &format!("/echo/0/nobody/{endpoint}"), "[\"x\"]"),
        )
        .await;
        assert_eq!(r.status(), 404, "{endpoint}");
    }
}

#[tokio::test]
async fn callbacks_are_required_and_checked() {
    let (app, _events) = app(fast_config());
    for transport in ["jsonp", "htmlfile"] {
        let r = call(&app, req("GET", &format!("/echo/0/cb/{transport}"), "")).await;
        assert_eq!(r.status(), 500);
        assert_eq!(text(r).await, "\"callback\" parameter required");
        for bad in ["%20", "a%3Bb", "%3Cscript%3E", "%FF", "a(1)"] {
            let r = call(
                &app,
                req("GET", &format!("/echo/0/cb/{transport}?c={bad}"), ""),
            )
            .await;
            assert_eq!(r.status(), 500, "{transport} {bad}");
            assert_eq!(text(r).await, "invalid \"callback\" parameter");
        }
    }
    let long = "a".repeat(33);
    let r = call(&app, req("GET", &format!("/echo/0/cb/jsonp?c={long}"), "")).await;
    assert_eq!(r.status(), 500);
}

#[tokio::test]
async fn unknown_and_malformed_paths_are_404() {
    let (app, _events) = app(fast_config());
    for path in [
        "/echo/a",
        "/echo/a.html",
        "/echo//",
        "/echo///",
        "/echo/a/a",
        "/echo/a/a/",
        "/echo/iframe.htm",
        "/echo/iframe",
        "/echo/IFRAME.HTML",
        "/echo/iframe.HTML",
        "/echo/iframe.xml",
        "/echo/iframe-/.html",
        "/echo/a./a/xhr",
        "/echo/a/a./xhr",
        "/echo/./a/xhr",
        "/echo//a/xhr",
        "/echo/a//xhr",
        "/echo/a/a/xhr_sendx",
        "/echo/a/a/%FF",
        "/echo/a/a/a/a/xhr",
    ] {
        for method in ["GET", "POST"] {
            let r = call(&app, req(method, path, "")).await;
            assert_eq!(r.status(), 404, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn segments_are_checked_raw_like_sockjs_node() {
    // `[^/.]+` on the raw path: percent escapes are just characters, even
    // when they decode to a dot, a slash or bytes that are not UTF-8.
    let (app, _events) = app(fast_config());
    for (i, path) in [
        "/echo/%2E/s1/xhr",
        "/echo/s2/%2e/xhr",
        "/echo/%2F/s3/xhr",
        "/echo/%FF%FE/%C0/xhr",
    ]
    .iter()
    .enumerate()
    {
        let r = call(&app, req("POST", path, "")).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(text(r).await, "o\n", "{path}");
        let send = path.replace("/xhr", "/xhr_send");
        let r = call(&app, req("POST", &send, format!("[\"m{i}\"]"))).await;
        assert_eq!(r.status(), 204, "{send}");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow_and_no_body() {
    let (app, _events) = app(fast_config());
    for (method, path) in [
        ("POST", "/echo/0/0/websocket"),
        ("GET", "/echo/0/0/xhr"),
        ("GET", "/echo/0/0/xhr_send"),
        ("PUT", "/echo/info"),
        ("POST", "/echo/websocket"),
        ("POST", "/echo/0/0/eventsource"),
    ] {
        let r = call(&app, req(method, path, "")).await;
        assert_eq!(r.status(), 405, "{method} {path}");
        assert!(r.headers().contains_key(header::ALLOW), "{method} {path}");
        assert!(
            r.headers().get(header::CONTENT_TYPE).is_none(),
            "{method} {path}"
        );
        assert_eq!(text(r).await, "");
    }
}

#[tokio::test]
async fn plain_gets_on_websocket_urls_are_400() {
    let (app, _events) = app(fast_config());
    for path in ["/echo/0/0/websocket", "/echo/websocket"] {
        let r = call(&app, req("GET", path, "")).await;
        assert_eq!(r.status(), 400);
        let mut close = req("GET", path, "");
        close
            .headers_mut()
            .insert(header::UPGRADE, "WebSocket".parse().unwrap());
        close
            .headers_mut()
            .insert(header::CONNECTION, "close".parse().unwrap());
        let r = call(&app, close).await;
        assert_eq!(r.status(), 400);
        assert_eq!(text(r).await, "Not a valid websocket request");
    }
}
