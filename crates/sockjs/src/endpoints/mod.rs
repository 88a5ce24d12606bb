//! Where a request lands: the route table of one service and every
//! handler it names.
//!
//! | URL under the prefix | handler |
//! |---|---|
//! | `/` | [`info::greeting`] |
//! | `/info` | [`info::info`], `OPTIONS`: [`info::preflight`] |
//! | `/iframe*.html` | [`iframe::page`] |
//! | `/<server>/<session>/{xhr, xhr_streaming, eventsource, htmlfile, jsonp}` | [`receive::receive`], one handler for the five receiving transports, driven by the table [`receive::RECEIVING`]; `OPTIONS` on the xhr ones: [`send::preflight`] |
//! | `/<server>/<session>/xhr_send`, `/jsonp_send` | [`send::xhr_send`], [`send::jsonp_send`] |
//! | `/<server>/<session>/websocket` | [`websocket::framed`] (GET, or CONNECT over HTTP/2) |
//! | `/websocket` | [`websocket::raw`] |
//!
//! Before the handlers, [`guards`] answers 404 for a session URL with an
//! invalid segment and, under a restricted origin policy, 403 for an origin
//! it does not allow. With a cluster directory, the HTTP session routes
//! pass the cluster's `route_to_owner` first, which forwards a request for
//! a session that lives on another node (`crate::cluster`).
//!
//! A request for a session reaches it through the service's state
//! (`crate::state::ServiceState`): its store, admission and the
//! application's handler.

mod guards;
pub(crate) mod iframe;
pub(crate) mod info;
mod path;
pub(crate) mod receive;
pub(crate) mod send;
pub(crate) mod websocket;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::routing::{any, get, post, MethodRouter};
use axum::Router;
use http::Method;

#[cfg(feature = "fuzzing")]
pub(crate) use path::session_segments;
pub(crate) use path::SessionPath;

use crate::protocol::Transport;
use crate::rejection::Rejection;
use crate::state::ServiceState;
use receive::Spec;

/// What every handler takes as `State`.
type Shared = Arc<ServiceState>;

/// The routes of `service`, as its configuration enables them, with the
/// guards in front.
pub(crate) fn routes(service: &Shared) -> Router<Shared> {
    let on = |t: Transport| service.config.is_served(t);
    let session = |name: &str| format!("/{{server}}/{{session}}/{name}");

    // The HTTP session transports: each session's requests are served
    // where it lives (with a cluster directory, possibly another node).
    let mut http: Router<Shared> = Router::new();
    for spec in receive::RECEIVING.iter().filter(|s| on(s.transport)) {
        http = http.route(&session(spec.segment), receiving(spec));
    }
    if on(Transport::XhrPolling) || on(Transport::XhrStreaming) {
        http = http.route(
            &session("xhr_send"),
            post(send::xhr_send).options(send::preflight),
        );
    }
    if on(Transport::JsonpPolling) {
        http = http.route(&session("jsonp_send"), post(send::jsonp_send));
    }
    #[cfg(feature = "cluster")]
    if service.forwarder.is_some() {
        http = http.route_layer(axum::middleware::from_fn_with_state(
            service.clone(),
            crate::cluster::route_to_owner,
        ));
    }

    let mut router: Router<Shared> = Router::new()
        .route("/info", get(info::info).options(info::preflight))
        .merge(http);
    // GET for RFC 6455 over HTTP/1.1; CONNECT for RFC 8441 over HTTP/2.
    if on(Transport::RawWebSocket) {
        router = router.route("/websocket", get(websocket::raw).connect(websocket::raw));
    }
    if on(Transport::WebSocket) {
        router = router.route(
            &session("websocket"),
            get(websocket::framed).connect(websocket::framed),
        );
    }
    if service.config.origins.is_restricted() {
        // Only under a restricted policy: the default one has nothing
        // to check, and a layer costs every request.
        router = router.route_layer(axum::middleware::from_fn_with_state(
            service.clone(),
            guards::allowed_origin,
        ));
    }
    router
        .route_layer(axum::middleware::from_fn(guards::valid_segments))
        // After the layers, not checked: the greeting, and the iframe
        // page (static; under a restricted policy its CSP lets only
        // the allowed origins frame it).
        .route("/", any(info::greeting))
        .route("/{file}", any(iframe::page))
        .fallback(|| async { Rejection::NotFound })
}

/// The method router of one receiving transport: [`receive::receive`] for
/// its method, and the CORS preflight for the xhr family.
fn receiving(spec: &'static Spec) -> MethodRouter<Shared> {
    let handler = move |State(service): State<Shared>,
                        SessionPath(id): SessionPath,
                        request: Request| async move {
        receive::receive(spec, &service, &id, request).await
    };
    if spec.method == Method::POST {
        post(handler).options(send::preflight)
    } else {
        get(handler)
    }
}
