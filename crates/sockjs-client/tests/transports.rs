//! The client against sockjs-axum services, in-process and over TCP, on
//! each transport: order, batching, escapes, large messages, heartbeats,
//! response_limit recycling, 2010, and how connections end on both sides.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use sockjs::{CloseReason, Config, Session, SockJsRouter};
use sockjs_client::{Client, Error, Transport};
use tokio::sync::mpsc;

const ALL: [Transport; 3] = Transport::DEFAULT_ORDER;

/// Timers short enough to see heartbeats and timeouts in a test; the
/// disconnect delay leaves room for a loaded machine between two polls.
fn config() -> Config {
    Config::default()
        .response_limit(4096)
        .heartbeat_delay(Duration::from_millis(25))
        .disconnect_delay(Duration::from_secs(1))
}

/// `/echo` (echoes; `"late"` is answered 200 ms later, past several
/// heartbeats), `/close` (3000 "Go away!" at once), and the close reason
/// of every `/echo` session on the returned channel. `xhr_streaming`
/// requests are counted in the returned counter.
fn app() -> (
    Router,
    mpsc::UnboundedReceiver<Option<CloseReason>>,
    Arc<AtomicUsize>,
) {
    let (ends, ended) = mpsc::unbounded_channel();
    let echo = SockJsRouter::new(move |session: Session| {
        let ends = ends.clone();
        async move {
            let (tx, mut rx) = session.split();
            while let Some(message) = rx.recv().await {
                if message == "late" {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                if tx.send(message).await.is_err() {
                    break;
                }
            }
            let _ = ends.send(rx.close_reason());
        }
    })
    .config(config())
    .into_router();
    let close = SockJsRouter::new(|session: Session| async move {
        session.sender().close(3000, "Go away!");
    })
    .config(config())
    .into_router();
    let streams = Arc::new(AtomicUsize::new(0));
    let counter = streams.clone();
    let app = Router::new()
        .nest_service("/echo", echo)
        .nest_service("/close", close)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            if request.uri().path().ends_with("/xhr_streaming") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            next.run(request)
        }));
    (app, ended, streams)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The next message within a few seconds.
async fn recv(connection: &mut sockjs_client::Connection) -> Result<String, Error> {
    tokio::time::timeout(Duration::from_secs(5), connection.recv())
        .await
        .expect("a message in time")
}

#[tokio::test]
async fn echo_in_process_and_over_tcp() {
    let (app, _, _) = app();
    let addr = serve(app.clone()).await;
    for transport in ALL {
        for (client, url) in [
            (Client::in_process(app.clone()), "/echo".to_owned()),
            (Client::new(), format!("http://{addr}/echo")),
        ] {
            let mut connection = client.transport(transport).open(&url).await.unwrap();
            assert_eq!(connection.transport(), transport);
            for m in ["a", "", "b c"] {
                connection.send(m).await.unwrap();
            }
            for m in ["a", "", "b c"] {
                assert_eq!(recv(&mut connection).await.unwrap(), m, "{transport} {url}");
            }
            connection.close().await;
            assert_eq!(connection.recv().await, Err(Error::ClosedByClient));
            assert_eq!(
                connection.send("x").await,
                Err(Error::ClosedByClient),
                "{transport}"
            );
        }
    }
}

#[tokio::test]
async fn many_messages_keep_their_order_across_response_limits() {
    let (app, _, streams) = app();
    for transport in ALL {
        let client = Client::in_process(app.clone()).transport(transport);
        let connection = client.open("/echo").await.unwrap();
        let (mut tx, mut rx) = connection.split();
        // 400 × ~60 bytes: the 4096-byte response_limit ends xhr-streaming
        // responses several times over.
        let sent: Vec<String> = (0..400)
            .map(|i| format!("{i:04}-{}", "x".repeat(55)))
            .collect();
        let sending = {
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut all = futures_util::stream::iter(sent.into_iter().map(Ok));
                tx.send_all(&mut all).await.unwrap();
                tx
            })
        };
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let next = tokio::time::timeout(Duration::from_secs(10), rx.next())
                .await
                .expect("echoes in time");
            got.push(next.expect("not over").unwrap());
        }
        assert_eq!(got, sent, "{transport}");
        // Closing the sink closes the connection, and may be repeated.
        let mut tx = sending.await.unwrap();
        SinkExt::close(&mut tx).await.unwrap();
        SinkExt::close(&mut tx).await.unwrap();
        assert!(rx.next().await.is_none(), "a client close ends the stream");
        assert_eq!(tx.send("late".to_owned()).await, Err(Error::ClosedByClient));
    }
    // However the echoes were batched, 25 kB of them do not fit one
    // response.
    assert!(
        streams.load(Ordering::SeqCst) > 1,
        "xhr-streaming was recycled ({} requests)",
        streams.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn every_unicode_character_and_large_messages_round_trip() {
    let (app, _, _) = app();
    let all: Vec<char> = (0u32..=0x10FFFF).filter_map(char::from_u32).collect();
    let chunks: Vec<String> = all.chunks(20_000).map(|c| c.iter().collect()).collect();
    // Half a megabyte that mixes one- to four-byte characters, so that
    // UTF-8 sequences straddle every kind of chunk boundary.
    let large: String = "aé€😀\u{2028}\"\\\n".repeat(512 * 1024 / 24);
    for transport in ALL {
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        for chunk in &chunks {
            connection.send(chunk.clone()).await.unwrap();
            assert!(
                recv(&mut connection).await.unwrap() == *chunk,
                "{transport}"
            );
        }
        connection.send(large.clone()).await.unwrap();
        assert!(recv(&mut connection).await.unwrap() == large, "{transport}");
    }
}

#[tokio::test]
async fn heartbeats_are_silent() {
    let (app, _, _) = app();
    for transport in ALL {
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        // Several 25 ms heartbeats pass before the answer.
        connection.send("late").await.unwrap();
        connection.send("next").await.unwrap();
        assert_eq!(recv(&mut connection).await.unwrap(), "late", "{transport}");
        assert_eq!(recv(&mut connection).await.unwrap(), "next", "{transport}");
    }
}

#[tokio::test]
async fn the_servers_close_frame_ends_the_connection() {
    let (app, _, _) = app();
    for transport in ALL {
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/close")
            .await
            .unwrap();
        let closed = Error::Closed {
            code: 3000,
            reason: "Go away!".into(),
        };
        assert_eq!(recv(&mut connection).await, Err(closed.clone()));
        // Every later call says the same; sends are refused with it.
        assert_eq!(connection.recv().await, Err(closed.clone()));
        assert_eq!(connection.send("x").await, Err(closed.clone()));
        assert!(!connection.is_open());
        // As a stream: the error once, then the end.
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/close")
            .await
            .unwrap();
        assert_eq!(connection.next().await, Some(Err(closed)));
        assert_eq!(connection.next().await, None);
    }
}

#[tokio::test]
async fn the_server_sees_how_the_client_left() {
    let (app, mut ended, _) = app();
    for transport in ALL {
        let connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        connection.close().await;
        let reason = tokio::time::timeout(Duration::from_secs(5), ended.recv())
            .await
            .expect("the session ended")
            .unwrap();
        match transport {
            Transport::WebSocket => assert_eq!(reason, Some(CloseReason::ClientClosed)),
            // The pending receiving request was dropped; a poll may also
            // be between two requests, and time out.
            _ => assert!(
                matches!(
                    reason,
                    Some(CloseReason::Interrupted | CloseReason::TimedOut)
                ),
                "{transport}: {reason:?}"
            ),
        }
    }
    // Dropping a WebSocket connection closes it too.
    let connection = Client::in_process(app.clone())
        .transport(Transport::WebSocket)
        .open("/echo")
        .await
        .unwrap();
    drop(connection);
    let reason = tokio::time::timeout(Duration::from_secs(5), ended.recv())
        .await
        .expect("the session ended")
        .unwrap();
    assert_eq!(reason, Some(CloseReason::ClientClosed));
}

#[tokio::test]
async fn a_second_receiver_on_one_session_gets_2010() {
    // On xhr-streaming the first connection's response stays open, so the
    // second one is refused. (On xhr-polling whichever poll comes first is
    // the receiver: the first connection may be between two polls.)
    let (app, _, _) = app();
    let client = Client::in_process(app)
        .transport(Transport::XhrStreaming)
        .session_id("shared");
    let mut first = client.open("/echo").await.unwrap();
    assert_eq!(
        client.open("/echo").await.err(),
        Some(Error::Closed {
            code: 2010,
            reason: "Another connection still open".into()
        })
    );
    // The first connection is unaffected.
    first.send("still here").await.unwrap();
    assert_eq!(recv(&mut first).await.unwrap(), "still here");
}

#[tokio::test]
async fn failures_to_open() {
    let (app, _, _) = app();
    let client = Client::in_process(app.clone());
    match client.open("/nothing").await {
        Err(Error::Status { status, .. }) => assert_eq!(status, 404),
        other => panic!("{other:?}"),
    }
    // Nothing listens on a port that was just freed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    assert!(matches!(
        Client::connect(&format!("http://127.0.0.1:{port}/echo")).await,
        Err(Error::Io(_))
    ));
}

#[tokio::test]
async fn a_message_over_the_servers_limit_ends_the_connection() {
    let (app, _, _) = app();
    // sockjs-axum's max_message_size: 1 MiB.
    let oversized = "x".repeat(1 << 20);
    for transport in ALL {
        let mut connection = Client::in_process(app.clone())
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        connection.send(oversized.clone()).await.unwrap();
        let end = recv(&mut connection).await.unwrap_err();
        match transport {
            Transport::WebSocket => assert_eq!(
                end,
                Error::Closed {
                    code: 1009,
                    reason: "Message too big".into()
                }
            ),
            // 413 before the body was read; hyper may still be writing
            // it when the server drops the connection, and then reports
            // the broken pipe instead of the answer.
            _ => assert!(
                matches!(
                    &end,
                    Error::Status { status, body }
                        if *status == 413 && body == "Payload too large."
                ) || matches!(&end, Error::Io(e) if e.contains("xhr_send")),
                "{transport}: {end:?}"
            ),
        }
    }
}

#[tokio::test]
async fn cookies_set_by_the_session_are_sent_back() {
    let (cookies, mut sent) = mpsc::unbounded_channel();
    let echo = SockJsRouter::new(|session: Session| async move {
        let (tx, mut rx) = session.split();
        while let Some(message) = rx.recv().await {
            let _ = tx.send(message).await;
        }
    })
    .config(config().jsessionid(true))
    .into_router();
    let app = Router::new()
        .nest_service("/echo", echo)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            if request.uri().path().ends_with("/xhr_send") {
                let cookie = request.headers().get("cookie").cloned();
                let _ = cookies.send(cookie);
            }
            next.run(request)
        }));
    for transport in [Transport::XhrStreaming, Transport::XhrPolling] {
        let mut connection = Client::in_process(app.clone())
            .cookie("user", "alice")
            .transport(transport)
            .open("/echo")
            .await
            .unwrap();
        connection.send("x").await.unwrap();
        assert_eq!(recv(&mut connection).await.unwrap(), "x");
        assert_eq!(
            sent.recv().await.unwrap().unwrap(),
            "user=alice; JSESSIONID=dummy"
        );
    }
}

/// A TCP proxy to `upstream` whose connections can be frozen: adding one
/// to the returned counter freezes every connection open then (from then
/// on nothing goes through either way and nothing is closed, as when a
/// peer or a middlebox vanishes without a word); later ones pass.
async fn freezing_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let freezes = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = freezes.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let born = counter.load(Ordering::SeqCst);
            let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            for (mut from, mut to) in [(client_read, server_write), (server_read, client_write)] {
                let freezes = counter.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match from.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if freezes.load(Ordering::SeqCst) > born {
                            // Hold both sockets, pass nothing, close nothing.
                            std::future::pending::<()>().await;
                        }
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    (addr, freezes)
}

/// A connection that hears heartbeats stays open however long the app
/// says nothing; one whose server falls silent (the path frozen, nothing
/// closed) ends with `Timeout` after `silence_timeout`, on every
/// transport, instead of waiting for ever.
#[tokio::test]
async fn a_silent_server_is_taken_for_dead_after_the_silence_timeout() {
    const SILENCE: Duration = Duration::from_millis(300);
    let (app, _, _) = app();
    let upstream = serve(app).await;
    for transport in ALL {
        let (proxy, freezes) = freezing_proxy(upstream).await;
        let client = Client::new().transport(transport).silence_timeout(SILENCE);
        let mut connection = client.open(&format!("http://{proxy}/echo")).await.unwrap();
        connection.send("a").await.unwrap();
        assert_eq!(recv(&mut connection).await.unwrap(), "a", "{transport}");
        // Heartbeats every 25 ms: quiet for three times the bound, alive.
        let quiet = tokio::time::timeout(SILENCE * 3, connection.recv()).await;
        assert!(quiet.is_err(), "{transport}: {quiet:?}");
        assert!(connection.is_open(), "{transport}");

        freezes.fetch_add(1, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let end = tokio::time::timeout(Duration::from_secs(5), connection.recv())
            .await
            .unwrap_or_else(|_| panic!("{transport}: still waiting after 5 s"));
        assert!(
            matches!(end, Err(Error::Timeout(_))),
            "{transport}: {end:?}"
        );
        let took = started.elapsed();
        assert!(
            took >= SILENCE - Duration::from_millis(30),
            "{transport}: {took:?}"
        );
        assert!(
            took < SILENCE + Duration::from_secs(1),
            "{transport}: {took:?}"
        );

        // New connections pass; the frozen ones stay dead. The client let
        // go of its pooled connections when it found the silence, so
        // opening again does not wait on one of them.
        let mut again = tokio::time::timeout(
            Duration::from_secs(2),
            client.open(&format!("http://{proxy}/echo")),
        )
        .await
        .unwrap_or_else(|_| panic!("{transport}: reopening waited on a dead pooled connection"))
        .unwrap();
        again.send("b").await.unwrap();
        assert_eq!(recv(&mut again).await.unwrap(), "b", "{transport}");
    }
}
