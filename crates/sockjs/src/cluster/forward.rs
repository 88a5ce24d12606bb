//! The middleware that sends a session's requests to the node holding it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::directory::Owner;
use crate::service::Service;
use crate::transport::SessionPath;

/// Marks a forwarded request: it is served where it lands, never forwarded
/// again (no loops when nodes disagree for a moment).
const FORWARDED: HeaderName = HeaderName::from_static("x-sockjs-forwarded");

/// Headers of one hop only, not forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

fn client() -> &'static Client<HttpConnector, Body> {
    static CLIENT: OnceLock<Client<HttpConnector, Body>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector)
    })
}

/// Whether `transport` (the last path segment) opens sessions.
fn is_receiving(path: &str) -> bool {
    matches!(
        path.rsplit('/').next(),
        Some("xhr" | "xhr_streaming" | "eventsource" | "htmlfile" | "jsonp")
    )
}

/// Serves the request here when this node holds (or now claims) the
/// session, else forwards it to the node that does.
pub(crate) async fn route_to_owner(
    State(service): State<Arc<Service>>,
    SessionPath(id): SessionPath,
    OriginalUri(uri): OriginalUri,
    request: Request,
    next: Next,
) -> Response {
    let Some(directory) = &service.directory else {
        return next.run(request).await;
    };
    if request.headers().contains_key(&FORWARDED) || service.store.get(&id).is_some() {
        return next.run(request).await;
    }
    let key = directory_key(request.extensions(), &id);
    let (owner, claimed) = match directory.owner(&key).await {
        Ok(Owner::Unknown) if is_receiving(uri.path()) => (directory.claim(&key).await, true),
        other => (other, false),
    };
    match owner {
        Ok(Owner::Remote(base)) => forward(&base, &uri, request).await,
        Ok(Owner::Local | Owner::Unknown) => {
            let response = next.run(request).await;
            if claimed && service.store.get(&id).is_none() {
                // Claimed for a session that was not opened after all
                // (refused by the hook, a bad callback, ...).
                directory.release(&key);
            }
            response
        }
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "serving locally");
            next.run(request).await
        }
    }
}

/// The directory key of session `id` of the service nested where the
/// request says: `<prefix>/<id>`.
pub(crate) fn directory_key(extensions: &http::Extensions, id: &str) -> String {
    let prefix = extensions
        .get::<axum::extract::NestedPath>()
        .map_or("", |p| p.as_str());
    format!("{prefix}/{id}")
}

/// Sends `request` to `base` + its original path and query, and streams
/// the answer back.
async fn forward(base: &str, uri: &Uri, request: Request) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(target) = format!("{}{path}", base.trim_end_matches('/')).parse::<Uri>() else {
        return unreachable(base, "bad owner URL");
    };
    let (mut parts, body) = request.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    parts
        .headers
        .insert(FORWARDED, HeaderValue::from_static("1"));
    let client_ip = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    if let Some(ip) = client_ip {
        let forwarded_for = match parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(before) => format!("{before}, {ip}"),
            None => ip,
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
            parts.headers.insert("x-forwarded-for", value);
        }
    }
    parts.uri = target;
    parts.version = http::Version::HTTP_11;
    parts.extensions = http::Extensions::new();
    match client().request(Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => unreachable(base, &e.to_string()),
    }
}

fn unreachable(base: &str, why: &str) -> Response {
    tracing::warn!(owner = %base, error = %why, "session owner unreachable");
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        "Session owner unreachable.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiving_transports() {
        for t in ["xhr", "xhr_streaming", "eventsource", "htmlfile", "jsonp"] {
            assert!(is_receiving(&format!("/echo/0/s/{t}")), "{t}");
        }
        for t in ["xhr_send", "jsonp_send", "websocket"] {
            assert!(!is_receiving(&format!("/echo/0/s/{t}")), "{t}");
        }
    }
}
