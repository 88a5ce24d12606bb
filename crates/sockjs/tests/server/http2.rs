//! The app served over HTTP/2 (h2c, prior knowledge): every HTTP
//! transport, many sessions multiplexed on one connection, and WebSockets
//! over extended CONNECT (RFC 8441); `sockjs::serve`'s idle timeout on h2c.
#![cfg(feature = "http2")]

use std::time::Duration;

use crate::fixture::*;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// How long any one step of these tests may take.
const STEP: Duration = Duration::from_secs(5);

/// One HTTP/2 connection to a fresh server.
async fn connect() -> (SendRequest<Body>, std::net::SocketAddr) {
    let (app, _events) = app(fast_config().heartbeat_delay(Duration::from_secs(10)));
    connect_to(app).await
}

/// One HTTP/2 connection to a fresh server of `app`.
async fn connect_to(app: axum::Router) -> (SendRequest<Body>, std::net::SocketAddr) {
    let addr = serve(app).await;
    let tcp = within(STEP, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    let (sender, conn) = within(
        STEP,
        hyper::client::conn::http2::Builder::new(TokioExecutor::new()).handshake(TokioIo::new(tcp)),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    (sender, addr)
}

fn request(method: Method, path: &str, body: &'static str) -> Request<Body> {
    let body: Body = if body.is_empty() {
        Empty::new().boxed()
    } else {
        Full::new(Bytes::from_static(body.as_bytes())).boxed()
    };
    Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .version(Version::HTTP_2)
        .body(body)
        .unwrap()
}

/// Opens a WebSocket at `path` over an extended CONNECT on `h2` (RFC
/// 8441): the stream, once the server said 200.
async fn extended_connect(h2: &mut SendRequest<Body>, path: &str) -> hyper::upgrade::Upgraded {
    let mut req = request(Method::CONNECT, path, "");
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    req.headers_mut().insert(
        "sec-websocket-version",
        http::HeaderValue::from_static("13"),
    );
    within(STEP, h2.ready()).await.unwrap();
    let response = within(STEP, h2.send_request(req)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    within(STEP, hyper::upgrade::on(response)).await.unwrap()
}

/// Sends a request and returns the status and the whole body.
async fn send(sender: &mut SendRequest<Body>, req: Request<Body>) -> (StatusCode, String) {
    within(STEP, sender.ready()).await.unwrap();
    let response = within(STEP, sender.send_request(req)).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let status = response.status();
    let body = within(STEP, response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The next data of a streaming response body, within [`STEP`].
async fn next_data(body: &mut hyper::body::Incoming, what: &str) -> String {
    let frame = within(STEP, body.frame())
        .await
        .unwrap_or_else(|| panic!("{what}: the body ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let data = frame.into_data().unwrap_or_default();
    String::from_utf8(data.to_vec()).expect("utf-8 data")
}

#[tokio::test]
async fn polling_transports_over_h2() {
    let (mut h2, _) = connect().await;
    let post = |path: &str, body| request(Method::POST, path, body);
    assert_eq!(
        send(&mut h2, post("/echo/0/p/xhr", "")).await,
        (StatusCode::OK, "o\n".into())
    );
    let (status, _) = send(&mut h2, post("/echo/0/p/xhr_send", "[\"a\",\"b\"]")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&mut h2, post("/echo/0/p/xhr", "")).await.1,
        "a[\"a\",\"b\"]\n"
    );

    let get = |path: &str| request(Method::GET, path, "");
    assert_eq!(
        send(&mut h2, get("/echo/0/j/jsonp?c=cb")).await.1,
        "/**/cb(\"o\");\r\n"
    );
    let form = Request::builder()
        .method(Method::POST)
        .uri("http://localhost/echo/0/j/jsonp_send")
        .version(Version::HTTP_2)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(b"d=%5B%22x%22%5D")).boxed())
        .unwrap();
    assert_eq!(send(&mut h2, form).await, (StatusCode::OK, "ok".into()));
    assert_eq!(
        send(&mut h2, get("/echo/0/j/jsonp?c=cb")).await.1,
        "/**/cb(\"a[\\\"x\\\"]\");\r\n"
    );
}

/// The handler sees the HTTP version of the request that opened its
/// session (`Session::http_version`): HTTP/2 here, where hyper's and
/// `http`'s default is HTTP/1.1.
#[tokio::test]
async fn the_handler_sees_the_sessions_http_version() {
    let version = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
        let seen = format!("{:?}", session.http_version());
        let _ = session.sender().send(seen).await;
    })
    .config(no_heartbeat_config())
    .into_router();
    let (mut h2, _) = connect_to(axum::Router::new().nest_service("/version", version)).await;
    let post = |path: &str| request(Method::POST, path, "");
    assert_eq!(
        send(&mut h2, post("/version/0/v/xhr")).await,
        (StatusCode::OK, "o\n".into())
    );
    let (_, body) = send(&mut h2, post("/version/0/v/xhr")).await;
    assert!(body.starts_with("a[\"HTTP/2.0\"]"), "{body:?}");
}

#[tokio::test]
async fn streaming_transports_multiplexed_on_one_connection() {
    let (mut h2, _) = connect().await;
    let mut bodies = Vec::new();
    for opening in streaming_openings("/echo", "m") {
        within(STEP, h2.ready()).await.unwrap();
        let method = Method::from_bytes(opening.method.as_bytes()).unwrap();
        let response = within(STEP, h2.send_request(request(method, &opening.path, "")))
            .await
            .unwrap();
        assert_eq!(
            (response.status(), response.version()),
            (StatusCode::OK, Version::HTTP_2),
            "{}",
            opening.path
        );
        bodies.push((opening, response.into_body()));
    }
    // Three streams open at once on one connection; each gets its prelude
    // and then exactly its open frame (no heartbeat is due for 10 s), then
    // the echo of what is sent to it.
    for (opening, body) in &mut bodies {
        let path = &opening.path;
        let mut seen = String::new();
        let opened = loop {
            if let Some((_, after)) = seen.split_once(opening.prelude_end()) {
                if after.len() >= opening.open_frame().len() {
                    break after.to_owned();
                }
            }
            seen.push_str(&next_data(body, path).await);
        };
        assert_eq!(opened, opening.open_frame(), "{path}");
        let session = opening.session().unwrap();
        let send_path = format!("/echo/0/{session}/xhr_send");
        let (status, _) = send(&mut h2, request(Method::POST, &send_path, "[\"over h2\"]")).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}");
        let mut echo = String::new();
        while !echo.contains("over h2") {
            echo.push_str(&next_data(body, path).await);
        }
    }
}

async fn next_text<S>(ws: &mut WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.as_str().to_owned(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn websockets_over_extended_connect() {
    let (mut h2, _) = connect().await;
    let websockets = openings("/echo", "w")
        .into_iter()
        .filter(Opening::is_websocket);
    for opening in websockets {
        let path = opening.path.as_str();
        let framed = opening.transport == sockjs::Transport::WebSocket;
        let upgraded = extended_connect(&mut h2, path).await;
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
        if framed {
            assert_eq!(next_text(&mut ws).await, "o");
            within(STEP, ws.send(Message::text("[\"hi\"]")))
                .await
                .unwrap();
            assert_eq!(next_text(&mut ws).await, "a[\"hi\"]");
        } else {
            within(STEP, ws.send(Message::text("raw over h2")))
                .await
                .unwrap();
            assert_eq!(next_text(&mut ws).await, "raw over h2");
        }
        within(STEP, ws.close(None)).await.unwrap();
        // The server answers the close and ends the stream.
        loop {
            match tokio::time::timeout(Duration::from_secs(3), ws.next())
                .await
                .unwrap()
            {
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{path}: {e}"),
            }
        }
    }
    // The connection carries on.
    let (status, body) = send(&mut h2, request(Method::POST, "/echo/0/after/xhr", "")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "o\n"));
}

/// Over HTTP/2 a WebSocket is an extended CONNECT with `:protocol
/// websocket`; any other request to a WebSocket endpoint is a 400 before
/// the handshake hook is asked.
#[tokio::test]
async fn a_websocket_endpoint_over_h2_refuses_what_is_not_an_extended_connect() {
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = asked.clone();
    let router = sockjs::SockJsRouter::new(|_session: sockjs::Session| async {})
        .config(fast_config())
        .handshake(move |_headers: http::HeaderMap| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err::<(), _>((StatusCode::UNAUTHORIZED, "Log in first.")) }
        });
    let (mut h2, _) = connect_to(axum::Router::new().nest("/svc", router.into_router())).await;
    for path in ["/svc/0/h2get/websocket", "/svc/websocket"] {
        for method in [Method::GET] {
            let mut req = request(method.clone(), path, "");
            req.headers_mut().insert(
                "sec-websocket-version",
                http::HeaderValue::from_static("13"),
            );
            let (status, body) = send(&mut h2, req).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}");
            assert_eq!(body, "Not a valid websocket request", "{method} {path}");
        }
    }
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// The closing handshake in RFC 6455 order over an HTTP/2 stream too: after
/// the server's close frame the stream stays open for the client's (200 ms
/// later), and ends (END_STREAM) promptly after it.
#[tokio::test]
async fn websocket_close_over_h2_waits_for_the_clients_close_frame() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut h2, _) = connect().await;
    for _ in 0..10 {
        let mut io = TokioIo::new(extended_connect(&mut h2, "/close/websocket").await);
        let mut got = Vec::new();
        while !got.ends_with(b"Go away!") {
            let mut chunk = [0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(3), io.read(&mut chunk))
                .await
                .expect("the close frame")
                .unwrap();
            assert!(n > 0, "ended before the close frame: {got:?}");
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got[0], 0x88, "{got:?}");
        // A slow client, on purpose: not a synchronisation.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut probe = [0u8; 16];
        let early = tokio::time::timeout(Duration::from_millis(5), io.read(&mut probe)).await;
        assert!(
            early.is_err(),
            "the stream ended before the client's close frame: {early:?}"
        );
        // Our close frame: masked (key 0), code 3000.
        io.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x0B, 0xB8])
            .await
            .unwrap();
        within(STEP, io.flush()).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(1), io.read(&mut probe))
            .await
            .expect("the end of the stream")
            .unwrap();
        assert_eq!(n, 0);
    }
}

/// `sockjs::serve` with these timeouts (the heartbeat out of the way), in
/// the background, and a TCP connection to it; the app's events.
#[cfg(feature = "serve")]
async fn serve_h2c(
    header_timeout: Duration,
    idle_timeout: Duration,
) -> (
    tokio::net::TcpStream,
    tokio::sync::mpsc::UnboundedReceiver<Event>,
) {
    let (app, events) = app(fast_config().heartbeat_delay(Duration::from_secs(60)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = sockjs::serve(listener, app)
        .header_read_timeout(header_timeout)
        .idle_timeout(idle_timeout);
    tokio::spawn(std::future::IntoFuture::into_future(server));
    let tcp = within(STEP, tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    (tcp, events)
}

/// `sockjs::serve` over h2c: a WebSocket (an extended CONNECT, whose
/// response is over as soon as its head is sent) is not timed as requests
/// are. Its frames are no request head in the making, nor is its
/// connection idle while it lives.
#[cfg(feature = "serve")]
#[tokio::test]
async fn serve_leaves_a_websocket_over_h2_to_its_session() {
    const HEAD: Duration = Duration::from_millis(200);
    let (tcp, _events) = serve_h2c(HEAD, HEAD * 2).await;
    let (mut h2, conn) = within(
        STEP,
        hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Body>(TokioIo::new(tcp)),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let upgraded = extended_connect(&mut h2, "/echo/0/h2serve/websocket").await;
    let mut ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await;
    assert_eq!(next_text(&mut ws).await, "o");
    // Messages further apart than either timeout, for five idle timeouts
    // in all (the pauses are the behaviour under test).
    for i in 0..5 {
        tokio::time::sleep(HEAD * 2).await;
        within(STEP, ws.send(Message::text(format!("[\"m{i}\"]"))))
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await, format!("a[\"m{i}\"]"));
    }
    // Nor was the connection shut as idle meanwhile: it takes a new stream.
    let (status, body) = send(&mut h2, request(Method::POST, "/echo/0/h2after/xhr", "")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "o\n"));
}

/// `sockjs::serve` over h2c: a quiet streaming response (a stream in
/// flight) outlives the idle timeout; once it is over, the connection is
/// closed after the idle timeout, not the header timeout.
#[cfg(feature = "serve")]
#[tokio::test]
async fn serve_idle_timeout_over_h2() {
    const IDLE: Duration = Duration::from_millis(600);
    let (tcp, _events) = serve_h2c(Duration::from_millis(200), IDLE).await;
    // The client pings all along: an HTTP/2 connection's frames between
    // requests are no request head in the making.
    let (mut h2, conn) = within(
        STEP,
        hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_millis(50))
            .keep_alive_while_idle(true)
            .handshake::<_, Body>(TokioIo::new(tcp)),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);

    within(STEP, h2.ready()).await.unwrap();
    let response = within(
        STEP,
        h2.send_request(request(Method::POST, "/echo/0/idle/xhr_streaming", "")),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let mut body = response.into_body();
    let mut seen = String::new();
    while !seen.contains("o\n") {
        seen.push_str(&next_data(&mut body, "idle").await);
    }
    // Quiet for three idle timeouts, the stream still delivers (a temporal
    // property, so a wait, well past the idle timeout it must survive).
    tokio::time::sleep(IDLE * 3).await;
    let (status, _) = send(
        &mut h2,
        request(Method::POST, "/echo/0/idle/xhr_send", "[\"still\"]"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut echo = String::new();
    while !echo.contains("still") {
        echo.push_str(&next_data(&mut body, "idle").await);
    }
    // The stream over, nothing in flight: closed after the idle timeout.
    drop(body);
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the server closed the idle connection")
        .unwrap()
        .ok();
    let took = started.elapsed();
    assert!(took >= IDLE - Duration::from_millis(100), "{took:?}");
    assert!(took < IDLE + Duration::from_millis(700), "{took:?}");
    eprintln!("idle h2c connection closed after {took:?}");
}
