//! The iframe page that cross-domain transports load from the server's
//! origin; it runs sockjs-client from the configured `sockjs_url`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, Method, StatusCode};

use crate::protocol::is_valid_iframe_name;
use crate::rejection::Rejection;
use crate::state::ServiceState;

/// `/{file}`: the iframe page for `iframe*.html`, 404 for anything else.
pub(crate) async fn page(
    State(service): State<Arc<ServiceState>>,
    Path(file): Path<String>,
    method: Method,
    request: HeaderMap,
) -> Response {
    if !is_valid_iframe_name(&file) || !service.config.cors {
        return Rejection::NotFound.into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET")]).into_response();
    }
    service.iframe.respond(request.get(header::IF_NONE_MATCH))
}
