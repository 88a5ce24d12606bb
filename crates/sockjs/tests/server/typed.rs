//! Typed halves (`Session::json`) on every transport of the Rust client:
//! values both ways (`send` and `try_send`), and a message that does not decode closing the session
//! with 1007 `Message not understood`, reported to the handler and counted.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde::{Deserialize, Serialize};
use sockjs::{close_code, SockJsRouter};
use sockjs_client::{Client, Error, Transport};
use tokio::sync::mpsc;

use crate::fixture::*;

#[derive(Deserialize)]
struct Question {
    a: i64,
    b: i64,
}

#[derive(Serialize)]
struct Answer {
    sum: i64,
}

#[test]
fn typed_halves_decode_encode_and_refuse_what_does_not_decode() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(within(Duration::from_secs(20), async {
                let (report, mut reports) = mpsc::unbounded_channel();
                let service = SockJsRouter::new(move |session: sockjs::Session| {
                    let report = report.clone();
                    async move {
                        let (tx, mut rx) = session.json::<Question, Answer>();
                        // The service's rooms through the typed half.
                        tx.sender().join("typed");
                        let members = tx.rooms().members("typed");
                        // The first question through the receiver's
                        // `Stream`, the others through `recv`.
                        let mut next = futures_util::StreamExt::next(&mut rx).await;
                        while let Some(Question { a, b }) = next {
                            let _ = tx.send(&Answer { sum: a + b }).await;
                            // And without waiting: the product.
                            let _ = tx.try_send(&Answer { sum: a * b });
                            next = rx.recv().await;
                        }
                        let refused = tx.try_send(&Answer { sum: 0 }).map_err(|e| e.to_string());
                        let printed = format!("{tx:?} {rx:?}");
                        let _ = report.send((
                            rx.decode_error().map(str::to_owned),
                            rx.close_reason(),
                            (members, refused, printed),
                        ));
                    }
                })
                .config(fast_config().metrics_service("typed"));
                let app: axum::Router = axum::Router::new().nest("/add", service.into_router());
                for transport in Transport::DEFAULT_ORDER {
                    let mut connection = Client::in_process(app.clone())
                        .transport(transport)
                        .open("/add")
                        .await
                        .unwrap();
                    connection.send(r#"{"a":2,"b":3}"#).await.unwrap();
                    assert_eq!(
                        connection.recv().await.unwrap(),
                        r#"{"sum":5}"#,
                        "{transport}"
                    );
                    assert_eq!(
                        connection.recv().await.unwrap(),
                        r#"{"sum":6}"#,
                        "{transport}: try_send"
                    );
                    connection.send(r#"{"a":"two"}"#).await.unwrap();
                    match connection.recv().await {
                        Err(Error::Closed { code, reason }) => {
                            assert_eq!(code, close_code::UNDECODABLE, "{transport}");
                            assert_eq!(reason, "Message not understood", "{transport}");
                        }
                        other => panic!("{transport}: {other:?}"),
                    }
                    let (why, reason, (members, refused, printed)) = reports.recv().await.unwrap();
                    assert_eq!(members, 1, "{transport}: tx.rooms() is the service's");
                    assert_eq!(
                        refused,
                        Err("sending on a closed SockJS session".to_owned()),
                        "{transport}"
                    );
                    assert!(
                        printed.starts_with("JsonSender(Sender")
                            && printed.contains(" JsonReceiver {")
                            && printed.contains("decode_error: Some("),
                        "{transport}: {printed}"
                    );
                    assert!(
                        why.is_some_and(|e| e.contains("invalid type")),
                        "{transport}"
                    );
                    assert!(
                        matches!(
                            &reason,
                            Some(sockjs::CloseReason::TransportError(e))
                                if e.starts_with("message not understood: invalid type")
                        ),
                        "{transport}: {reason:?}"
                    );
                }
            }))
    });
    let undecodable: u64 = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == sockjs::metrics::UNDECODABLE_MESSAGES)
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(undecodable, Transport::DEFAULT_ORDER.len() as u64);
}
