//! The library through the Rust client (`sockjs-axum-client`), as users
//! test their own routers: echo on each transport, fallback, close codes
//! and reasons, shutdown, and a handshake hook fed by headers, cookies or
//! the query string.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::fixture::*;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Router;
use axum_extra::extract::CookieJar;
use sockjs::{Config, Session, Shutdown, SockJsRouter};
use sockjs_client::{Client, Connection, Error, Transport};

const ALL: [Transport; 3] = Transport::DEFAULT_ORDER;

/// The next message, within a few seconds.
async fn recv(connection: &mut Connection) -> Result<String, Error> {
    tokio::time::timeout(Duration::from_secs(5), connection.recv())
        .await
        .expect("a message in time")
}

/// The server-side transport the handler saw, by name.
async fn opened_on(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> &'static str {
    match next_event(events).await {
        Event::Opened(transport) => transport.name(),
        other => panic!("expected a session to open, got {other:?}"),
    }
}

#[tokio::test]
async fn echo_on_each_forced_transport() {
    let (app, mut events) = app(fast_config());
    for transport in ALL {
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        assert_eq!(connection.transport(), transport);
        assert_eq!(opened_on(&mut events).await, transport.name());
        for message in ["hello", "wor\u{2028}ld", "😀\"\\"] {
            connection.send(message).await.unwrap();
            assert_eq!(recv(&mut connection).await.unwrap(), message);
            assert_eq!(
                next_event(&mut events).await,
                Event::Message(message.into())
            );
        }
        connection.close().await;
        // The handler's session ends (how depends on the transport).
        assert!(matches!(
            next_event(&mut events).await,
            Event::Closed(Some(_))
        ));
    }
}

#[tokio::test]
async fn echo_over_a_real_socket() {
    let (app, mut events) = app(fast_config());
    let addr: SocketAddr = serve(app).await;
    for transport in ALL {
        let mut connection = Client::new()
            .transport(transport)
            .open(&format!("http://{addr}/echo"))
            .await
            .unwrap();
        assert_eq!(opened_on(&mut events).await, transport.name());
        connection.send("over tcp").await.unwrap();
        assert_eq!(recv(&mut connection).await.unwrap(), "over tcp");
        assert_eq!(
            next_event(&mut events).await,
            Event::Message("over tcp".into())
        );
        connection.close().await;
        assert!(matches!(
            next_event(&mut events).await,
            Event::Closed(Some(_))
        ));
    }
}

#[tokio::test]
async fn falls_back_when_websockets_are_disabled_or_refused() {
    // `/info` says `"websocket": false`: xhr-streaming is next.
    let no_websocket = fast_config()
        .disable(sockjs::Transport::WebSocket)
        .disable(sockjs::Transport::RawWebSocket);
    let (router, mut events) = app(no_websocket);
    let mut connection = Client::in_process(router).open("/echo").await.unwrap();
    assert_eq!(connection.transport(), Transport::XhrStreaming);
    assert_eq!(opened_on(&mut events).await, "xhr-streaming");
    connection.send("a").await.unwrap();
    assert_eq!(recv(&mut connection).await.unwrap(), "a");

    // A proxy that strips `Upgrade`: the server answers the handshake
    // with 400 and the client moves on.
    let (router, mut events) = app(fast_config());
    let stripped = router.layer(axum::middleware::map_request(
        |mut request: axum::extract::Request| async move {
            request.headers_mut().remove(header::UPGRADE);
            request
        },
    ));
    let connection = Client::in_process(stripped).open("/echo").await.unwrap();
    assert_eq!(connection.transport(), Transport::XhrStreaming);
    assert_eq!(opened_on(&mut events).await, "xhr-streaming");

    // Without xhr-streaming either: xhr-polling.
    let polling_only = fast_config()
        .disable(sockjs::Transport::WebSocket)
        .disable(sockjs::Transport::XhrStreaming);
    let (router, mut events) = app(polling_only);
    let mut connection = Client::in_process(router).open("/echo").await.unwrap();
    assert_eq!(connection.transport(), Transport::XhrPolling);
    assert_eq!(opened_on(&mut events).await, "xhr-polling");
    connection.send("b").await.unwrap();
    assert_eq!(recv(&mut connection).await.unwrap(), "b");

    // A forced transport the server does not serve.
    let (router, _) = app(fast_config().disable(sockjs::Transport::WebSocket));
    let refused = Client::in_process(router)
        .transport(Transport::WebSocket)
        .open("/echo")
        .await;
    assert_eq!(
        refused.err(),
        Some(Error::TransportDisabled(Transport::WebSocket))
    );
}

#[tokio::test]
async fn close_codes_and_reasons_reach_the_client() {
    let (app, _) = app(fast_config());
    for transport in ALL {
        let client = Client::in_process(app.clone()).transport(transport);
        // Closed by the handler at once.
        let mut connection = client.open("/close").await.unwrap();
        assert_eq!(
            recv(&mut connection).await,
            Err(Error::Closed {
                code: 3000,
                reason: "Go away!".into()
            }),
            "{transport}"
        );
        // Closed by the handler when asked, after the messages before.
        let mut connection = client.open("/echo").await.unwrap();
        connection.send("before").await.unwrap();
        connection.send("close-me").await.unwrap();
        assert_eq!(recv(&mut connection).await.unwrap(), "before");
        assert_eq!(
            recv(&mut connection).await,
            Err(Error::Closed {
                code: 3001,
                reason: "as asked".into()
            }),
            "{transport}"
        );
    }
}

#[tokio::test]
async fn shutdown_closes_with_1001_then_refuses_new_sessions() {
    let shutdown = Shutdown::new();
    let echo = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        while let Some(message) = rx.recv().await {
            let _ = tx.send(message).await;
        }
    })
    .config(fast_config())
    .shutdown(shutdown.clone())
    .into_router();
    let app: Router = Router::new().nest_service("/echo", echo);
    let mut connections = Vec::new();
    for transport in ALL {
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        connection.send("up").await.unwrap();
        assert_eq!(recv(&mut connection).await.unwrap(), "up");
        connections.push(connection);
    }
    shutdown.begin();
    for mut connection in connections {
        assert_eq!(
            recv(&mut connection).await,
            Err(Error::Closed {
                code: 1001,
                reason: "Server shutting down".into()
            }),
            "{}",
            connection.transport()
        );
    }
    match Client::in_process(app).open("/echo").await {
        Err(Error::Status { status, body }) => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(body, "Server shutting down.");
        }
        other => panic!("{other:?}"),
    }
}

/// A user from `Authorization: Bearer <name>`, a `user` cookie, or
/// `?token=<name>-token`.
async fn authenticate(
    headers: HeaderMap,
    cookies: CookieJar,
    RawQuery(query): RawQuery,
) -> Result<String, (StatusCode, &'static str)> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let cookie = cookies.get("user").map(|c| c.value().to_owned());
    let token = query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .and_then(|t| t.strip_suffix("-token"))
            .map(str::to_owned)
    });
    bearer
        .or(cookie)
        .or(token)
        .ok_or((StatusCode::UNAUTHORIZED, "Log in first."))
}

fn auth_app() -> Router {
    let service = SockJsRouter::new(|session: Session| async move {
        let user = session.extensions().get::<String>().cloned();
        let (tx, mut rx) = session.split();
        let _ = tx.send(format!("hello {}", user.unwrap_or_default())).await;
        while let Some(message) = rx.recv().await {
            let _ = tx.send(message).await;
        }
    })
    .config(Config::default())
    .handshake(authenticate);
    Router::new().nest_service("/auth", service.into_router())
}

#[tokio::test]
async fn a_handshake_hook_sees_headers_cookies_and_query_tokens() {
    let app = auth_app();
    for transport in ALL {
        let client = Client::in_process(app.clone()).transport(transport);
        let cases = [
            (
                client.clone().header("authorization", "Bearer alice"),
                "/auth",
                "alice",
            ),
            (client.clone().cookie("user", "bob"), "/auth", "bob"),
            (client.clone(), "/auth?token=carol-token", "carol"),
        ];
        for (client, url, user) in cases {
            let mut connection = client.open(url).await.unwrap();
            assert_eq!(
                recv(&mut connection).await.unwrap(),
                format!("hello {user}"),
                "{transport} {url}"
            );
            // Later requests of the session (xhr_send) pass too.
            connection.send("again").await.unwrap();
            assert_eq!(recv(&mut connection).await.unwrap(), "again");
        }
    }
    // Refused: the hook's answer, at once, without trying other transports.
    let attempts = Arc::new(AtomicUsize::new(0));
    let counter = attempts.clone();
    let counted = app.layer(axum::middleware::map_request(
        move |request: axum::extract::Request| {
            if !request.uri().path().ends_with("/info") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            async move { request }
        },
    ));
    match Client::in_process(counted).open("/auth").await {
        Err(Error::Status { status, body }) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body, "Log in first.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        1,
        "only the websocket tried"
    );
}
