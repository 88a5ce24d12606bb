//! Metrics, through the [`metrics`](https://docs.rs/metrics) crate's
//! facade: install any recorder (Prometheus, StatsD, OpenTelemetry, ...)
//! and they appear; without one they cost next to nothing. The library
//! depends on no exporter.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `sockjs_sessions_open` | gauge | `service`, `transport` | sessions open now |
//! | `sockjs_sessions_opened_total` | counter | `service`, `transport` | sessions opened |
//! | `sockjs_sessions_closed_total` | counter | `service`, `transport`, `reason` | sessions gone, by why: `server_closed`, `client_closed`, `timed_out` (no receiving request within `disconnect_delay`, or a WebSocket that stopped answering `websocket_ping`: the client vanished), `interrupted` (a receiving request was aborted), `transport_error`, `stalled` (a write to the client did not complete, or a streaming client stopped reading, within `send_timeout`), `shutdown` (closed by a [`Shutdown`](crate::Shutdown)) |
//! | `sockjs_messages_received_total` | counter | `service`, `transport` | messages from clients, handed to handlers |
//! | `sockjs_messages_sent_total` | counter | `service`, `transport` | messages written to clients |
//! | `sockjs_bytes_received_total` | counter | `service`, `transport` | bytes of those messages |
//! | `sockjs_bytes_sent_total` | counter | `service`, `transport` | bytes written to clients, framing included |
//! | `sockjs_heartbeats_total` | counter | `service`, `transport` | `h` frames sent to idle clients |
//! | `sockjs_response_limit_recycles_total` | counter | `service`, `transport` | streaming responses ended at `response_limit` (the client opens the next) |
//! | `sockjs_another_connection_total` | counter | `service`, `transport` | second receiving requests answered `c[2010,"Another connection still open"]` |
//! | `sockjs_queue_full_total` | counter | `service`, `transport`, `queue` | a queue was full: `out` (a sender waited, or was refused with `try_send`), `out_closed` (the session was closed, [`QueueFullPolicy::Close`](crate::QueueFullPolicy::Close) or a room member too far behind), `in` (the transport stopped reading from the client) |
//! | `sockjs_undecodable_messages_total` | counter | `service`, `transport` | client messages a typed receiver ([`Session::json`](crate::Session::json)) could not decode; each closes its session with 1007 |
//! | `sockjs_rejected_requests_total` | counter | `status`, `reason` | requests answered with an error of [`Rejection`](crate::Rejection) (`reason`: its name, e.g. `origin_not_allowed`), or refused by the handshake hook (`reason`: `handshake`) |
//!
//! `service` is [`Config::metrics_service`](crate::Config::metrics_service)
//! (default `sockjs`); `transport` is [`Transport::name`](crate::Transport::name).
//!
//! ```
//! // A Prometheus exporter in the app (metrics-exporter-prometheus), and
//! // `GET /metrics` serving `handle.render()`: see `examples/tower`.
//! assert_eq!(sockjs::metrics::SESSIONS_OPEN, "sockjs_sessions_open");
//! ```

use metrics::{Counter, SharedString};

use crate::protocol::Transport;
use crate::session::CloseReason;

/// Gauge: sessions open now.
///
/// ```
/// // An alert rule of your monitoring, on the gauge this name exports.
/// let rule = format!("sum({}) > 10000", sockjs::metrics::SESSIONS_OPEN);
/// assert_eq!(rule, "sum(sockjs_sessions_open) > 10000");
/// ```
pub const SESSIONS_OPEN: &str = "sockjs_sessions_open";
/// Counter: sessions opened.
///
/// With a recorder installed, here the `metrics-util` crate's debugging one
/// as a test would use it:
///
/// ```
/// use axum::Router;
/// use metrics_util::debugging::DebuggingRecorder;
/// use sockjs::metrics::SESSIONS_OPENED;
/// use sockjs_client::Client;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sockjs_client::Error> {
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// recorder.install().expect("the first recorder");
///
/// let app: Router = Router::new().nest("/echo", sockjs::router(|_session: sockjs::Session| async {}));
/// let _connection = Client::in_process(app).open("/echo").await?;
///
/// let opened = snapshotter
///     .snapshot()
///     .into_vec()
///     .into_iter()
///     .any(|(key, ..)| key.key().name() == SESSIONS_OPENED);
/// assert!(opened);
/// # Ok(())
/// # }
/// ```
pub const SESSIONS_OPENED: &str = "sockjs_sessions_opened_total";
/// Counter: sessions gone, by `reason`.
///
/// ```
/// // Sessions of clients that vanished, per minute.
/// let query = format!(
///     r#"rate({}{{reason="timed_out"}}[1m])"#,
///     sockjs::metrics::SESSIONS_CLOSED
/// );
/// assert_eq!(query, r#"rate(sockjs_sessions_closed_total{reason="timed_out"}[1m])"#);
/// ```
pub const SESSIONS_CLOSED: &str = "sockjs_sessions_closed_total";
/// Counter: messages from clients handed to handlers.
///
/// ```
/// assert_eq!(sockjs::metrics::MESSAGES_RECEIVED, "sockjs_messages_received_total");
/// ```
pub const MESSAGES_RECEIVED: &str = "sockjs_messages_received_total";
/// Counter: messages written to clients.
///
/// ```
/// assert_eq!(sockjs::metrics::MESSAGES_SENT, "sockjs_messages_sent_total");
/// ```
pub const MESSAGES_SENT: &str = "sockjs_messages_sent_total";
/// Counter: bytes of the messages from clients.
///
/// ```
/// assert_eq!(sockjs::metrics::BYTES_RECEIVED, "sockjs_bytes_received_total");
/// ```
pub const BYTES_RECEIVED: &str = "sockjs_bytes_received_total";
/// Counter: bytes written to clients, framing included.
///
/// ```
/// // Outgoing bandwidth per transport.
/// let query = format!("sum by (transport) (rate({}[5m]))", sockjs::metrics::BYTES_SENT);
/// assert_eq!(query, "sum by (transport) (rate(sockjs_bytes_sent_total[5m]))");
/// ```
pub const BYTES_SENT: &str = "sockjs_bytes_sent_total";
/// Counter: heartbeat frames sent.
///
/// ```
/// assert_eq!(sockjs::metrics::HEARTBEATS, "sockjs_heartbeats_total");
/// ```
pub const HEARTBEATS: &str = "sockjs_heartbeats_total";
/// Counter: streaming responses ended at `response_limit`.
///
/// ```
/// assert_eq!(
///     sockjs::metrics::RESPONSE_LIMIT_RECYCLES,
///     "sockjs_response_limit_recycles_total"
/// );
/// ```
pub const RESPONSE_LIMIT_RECYCLES: &str = "sockjs_response_limit_recycles_total";
/// Counter: second receiving requests answered with 2010.
///
/// ```
/// assert_eq!(sockjs::metrics::ANOTHER_CONNECTION, "sockjs_another_connection_total");
/// ```
pub const ANOTHER_CONNECTION: &str = "sockjs_another_connection_total";
/// Counter: client messages a typed receiver could not decode.
///
/// ```
/// assert_eq!(sockjs::metrics::UNDECODABLE_MESSAGES, "sockjs_undecodable_messages_total");
/// ```
pub const UNDECODABLE_MESSAGES: &str = "sockjs_undecodable_messages_total";
/// Counter: full queues, by `queue`.
///
/// ```
/// // Slow clients dropped, per minute.
/// let query = format!(r#"rate({}{{queue="out_closed"}}[1m])"#, sockjs::metrics::QUEUE_FULL);
/// assert_eq!(query, r#"rate(sockjs_queue_full_total{queue="out_closed"}[1m])"#);
/// ```
pub const QUEUE_FULL: &str = "sockjs_queue_full_total";
/// Counter: refused requests, by `status` and `reason`.
///
/// ```
/// use sockjs::{metrics::REJECTED_REQUESTS, Rejection};
///
/// // The `reason` label is the rejection's name.
/// let query = format!(r#"{REJECTED_REQUESTS}{{reason="{}"}}"#, Rejection::OriginNotAllowed.name());
/// assert_eq!(query, r#"sockjs_rejected_requests_total{reason="origin_not_allowed"}"#);
/// ```
pub const REJECTED_REQUESTS: &str = "sockjs_rejected_requests_total";

/// Which queue was full ([`QUEUE_FULL`]'s `queue` label).
#[derive(Clone, Copy, Debug)]
pub(crate) enum QueueFull {
    /// An outgoing message had to wait, or was refused.
    Out,
    /// The session was closed because its outgoing queue overflowed.
    OutClosed,
    /// The transport stopped reading from the client.
    In,
}

/// One session's metrics: handles for what happens per message (no lookup
/// per event), labels for the rest. The handles first, in one cache line
/// (`repr(C)`; see `Core`'s order).
#[repr(C)]
pub(crate) struct SessionMetrics {
    messages_in: Counter,
    bytes_in: Counter,
    messages_out: Counter,
    bytes_out: Counter,
    service: SharedString,
    transport: Transport,
}

impl SessionMetrics {
    /// A new session of `service` on `transport`; counts it as opened.
    pub(crate) fn opened(service: &SharedString, transport: Transport) -> Self {
        let labels = |name: &'static str| metrics::counter!(name, "service" => service.clone(), "transport" => transport.name());
        let this = SessionMetrics {
            messages_in: labels(MESSAGES_RECEIVED),
            bytes_in: labels(BYTES_RECEIVED),
            messages_out: labels(MESSAGES_SENT),
            bytes_out: labels(BYTES_SENT),
            service: service.clone(),
            transport,
        };
        this.counter(SESSIONS_OPENED).increment(1);
        this.gauge().increment(1.0);
        this
    }

    fn counter(&self, name: &'static str) -> Counter {
        metrics::counter!(name, "service" => self.service.clone(), "transport" => self.transport.name())
    }

    fn gauge(&self) -> metrics::Gauge {
        metrics::gauge!(SESSIONS_OPEN, "service" => self.service.clone(), "transport" => self.transport.name())
    }

    /// The session is gone, for `reason`.
    pub(crate) fn closed(&self, reason: Option<&CloseReason>) {
        self.gauge().decrement(1.0);
        let reason = match reason {
            Some(CloseReason::ServerClosed { code, .. })
                if *code == crate::session::close_code::GOING_AWAY =>
            {
                "shutdown"
            }
            Some(CloseReason::ServerClosed { .. }) => "server_closed",
            Some(CloseReason::ClientClosed) => "client_closed",
            Some(CloseReason::TimedOut) => "timed_out",
            Some(CloseReason::Interrupted) => "interrupted",
            Some(CloseReason::Stalled) => "stalled",
            Some(CloseReason::TransportError(_)) | None => "transport_error",
        };
        metrics::counter!(
            SESSIONS_CLOSED,
            "service" => self.service.clone(),
            "transport" => self.transport.name(),
            "reason" => reason
        )
        .increment(1);
    }

    /// A client message of `bytes` handed to the handler.
    pub(crate) fn received(&self, bytes: usize) {
        self.messages_in.increment(1);
        self.bytes_in.increment(bytes as u64);
    }

    /// `messages` taken from the queue for the client.
    pub(crate) fn sent_messages(&self, messages: usize) {
        self.messages_out.increment(messages as u64);
    }

    /// `bytes` written to the client.
    pub(crate) fn sent_bytes(&self, bytes: usize) {
        self.bytes_out.increment(bytes as u64);
    }

    /// A heartbeat frame sent.
    pub(crate) fn heartbeat(&self) {
        self.counter(HEARTBEATS).increment(1);
    }

    /// A streaming response ended at `response_limit`.
    pub(crate) fn recycled(&self) {
        self.counter(RESPONSE_LIMIT_RECYCLES).increment(1);
    }

    /// A second receiving request refused with 2010.
    pub(crate) fn another_connection(&self) {
        self.counter(ANOTHER_CONNECTION).increment(1);
    }

    /// A client message a typed receiver could not decode.
    pub(crate) fn undecodable(&self) {
        self.counter(UNDECODABLE_MESSAGES).increment(1);
    }

    /// A queue of the session was full.
    pub(crate) fn queue_full(&self, queue: QueueFull) {
        let queue = match queue {
            QueueFull::Out => "out",
            QueueFull::OutClosed => "out_closed",
            QueueFull::In => "in",
        };
        metrics::counter!(
            QUEUE_FULL,
            "service" => self.service.clone(),
            "transport" => self.transport.name(),
            "queue" => queue
        )
        .increment(1);
    }
}

/// A request refused with `status`, for `reason`.
pub(crate) fn rejected(status: http::StatusCode, reason: &'static str) {
    metrics::counter!(
        REJECTED_REQUESTS,
        "status" => SharedString::from_owned(status.as_u16().to_string()),
        "reason" => reason
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    /// Counter `name`'s values by the value of its label `label`.
    fn counts(
        snapshotter: &metrics_util::debugging::Snapshotter,
        name: &str,
        label: &str,
    ) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            if key.key().name() != name {
                continue;
            }
            let by = key.key().labels().find(|l| l.key() == label);
            if let (Some(by), DebugValue::Counter(n)) = (by, value) {
                counts.insert(by.value().to_owned(), n);
            }
        }
        counts
    }

    #[test]
    fn full_queues_are_counted_by_which_queue() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let session = SessionMetrics::opened(&"svc".into(), Transport::WebSocket);
            session.queue_full(QueueFull::Out);
            for _ in 0..2 {
                session.queue_full(QueueFull::OutClosed);
            }
            for _ in 0..3 {
                session.queue_full(QueueFull::In);
            }
        });
        let expected: BTreeMap<String, u64> = [("in", 3), ("out", 1), ("out_closed", 2)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(counts(&snapshotter, QUEUE_FULL, "queue"), expected);
    }

    #[test]
    fn closed_sessions_are_counted_by_their_reason() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let session = SessionMetrics::opened(&"svc".into(), Transport::XhrPolling);
            let server = |code: u16| CloseReason::ServerClosed {
                code,
                reason: "bye".into(),
            };
            for reason in [
                Some(server(crate::session::close_code::GOING_AWAY)),
                Some(server(3000)),
                Some(server(1000)),
                Some(CloseReason::ClientClosed),
                Some(CloseReason::TimedOut),
                Some(CloseReason::Interrupted),
                Some(CloseReason::Stalled),
                Some(CloseReason::TransportError("reset".into())),
                None,
            ] {
                session.closed(reason.as_ref());
            }
        });
        let closed = counts(&snapshotter, SESSIONS_CLOSED, "reason");
        let expected: BTreeMap<String, u64> = [
            ("client_closed", 1),
            ("interrupted", 1),
            ("server_closed", 2),
            ("shutdown", 1),
            ("stalled", 1),
            ("timed_out", 1),
            ("transport_error", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(closed, expected);
    }
}
