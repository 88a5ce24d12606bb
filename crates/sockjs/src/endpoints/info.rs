//! The greeting at the service root and `/info`.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use crate::headers;
use crate::protocol::Transport;
use crate::rejection::Rejection;
use crate::state::ServiceState;

/// `GET /` (and `BASE/` when mounted with `nest_service`):
/// `Welcome to SockJS!\n`. `BASE//` is not the greeting.
pub(crate) async fn greeting(uri: OriginalUri, method: Method) -> Response {
    if uri.path().ends_with("//") {
        return Rejection::NotFound.into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        )],
        "Welcome to SockJS!\n",
    )
        .into_response()
}

/// `GET /info`: what the client needs to pick a transport.
pub(crate) async fn info(State(service): State<Arc<ServiceState>>, request: HeaderMap) -> Response {
    let config = &service.config;
    if service.shutdown.is_shutting_down() {
        // sockjs-client gives up at once instead of trying every transport.
        let mut response = Rejection::ShuttingDown.into_response();
        headers::no_cache(response.headers_mut());
        headers::cors(config, &request, response.headers_mut());
        return response;
    }
    let entropy = uuid::Uuid::new_v4().as_u128() as u32;
    let origins = serde_json::to_string(&service.config.origins.info_list()).unwrap_or_default();
    let body = format!(
        r#"{{"websocket":{},"cookie_needed":{},"origins":{},"entropy":{}}}"#,
        config.is_enabled(Transport::WebSocket),
        config.jsessionid.is_some(),
        origins,
        entropy
    );
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        )],
        body,
    )
        .into_response();
    let out = response.headers_mut();
    headers::no_cache(out);
    headers::cors(config, &request, out);
    response
}

/// `OPTIONS /info`: the CORS preflight.
pub(crate) async fn preflight(
    State(service): State<Arc<ServiceState>>,
    request: HeaderMap,
) -> Response {
    headers::preflight_response(&service.config, &request, "OPTIONS, GET")
}
