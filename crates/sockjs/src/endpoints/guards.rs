//! The checks every request of a service passes before its handler: URL
//! segments and, under a restricted policy, the origin.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::path::session_segments;
use crate::protocol::is_valid_segment;
use crate::rejection::Rejection;
use crate::state::ServiceState;

/// 404 for a session URL whose `<server>` or `<session>` segment is not
/// `[^/.]+`, whatever the method (before method routing can answer 405).
/// The segments are checked raw, not percent-decoded, as in sockjs-node.
pub(super) async fn valid_segments(request: Request, next: Next) -> Response {
    let session_route = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| m.as_str().contains("/{server}/{session}/"));
    let valid = !session_route
        || session_segments(request.uri().path())
            .is_some_and(|(server, session)| is_valid_segment(server) && is_valid_segment(session));
    if valid {
        next.run(request).await
    } else {
        Rejection::NotFound.into_response()
    }
}

/// `403 Origin not allowed.` for a request from an origin the service's
/// policy does not allow (`Config::allowed_origins`). jsonp's receiving
/// requests may lack `Origin` when the unprotected transports are on.
pub(super) async fn allowed_origin(
    State(service): State<Arc<ServiceState>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let path = matched.as_ref().map_or("", |m| m.as_str());
    let jsonp_receive = path.ends_with("/jsonp");
    if service
        .config
        .origins
        .allows(request.headers(), jsonp_receive)
    {
        return next.run(request).await;
    }
    let mut refusal = Rejection::OriginNotAllowed.into_response();
    crate::headers::no_cache(refusal.headers_mut());
    refusal
}
