//! The session span: every event of a session is under it, and it is under
//! the `TraceLayer` span of the request that opened the session. Alone in
//! its test binary: tracing caches callsite interest per process, and tests
//! running at once with other subscribers would blur what this one sees.

#[path = "server/fixture.rs"]
mod fixture;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use fixture::*;

/// Records, for every event, the names of the spans it is in (innermost
/// first).
#[derive(Clone, Default)]
struct Scopes(Arc<Mutex<Vec<Seen>>>);

/// An event's message and the names of its spans, innermost first.
type Seen = (String, Vec<String>);

impl<S> tracing_subscriber::Layer<S> for Scopes
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        // The message, then the other fields as ` name=value`.
        let (mut message, mut fields) = (String::new(), String::new());
        struct Visitor<'a>(&'a mut String, &'a mut String);
        impl tracing::field::Visit for Visitor<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    *self.0 = format!("{value:?}");
                } else {
                    self.1.push_str(&format!(" {}={value:?}", field.name()));
                }
            }
        }
        event.record(&mut Visitor(&mut message, &mut fields));
        message.push_str(&fields);
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|span| span.name().to_owned()).collect())
            .unwrap_or_default();
        self.0.lock().unwrap().push((message, scope));
    }
}

#[test]
fn session_events_are_under_the_session_span_under_the_request_span() {
    use tracing_subscriber::layer::SubscriberExt;
    let scopes = Scopes::default();
    let subscriber = tracing_subscriber::registry()
        .with(scopes.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let service = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
                    tracing::info!("handler says hi");
                    let (_tx, mut rx) = session.split();
                    while rx.recv().await.is_some() {}
                })
                // Long enough that the first session is still open when
                // the second opens, on a slow machine too.
                .config(fast_config().disconnect_delay(Duration::from_secs(1)))
                .into_router();
                let app = Router::new()
                    .nest_service("/s", service)
                    .layer(tower_http::trace::TraceLayer::new_for_http());
                // Two sessions: the second opens while the first is open.
                for path in ["/s/0/t/xhr", "/s/0/u/xhr"] {
                    assert_eq!(text(call(&app, req("POST", path, "")).await).await, "o\n");
                }
                // The sessions time out (disconnect_delay 1 s); the
                // reaper logs under the session's span.
                let logged = scopes.clone();
                eventually(Duration::from_secs(5), "session forgotten", move || {
                    let events = logged.0.lock().unwrap();
                    events.iter().any(|(m, _)| m.contains("session forgotten"))
                })
                .await;
            });
    });
    let events = scopes.0.lock().unwrap().clone();
    let scope_of = |message: &str| {
        events
            .iter()
            .find(|(m, _)| m.contains(message))
            .map(|(_, scope)| scope.clone())
            .unwrap_or_else(|| panic!("no event {message:?} in {events:?}"))
    };
    assert_eq!(scope_of("handler says hi"), ["sockjs_session", "request"]);
    assert_eq!(scope_of("session opened"), ["sockjs_session", "request"]);
    // With how many sessions are open, this one included.
    let opened: Vec<&str> = events
        .iter()
        .filter(|(m, _)| m.starts_with("session opened"))
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(
        opened,
        ["session opened open=1", "session opened open=2"],
        "{events:?}"
    );
    assert_eq!(scope_of("session forgotten"), ["sockjs_session", "request"]);
}
