//! The axum handlers of the WebSocket endpoints.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap};

use super::{hixie76, rfc6455, session};
use crate::endpoints::SessionPath;
use crate::protocol::Transport;
use crate::rejection::Rejection;
use crate::session::ConnectionInfo;
use crate::state::{transport_span, ServiceState};

/// Whether the request asks for a WebSocket: over HTTP/1.1, `Upgrade:
/// websocket` and a `Connection` header with the `upgrade` token (both
/// case-insensitive); over HTTP/2, an extended CONNECT for `websocket`.
fn asks_for_websocket(parts: &http::request::Parts) -> bool {
    if parts.version == http::Version::HTTP_2 {
        return rfc6455::is_h2_connect(parts);
    }
    is_upgrade(&parts.headers)
}

/// `Upgrade: websocket` and `Connection: upgrade` (HTTP/1.1).
fn is_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    upgrade && connection
}

/// `GET /<server>/<session>/websocket`.
pub(crate) async fn framed(
    State(service): State<Arc<ServiceState>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    upgrade(service, request, Transport::WebSocket, &id).await
}

/// `GET /websocket`: plain text messages, no SockJS framing.
pub(crate) async fn raw(State(service): State<Arc<ServiceState>>, request: Request) -> Response {
    let version = request
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if is_upgrade(request.headers()) && !matches!(version, "8" | "13") {
        return Rejection::UnsupportedWebSocketVersion.into_response();
    }
    upgrade(service, request, Transport::RawWebSocket, "").await
}

/// Upgrades to a session on `transport`; `id` is the URL's session id
/// (for logs; empty on the raw endpoint).
async fn upgrade(
    service: Arc<ServiceState>,
    request: Request,
    transport: Transport,
    id: &str,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    if !asks_for_websocket(&parts) {
        return Rejection::NotWebSocket.into_response();
    }
    let admitted = match service.admit(&mut parts).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    let mut info = ConnectionInfo::of(&parts, transport);
    #[cfg(feature = "deflate")]
    let deflate = if service.config.websocket_compression {
        super::deflate::negotiate(&parts.headers, service.config.websocket_compression_window)
            .map(|n| (n.response, n.window_bits))
    } else {
        None
    };
    #[cfg(not(feature = "deflate"))]
    let deflate = None;
    info.compressed = deflate.is_some();
    let span = transport_span(&info, id);
    let limit = service.config.max_message_size;
    if transport == Transport::WebSocket && hixie76::is_handshake(&parts.headers) {
        let key_timeout = service.config.body_timeout;
        return hixie76::upgrade(&mut parts, limit, key_timeout, move |socket| {
            session::run(service, socket, info, admitted, span)
        });
    }
    rfc6455::upgrade(&mut parts, limit, deflate, move |socket| {
        session::run(service, socket, info, admitted, span)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn upgrade_headers_are_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_upgrade(&h));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        assert!(!is_upgrade(&h));
        h.remove(header::UPGRADE);
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        assert!(!is_upgrade(&h));
    }
}
