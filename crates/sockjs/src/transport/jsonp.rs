//! `jsonp` polling and `jsonp_send`, for browsers with no usable XHR.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use super::htmlfile::callback;
use super::streaming::{reject, serve, Cors, Framing, Receiving};
use super::xhr::deliver;
use super::{SessionPath, Transport};
use crate::headers;
use crate::protocol::parse_payload;
use crate::rejection::Rejection;
use crate::service::Service;

/// Longest callback name `jsonp` accepts.
pub(crate) const MAX_CALLBACK: usize = 32;

/// `GET /<server>/<session>/jsonp?c=<callback>`.
pub(crate) async fn poll(
    State(service): State<Arc<Service>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let callback = match callback(parts.uri.query(), Some(MAX_CALLBACK)) {
        Ok(callback) => callback,
        Err(rejection) => return reject(&service, &parts, rejection),
    };
    let receiving = Receiving {
        transport: Transport::JsonpPolling,
        framing: Framing::Jsonp(callback.into()),
        streaming: false,
        prelude: None,
        content_type: "application/javascript; charset=UTF-8",
        cors: Cors::No,
    };
    let mut response = serve(&service, &id, &mut parts, receiving).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
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
pub(crate) async fn send(
    State(service): State<Arc<Service>>,
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
