//! The door: the origin policy, the handshake hook and the session limits,
//! on every transport.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fixture::*;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::{header, HeaderMap, Request, StatusCode};
use sockjs::{Config, OriginPolicy, Session, SockJsRouter, Transport};
use sockjs_conformance::client::{Target, WireFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ALLOWED: &str = "http://app.example";
const EVIL: &str = "http://evil.example";

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if uri.ends_with("websocket") {
        builder = builder
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

/// A service at `/svc` that counts its sessions and greets each with what
/// the handshake hook attached (a `User`), if anything.
fn service(config: Config) -> (SockJsRouter, Arc<AtomicUsize>) {
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = opened.clone();
    let router = SockJsRouter::new(move |session: Session| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let user = session.extensions().get::<User>().cloned();
            let (tx, mut rx) = session.split();
            if let Some(User(name)) = user {
                let _ = tx.send(format!("hello {name}")).await;
            }
            while let Some(m) = rx.recv().await {
                let _ = tx.send(m).await;
            }
        }
    })
    .config(config);
    (router, opened)
}

fn mount(router: SockJsRouter) -> Router {
    Router::new().nest_service("/svc", router.into_router())
}

#[derive(Clone, Debug, PartialEq)]
struct User(String);

// ---- origin policy ----

fn policy() -> OriginPolicy {
    OriginPolicy::only([ALLOWED, "http://*.app.example"])
}

fn restricted() -> Config {
    fast_config().allowed_origins(policy())
}

#[tokio::test]
async fn other_origins_are_refused_on_every_transport_and_no_session_opens() {
    let (router, opened) = service(restricted());
    let app = mount(router);
    let mut paths: Vec<(&str, String)> = openings("/svc", "evil")
        .into_iter()
        .map(|o| (o.method, o.path))
        .collect();
    paths.push(("GET", "/svc/info".into()));
    paths.push(("OPTIONS", "/svc/info".into()));
    paths.push(("OPTIONS", "/svc/0/evilo/xhr".into()));
    paths.push(("POST", "/svc/0/evilx/xhr_send".into()));
    for (method, path) in paths {
        let r = call(&app, request(method, &path, &[("origin", EVIL)])).await;
        if path.contains("/jsonp") {
            // Not served at all under a restricted policy (below).
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
            continue;
        }
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(r
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none());
        assert_eq!(text(r).await, "Origin not allowed.", "{path}");
    }
    for origin in ["null", "http://app.example.evil", "https://app.example"] {
        let r = call(&app, request("POST", "/svc/0/o/xhr", &[("origin", origin)])).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    // A <script> or <img> of another site sends no Origin, but says so.
    let r = call(
        &app,
        request(
            "GET",
            "/svc/0/img/eventsource",
            &[("sec-fetch-site", "cross-site")],
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The greeting is harmless; the iframe page is static, and its CSP
    // keeps other origins from framing it.
    let r = call(&app, request("GET", "/svc", &[("origin", EVIL)])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(
        &app,
        request(
            "GET",
            "/svc/iframe.html",
            &[("sec-fetch-site", "cross-site")],
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    assert_eq!(opened.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn allowed_origins_work_and_cors_names_only_them() {
    let (router, _opened) = service(restricted());
    let app = mount(router);
    for origin in [ALLOWED, "http://chat.app.example"] {
        let r = call(
            &app,
            request("POST", "/svc/0/ok/xhr", &[("origin", origin)]),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{origin}");
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        text(r).await;
    }
    for opening in openings("/svc", "allowed") {
        if opening.transport == Transport::JsonpPolling {
            continue;
        }
        let path = &opening.path;
        let r = call(&app, request(opening.method, path, &[("origin", ALLOWED)])).await;
        assert!(
            r.status() == StatusCode::OK || r.status() == StatusCode::SWITCHING_PROTOCOLS
                // in-process requests cannot be upgraded: past the checks
                || (opening.is_websocket() && r.status() == StatusCode::BAD_REQUEST),
            "{path}: {}",
            r.status()
        );
    }
    // No Origin (a non-browser client, a same-origin GET): allowed.
    let r = call(&app, request("POST", "/svc/0/plain/xhr", &[])).await;
    assert_eq!(r.status(), StatusCode::OK);
    // An origin equal to the request's Host is not the service's own: the
    // Host is the client's to choose (DNS rebinding), on every transport.
    let rebound = [("origin", "http://evil.example"), ("host", "evil.example")];
    for Opening {
        transport,
        method,
        path,
    } in openings("/svc", "rebound")
    {
        let r = call(&app, request(method, &path, &rebound)).await;
        // jsonp is off altogether under a restricted policy.
        let refused = if transport == Transport::JsonpPolling {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(r.status(), refused, "{path}");
    }
    // /info lists the patterns; the iframe page may only be framed by them.
    let r = call(&app, request("GET", "/svc/info", &[("origin", ALLOWED)])).await;
    let info: serde_json::Value = serde_json::from_str(&text(r).await).unwrap();
    assert_eq!(
        info["origins"],
        serde_json::json!([ALLOWED, "http://*.app.example"])
    );
    let r = call(&app, request("GET", "/svc/iframe.html", &[])).await;
    assert_eq!(
        r.headers()[header::CONTENT_SECURITY_POLICY],
        "frame-ancestors 'self' http://app.example http://*.app.example"
    );
}

#[tokio::test]
async fn jsonp_is_off_under_a_restricted_policy_unless_explicitly_kept() {
    let (router, _) = service(restricted());
    let app = mount(router);
    let r = call(&app, request("GET", "/svc/0/j/jsonp?c=cb", &[])).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let (router, _) = service(fast_config().allowed_origins(policy().unprotected_transports(true)));
    let app = mount(router);
    let script_tag = [("sec-fetch-site", "cross-site")];
    let r = call(&app, request("GET", "/svc/0/j/jsonp?c=cb", &script_tag)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(text(r).await, "/**/cb(\"o\");\r\n");
    // jsonp_send still has an Origin to check (a form POST sends it).
    let r = call(
        &app,
        request("POST", "/svc/0/j/jsonp_send", &[("origin", EVIL)]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn null_and_missing_origins_follow_their_switches() {
    let (router, _) =
        service(fast_config().allowed_origins(policy().allow_null(true).allow_missing(false)));
    let app = mount(router);
    let r = call(&app, request("POST", "/svc/0/n/xhr", &[("origin", "null")])).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(&app, request("POST", "/svc/0/m/xhr", &[])).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_default_policy_allows_every_origin() {
    let (router, _) = service(fast_config());
    let app = mount(router);
    let r = call(&app, request("POST", "/svc/0/any/xhr", &[("origin", EVIL)])).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], EVIL);
    let r = call(&app, request("GET", "/svc/info", &[])).await;
    assert!(text(r).await.contains(r#""origins":["*:*"]"#));
}

#[tokio::test]
async fn websocket_upgrades_from_other_origins_are_refused_over_real_sockets() {
    let (router, opened) = service(restricted());
    let addr = serve(mount(router)).await;
    for (path, origin, status) in [
        ("/svc/0/w/websocket", EVIL, "403"),
        ("/svc/websocket", EVIL, "403"),
        ("/svc/0/w/websocket", ALLOWED, "101"),
        ("/svc/websocket", ALLOWED, "101"),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: {origin}\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut answer = [0u8; 12];
        within(Duration::from_secs(5), tcp.read_exact(&mut answer))
            .await
            .unwrap();
        assert_eq!(&answer[9..12], status.as_bytes(), "{path} from {origin}");
    }
    for _ in 0..100 {
        if opened.load(Ordering::SeqCst) == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{} sessions opened, expected 2",
        opened.load(Ordering::SeqCst)
    );
}

// ---- handshake hook ----

fn authenticated(calls: Arc<AtomicUsize>) -> (SockJsRouter, Arc<AtomicUsize>) {
    let (router, opened) = service(fast_config());
    let router = router.handshake(move |headers: HeaderMap| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            match headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
            {
                Some("Bearer alice-token") => Ok(User("alice".into())),
                Some(_) => Err((StatusCode::FORBIDDEN, "Wrong token.")),
                None => Err((StatusCode::UNAUTHORIZED, "Log in first.")),
            }
        }
    });
    (router, opened)
}

#[tokio::test]
async fn the_hook_refuses_before_any_session_on_every_transport() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (router, opened) = authenticated(calls.clone());
    let app = mount(router);
    for Opening { method, path, .. } in openings("/svc", "anon") {
        let r = call(&app, request(method, &path, &[])).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(text(r).await, "Log in first.", "{path}");
        let r = call(
            &app,
            request(method, &path, &[("authorization", "Bearer x")]),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing was created: sending to those ids finds no session.
    let r = call(&app, req("POST", "/svc/0/anonx/xhr_send", "[\"x\"]")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(opened.load(Ordering::SeqCst), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 14);
}

/// A GET to a WebSocket endpoint that does not ask to upgrade is a 400
/// before anything else: the hook (which may cost a database lookup) is
/// not asked, and its 401 would tell a prober more than "not a WebSocket".
#[tokio::test]
async fn a_websocket_endpoint_refuses_a_plain_get_before_asking_the_hook() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (router, opened) = authenticated(calls.clone());
    let app = mount(router);
    for path in ["/svc/0/plain/websocket", "/svc/websocket"] {
        for upgrade in [None, Some("h2c"), Some("websocket")] {
            let mut builder = Request::builder()
                .uri(path)
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
            if let Some(upgrade) = upgrade {
                // `Upgrade` without the `upgrade` token in `Connection`.
                builder = builder
                    .header("upgrade", upgrade)
                    .header("connection", "keep-alive");
            }
            let r = call(&app, builder.body(Body::empty()).unwrap()).await;
            let what = format!("{path} {upgrade:?}");
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{what}");
            assert_eq!(text(r).await, "Not a valid websocket request", "{what}");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(opened.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn accepted_sessions_carry_the_hooks_data_and_are_not_asked_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (router, _) = authenticated(calls.clone());
    let app = mount(router);
    let alice = [("authorization", "Bearer alice-token")];
    let r = call(&app, request("POST", "/svc/0/a/xhr", &alice)).await;
    assert_eq!(text(r).await, "o\n");
    let r = call(&app, request("POST", "/svc/0/a/xhr", &[])).await;
    assert_eq!(text(r).await, "a[\"hello alice\"]\n");
    // Sending and receiving again on the open session: no token needed.
    let mut send = req("POST", "/svc/0/a/xhr_send", "[\"hi\"]");
    send.headers_mut().remove(header::AUTHORIZATION);
    assert_eq!(call(&app, send).await.status(), StatusCode::NO_CONTENT);
    let r = call(&app, request("POST", "/svc/0/a/xhr", &[])).await;
    assert_eq!(text(r).await, "a[\"hi\"]\n");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Streaming transports too.
    for Opening { method, path, .. } in streaming_openings("/svc", "b") {
        let r = call(&app, request(method, &path, &alice)).await;
        let chunks = chunks(r, 3).await.join("");
        assert!(chunks.contains("hello alice"), "{path}: {chunks:?}");
    }
}

#[tokio::test]
async fn the_hook_gets_websockets_too_and_extractors_may_refuse() {
    use axum::Extension;
    // An extractor that fails (no `Extension<User>` put there by a layer)
    // answers with its own rejection.
    let (router, opened) = service(fast_config());
    let router = router
        .handshake(|Extension(user): Extension<User>| async move { Ok::<_, StatusCode>(user) });
    let addr = serve(mount(router)).await;
    let err = target(addr)
        .wire_ws("/svc/0/x/websocket")
        .await
        .unwrap_err();
    assert!(err.0.contains("500"), "{err:?}");
    assert_eq!(opened.load(Ordering::SeqCst), 0);

    // With the layer, the handler gets the user.
    let (router, _) = service(fast_config());
    let router = router
        .handshake(|Extension(user): Extension<User>| async move { Ok::<_, StatusCode>(user) });
    let app = Router::new()
        .nest_service("/svc", router.into_router())
        .layer(Extension(User("bob".into())));
    let addr = serve(app).await;
    let mut ws = target(addr).wire_ws("/svc/0/y/websocket").await.unwrap();
    assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
    assert_eq!(
        ws.next().await.unwrap(),
        Some(WireFrame::Text("a[\"hello bob\"]".into()))
    );
}

fn target(addr: SocketAddr) -> Target {
    Target {
        addr,
        host: addr.to_string(),
        prefix: String::new(),
        timeout: Duration::from_secs(5),
    }
}

// ---- limits ----

fn from(addr: [u8; 4], mut request: Request<Body>) -> Request<Body> {
    let addr = SocketAddr::from((addr, 40000));
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

#[tokio::test]
async fn sessions_past_the_limits_are_refused_until_some_are_gone() {
    let (router, opened) = service(fast_config().max_sessions(3).max_sessions_per_address(2));
    let app = mount(router);
    let open = |ip: [u8; 4], id: &str| from(ip, req("POST", &format!("/svc/0/{id}/xhr"), ""));
    assert_eq!(call(&app, open([10, 0, 0, 1], "a1")).await.status(), 200);
    assert_eq!(call(&app, open([10, 0, 0, 1], "a2")).await.status(), 200);
    let r = call(&app, open([10, 0, 0, 1], "a3")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(text(r).await, "Too many sessions from this address.");
    assert_eq!(call(&app, open([10, 0, 0, 2], "b1")).await.status(), 200);
    let r = call(&app, open([10, 0, 0, 3], "c1")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(r).await, "Too many sessions.");
    // Polling an open session is not a new one.
    let again = call(&app, open([10, 0, 0, 1], "a1")).await;
    assert_eq!(again.status(), 200);
    drop(again);
    assert_eq!(opened.load(Ordering::SeqCst), 3);
    // Sessions time out (disconnect_delay 150 ms) and give their places back.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if call(&app, open([10, 0, 0, 3], "c2")).await.status() == 200 {
            return;
        }
    }
    panic!("the limit never let a new session in");
}

#[tokio::test]
async fn a_send_body_that_never_completes_is_cut_after_body_timeout() {
    let (router, _) = service(fast_config().body_timeout(Duration::from_millis(200)));
    let app = mount(router);
    let r = call(&app, req("POST", "/svc/0/slow/xhr", "")).await;
    assert_eq!(text(r).await, "o\n");
    let addr = serve(app).await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /svc/0/slow/xhr_send HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n[\"only a part"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer))
        .await
        .expect("answered and closed in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.ends_with("Request body timed out."), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

// ---- binding a session to its client ----

/// Every later request of session `id` under `/svc`: the sends, then
/// receiving again on each receiving transport.
fn later_requests(id: &str) -> Vec<Request<Body>> {
    vec![
        req("POST", &format!("/svc/0/{id}/xhr_send"), "[\"stolen\"]"),
        form(req(
            "POST",
            &format!("/svc/0/{id}/jsonp_send"),
            "d=%5B%22stolen%22%5D",
        )),
        req("POST", &format!("/svc/0/{id}/xhr"), ""),
        req("POST", &format!("/svc/0/{id}/xhr_streaming"), ""),
        req("GET", &format!("/svc/0/{id}/eventsource"), ""),
        req("GET", &format!("/svc/0/{id}/htmlfile?c=cb"), ""),
        req("GET", &format!("/svc/0/{id}/jsonp?c=cb"), ""),
    ]
}

fn form(mut request: Request<Body>) -> Request<Body> {
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    request
}

fn with(headers: &[(&str, &str)], mut request: Request<Body>) -> Request<Body> {
    for (name, value) in headers {
        request.headers_mut().insert(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

#[tokio::test]
async fn address_bound_sessions_are_not_found_from_another_address() {
    let (router, opened) = service(fast_config().bind_to_address(true));
    let app = mount(router);
    let owner = [192, 0, 2, 1];
    let r = call(&app, from(owner, req("POST", "/svc/0/a/xhr", ""))).await;
    assert_eq!(text(r).await, "o\n");
    for request in later_requests("a") {
        let what = format!("{} {}", request.method(), request.uri());
        let r = call(&app, from([198, 51, 100, 9], request)).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{what}");
        assert_eq!(text(r).await, "Session not found.", "{what}");
    }
    // The session goes on for its client, untouched by the stranger.
    let send = from(owner, req("POST", "/svc/0/a/xhr_send", "[\"mine\"]"));
    assert_eq!(call(&app, send).await.status(), StatusCode::NO_CONTENT);
    let r = call(&app, from(owner, req("POST", "/svc/0/a/xhr", ""))).await;
    assert_eq!(text(r).await, "a[\"mine\"]\n");
    // Other ids are the stranger's to open.
    let r = call(
        &app,
        from([198, 51, 100, 9], req("POST", "/svc/0/b/xhr", "")),
    )
    .await;
    assert_eq!(text(r).await, "o\n");
    assert_eq!(opened.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn binding_leaves_websocket_sessions_alone() {
    let (router, _) = service(fast_config().bind_to_address(true).bind_to_handshake(true));
    let addr = serve(mount(router)).await;
    let mut ws = target(addr).wire_ws("/svc/0/w/websocket").await.unwrap();
    assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("o".into())));
}

#[tokio::test]
async fn handshake_bound_sessions_run_the_hook_on_every_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (router, _) = authenticated(calls.clone());
    let app = mount(router.config(fast_config().bind_to_handshake(true)));
    let alice = [("authorization", "Bearer alice-token")];
    let r = call(&app, with(&alice, req("POST", "/svc/0/a/xhr", ""))).await;
    assert_eq!(text(r).await, "o\n");
    let r = call(&app, with(&alice, req("POST", "/svc/0/a/xhr", ""))).await;
    assert_eq!(text(r).await, "a[\"hello alice\"]\n");
    // Without the credential, or with a wrong one: the session does not
    // exist (not the hook's 401 or 403, which would say it does).
    for stranger in [&[][..], &[("authorization", "Bearer guess")][..]] {
        for request in later_requests("a") {
            let what = format!("{} {} {stranger:?}", request.method(), request.uri());
            let r = call(&app, with(stranger, request)).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{what}");
            assert_eq!(text(r).await, "Session not found.", "{what}");
        }
    }
    let send = with(&alice, req("POST", "/svc/0/a/xhr_send", "[\"mine\"]"));
    assert_eq!(call(&app, send).await.status(), StatusCode::NO_CONTENT);
    let r = call(&app, with(&alice, req("POST", "/svc/0/a/xhr", ""))).await;
    assert_eq!(text(r).await, "a[\"mine\"]\n");
    assert_eq!(calls.load(Ordering::SeqCst), 2 + 2 * 7 + 2);
}

#[tokio::test]
async fn trusted_proxies_name_the_client_and_others_headers_are_ignored() {
    let proxies = sockjs::TrustedProxies::x_forwarded_for(["127.0.0.1", "10.0.0.0/8"]);
    let config = fast_config()
        .trusted_proxies(proxies)
        .max_sessions_per_address(1)
        .bind_to_address(true);
    let (router, _) = service(config);
    let app = mount(router);
    let proxy = [127, 0, 0, 1];
    let via = |peer: [u8; 4], xff: &str, method: &str, path: &str, body: &'static str| {
        from(
            peer,
            with(&[("x-forwarded-for", xff)], req(method, path, body)),
        )
    };
    let open = |peer, xff, id: &str| via(peer, xff, "POST", &format!("/svc/0/{id}/xhr"), "");
    // Two clients behind the proxy: one session each.
    assert_eq!(
        call(&app, open(proxy, "203.0.113.1", "a")).await.status(),
        200
    );
    assert_eq!(
        call(&app, open(proxy, "203.0.113.2", "b")).await.status(),
        200
    );
    let r = call(&app, open(proxy, "203.0.113.1", "c")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Through two trusted hops; the client's own entry left of them is
    // its to write and ignored.
    let r = call(&app, open(proxy, "6.6.6.6, 203.0.113.3, 10.1.1.1", "d")).await;
    assert_eq!(r.status(), 200);
    let r = call(&app, open(proxy, "203.0.113.3", "e")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // An untrusted peer is its own address, whatever it writes.
    let stranger = [198, 51, 100, 7];
    assert_eq!(
        call(&app, open(stranger, "203.0.113.9", "f"))
            .await
            .status(),
        200
    );
    let r = call(&app, open(stranger, "203.0.113.10", "g")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Binding follows the same address.
    let send = |peer, xff| via(peer, xff, "POST", "/svc/0/a/xhr_send", "[\"x\"]");
    let r = call(&app, send(proxy, "203.0.113.2")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = call(&app, send(stranger, "203.0.113.1")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a spoofed header");
    let r = call(&app, send(proxy, "1.2.3.4, 203.0.113.1")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

/// Counts `error!` events.
struct Errors(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Errors {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn per_address_settings_without_an_address_refuse_sessions_with_500_and_say_so_once() {
    use tracing_subscriber::layer::SubscriberExt;
    let errors = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(Errors(errors.clone()));
    let _guard = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for (n, config) in [
            fast_config().max_sessions_per_address(10),
            fast_config().bind_to_address(true),
        ]
        .into_iter()
        .enumerate()
        {
            let (router, opened) = service(config);
            let app = mount(router);
            for id in ["a", "b", "c"] {
                let r = call(&app, req("POST", &format!("/svc/0/{id}/xhr"), "")).await;
                assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
                assert_eq!(text(r).await, "Client address unknown.");
            }
            assert_eq!(opened.load(Ordering::SeqCst), 0);
            // Logged once per service.
            assert_eq!(errors.load(Ordering::SeqCst), n + 1);
        }
        // Settings that need no address still work without one.
        let (router, _) = service(fast_config().max_sessions(10));
        let r = call(&mount(router), req("POST", "/svc/0/a/xhr", "")).await;
        assert_eq!(text(r).await, "o\n");
    });
}

#[tokio::test]
async fn jsessionid_attributes_are_written_where_the_cookie_is() {
    use sockjs::{Jsessionid, SameSite};
    let cookie = Jsessionid::new().http_only(true).same_site(SameSite::None);
    let (router, _) = service(fast_config().jsessionid_cookie(cookie));
    let app = mount(router);
    let expected = "JSESSIONID=dummy; path=/; Secure; HttpOnly; SameSite=None";
    for request in [
        req("POST", "/svc/0/a/xhr", ""),
        req("OPTIONS", "/svc/0/a/xhr", ""),
        req("POST", "/svc/0/a/xhr_send", "[\"x\"]"),
        req("GET", "/svc/0/b/jsonp?c=cb", ""),
    ] {
        let what = format!("{} {}", request.method(), request.uri());
        let r = call(&app, request).await;
        assert_eq!(r.headers()[header::SET_COOKIE], expected, "{what}");
    }
    let r = call(
        &app,
        with(
            &[("cookie", "JSESSIONID=n1")],
            req("POST", "/svc/0/c/xhr", ""),
        ),
    )
    .await;
    assert_eq!(
        r.headers()[header::SET_COOKIE],
        "JSESSIONID=n1; path=/; Secure; HttpOnly; SameSite=None"
    );
    // `jsessionid(true)` still writes the protocol's bytes.
    let (router, _) = service(fast_config().jsessionid(true));
    let r = call(&mount(router), req("POST", "/svc/0/a/xhr", "")).await;
    assert_eq!(r.headers()[header::SET_COOKIE], "JSESSIONID=dummy; path=/");
}
