//! The sending transports, `xhr_send` and `jsonp_send`: a batch of
//! messages for an existing session's application, all or none; and the
//! CORS preflight of the xhr family.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use std::sync::Arc;

use super::SessionPath;
use crate::config::QueueFullPolicy;
use crate::headers;
use crate::protocol::parse_payload;
use crate::rejection::Rejection;
use crate::session::core::{deadline, Core, PushError};
use crate::session::{close_code, CloseReason};
use crate::state::ServiceState;

/// `POST /<server>/<session>/xhr_send`: a JSON array of messages for an
/// existing session; 204 on success.
pub(crate) async fn xhr_send(
    State(service): State<Arc<ServiceState>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let result = deliver(&service, &id, &mut parts, body, |_, bytes| {
        parse_payload(&bytes).map_err(Rejection::from)
    })
    .await;
    let mut response = match result {
        Ok(()) => (
            StatusCode::NO_CONTENT,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            )],
        )
            .into_response(),
        Err(rejection) => rejection.into_response(),
    };
    let out = response.headers_mut();
    headers::session_response(&service.config, &parts.headers, out);
    headers::cors(&service.config, &parts.headers, out);
    response
}

/// `OPTIONS` on `xhr`, `xhr_send` and `xhr_streaming`: no session needed.
pub(crate) async fn preflight(
    State(service): State<Arc<ServiceState>>,
    request: HeaderMap,
) -> Response {
    headers::preflight_response(&service.config, &request, "OPTIONS, POST")
}

/// Reads a send body (bounded), parses it with `parse` and hands the
/// messages to session `id`'s application receiver, all or none. Waits at
/// most `inbound_timeout` for room; then the session's `QueueFullPolicy`
/// applies (under `Close` the session is closed with 1013) and the answer
/// is `503 Incoming queue full.`. A closed session is not found (404): its
/// application will never read what is sent; nor is a session bound to
/// another client ([`ServiceState::recognizes`]).
pub(crate) async fn deliver(
    service: &ServiceState,
    id: &str,
    parts: &mut Parts,
    body: Body,
    parse: impl FnOnce(&HeaderMap, Bytes) -> Result<Vec<String>, Rejection>,
) -> Result<(), Rejection> {
    let request = &parts.headers;
    let limit = service.config.max_message_size;
    let declared = request
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::PayloadTooLarge);
    }
    let deadline = deadline(service.config.inbound_timeout);
    // Concurrent sends to one session take turns, their bodies unread
    // meanwhile: a session holds at most one body beyond its budget. (A
    // send to an unknown or closed session reads and parses its body
    // first, so that its answer is the protocol's: 413 or 500 for a bad
    // body, else 404.)
    let session = match service.store.get(id).filter(|core| !core.is_closed()) {
        Some(core) if service.recognizes(&core, parts).await => Some(core),
        _ => None,
    };
    let _turn = match &session {
        Some(core) => match core.send_turn(deadline).await {
            Ok(turn) => Some(turn),
            Err(false) => None, // closed meanwhile
            Err(true) => return Err(refuse(service, core)),
        },
        None => None,
    };
    let read = axum::body::to_bytes(body, limit);
    let bytes = tokio::time::timeout(service.config.body_timeout, read)
        .await
        .map_err(|_| Rejection::BodyTimeout)?
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Rejection::PayloadTooLarge
            } else {
                Rejection::UnreadableBody
            }
        })?;
    let messages = parse(&parts.headers, bytes)?;
    let core = match &session {
        Some(core) if !core.is_closed() => core,
        _ => return Err(Rejection::SessionNotFound),
    };
    match core.deliver_until(messages, deadline).await {
        Ok(()) => Ok(()),
        Err(PushError::Closed(_)) => Err(Rejection::SessionNotFound),
        Err(PushError::Full(_)) => Err(refuse(service, core)),
    }
}

/// A send found no room in time: the `QueueFullPolicy` decides the
/// session's fate (under `Close` it is closed with 1013), and the send is
/// refused.
fn refuse(service: &ServiceState, core: &Core) -> Rejection {
    if service.config.queue_full == QueueFullPolicy::Close {
        let reason = "Incoming queue full";
        core.close(
            close_code::TRY_AGAIN_LATER,
            reason,
            CloseReason::ServerClosed {
                code: close_code::TRY_AGAIN_LATER,
                reason: reason.into(),
            },
        );
    }
    Rejection::IncomingQueueFull
}

/// The messages of a `jsonp_send` body: a form with `d=<JSON array>`, or
/// the JSON array itself for any other content type.
pub(crate) fn parse_send_body(request: &HeaderMap, body: Bytes) -> Result<Vec<String>, Rejection> {
    let is_form = request
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Ok(parse_payload(&body)?);
    }
    let d = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "d")
        .map(|(_, value)| value)
        .ok_or(Rejection::PayloadExpected)?;
    Ok(parse_payload(d.as_bytes())?)
}

/// `POST /<server>/<session>/jsonp_send`: `ok` on success.
pub(crate) async fn jsonp_send(
    State(service): State<Arc<ServiceState>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let result = deliver(&service, &id, &mut parts, body, parse_send_body).await;
    let mut response = match result {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            )],
            "ok",
        )
            .into_response(),
        Err(rejection) => rejection.into_response(),
    };
    headers::session_response(&service.config, &parts.headers, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h
    }

    #[test]
    fn send_bodies() {
        let plain = HeaderMap::new();
        assert_eq!(
            parse_send_body(&plain, Bytes::from_static(b"[\"x\"]")).unwrap(),
            ["x"]
        );
        assert_eq!(
            parse_send_body(&form(), Bytes::from_static(b"d=%5B%22x%22%5D")).unwrap(),
            ["x"]
        );
        assert_eq!(
            parse_send_body(&form(), Bytes::from_static(b"d=")),
            Err(Rejection::PayloadExpected)
        );
        assert_eq!(
            parse_send_body(&form(), Bytes::from_static(b"")),
            Err(Rejection::PayloadExpected)
        );
        assert_eq!(
            parse_send_body(&form(), Bytes::from_static(b"d=%5B%22x")),
            Err(Rejection::BrokenJson)
        );
        assert_eq!(
            parse_send_body(&plain, Bytes::from_static(b"")),
            Err(Rejection::PayloadExpected)
        );
    }
}
