//! The client against any server that mounts the test services of the
//! SockJS protocol definition (`/echo`, `/close`, `/goodbye`, `/amplify`,
//! `/disabled_websocket_echo`, `/cookie_needed_echo`), such as the
//! project's test server or sockjs-node 0.3.24:
//!
//! ```text
//! node xtask/node/sockjs-node-server/server.js --port 8082   # after npm install there
//! SOCKJS_TEST_URL=http://127.0.0.1:8082 cargo test -p sockjs-axum-client --test interop -- --ignored
//! ```
//!
//! Ignored by default: it needs that server.

use std::time::Duration;

use sockjs_client::{Client, Connection, Error, Transport};

fn base() -> String {
    std::env::var("SOCKJS_TEST_URL").expect("SOCKJS_TEST_URL=http://host:port of a test server")
}

async fn recv(connection: &mut Connection) -> Result<String, Error> {
    tokio::time::timeout(Duration::from_secs(10), connection.recv())
        .await
        .expect("a message in time")
}

#[tokio::test]
#[ignore = "needs a server with the test services at SOCKJS_TEST_URL"]
async fn every_transport_against_the_test_services() {
    let base = base();
    let all: Vec<char> = (0u32..=0x10FFFF).filter_map(char::from_u32).collect();
    let chunks: Vec<String> = all.chunks(20_000).map(|c| c.iter().collect()).collect();
    let go_away = Error::Closed {
        code: 3000,
        reason: "Go away!".into(),
    };
    for transport in Transport::DEFAULT_ORDER {
        let client = Client::new().transport(transport);
        let mut echo = client.open(&format!("{base}/echo")).await.unwrap();
        for chunk in &chunks {
            echo.send(chunk.clone()).await.unwrap();
            assert!(recv(&mut echo).await.unwrap() == *chunk, "{transport}");
        }
        // Past the test server's 4096-byte response_limit many times.
        let many: Vec<String> = (0..300)
            .map(|i| format!("{i:04}-{}", "y".repeat(50)))
            .collect();
        for message in &many {
            echo.send(message.clone()).await.unwrap();
        }
        for message in &many {
            assert_eq!(&recv(&mut echo).await.unwrap(), message, "{transport}");
        }
        echo.close().await;

        let mut close = client.open(&format!("{base}/close")).await.unwrap();
        assert_eq!(recv(&mut close).await, Err(go_away.clone()), "{transport}");

        let mut goodbye = client.open(&format!("{base}/goodbye")).await.unwrap();
        for i in 1..=20 {
            assert_eq!(recv(&mut goodbye).await.unwrap(), i.to_string());
        }
        assert_eq!(recv(&mut goodbye).await, Err(go_away.clone()));

        let mut amplify = client.open(&format!("{base}/amplify")).await.unwrap();
        amplify.send("17").await.unwrap();
        assert_eq!(recv(&mut amplify).await.unwrap(), "x".repeat(1 << 17));
    }

    let fallback = Client::connect(&format!("{base}/disabled_websocket_echo"))
        .await
        .unwrap();
    assert_eq!(fallback.transport(), Transport::XhrStreaming);

    for transport in [Transport::XhrStreaming, Transport::XhrPolling] {
        let mut cookies = Client::new()
            .transport(transport)
            .open(&format!("{base}/cookie_needed_echo"))
            .await
            .unwrap();
        cookies.send("c").await.unwrap();
        assert_eq!(recv(&mut cookies).await.unwrap(), "c");
    }

    let shared = Client::new()
        .transport(Transport::XhrStreaming)
        .session_id(uuid_like());
    let _first = shared.open(&format!("{base}/echo")).await.unwrap();
    assert_eq!(
        shared.open(&format!("{base}/echo")).await.err(),
        Some(Error::Closed {
            code: 2010,
            reason: "Another connection still open".into()
        })
    );
}

/// A session id no other run uses.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("interop-{nanos}")
}
