//! Every HTTP error answer of the service, as one type.
//!
//! | case | status | body |
//! |---|---|---|
//! | unknown path under the prefix, invalid session URL, disabled transport | 404 | `Not found.` |
//! | `xhr_send` / `jsonp_send` to a session that does not exist | 404 | `Session not found.` |
//! | send body empty, `d=` missing or empty, JSON not an array of strings | 500 | `Payload expected.` |
//! | send body not JSON (or not UTF-8) | 500 | `Broken JSON encoding.` |
//! | `jsonp` / `htmlfile` without `c` (or `callback`) | 500 | `"callback" parameter required` |
//! | callback not `[a-zA-Z0-9_.-]+` (jsonp: or over 32 bytes) | 500 | `invalid "callback" parameter` |
//! | send body over [`Config::max_message_size`](crate::Config::max_message_size) | 413 | `Payload too large.` |
//! | WebSocket URL without a valid upgrade | 400 | `Not a valid websocket request` |
//! | raw `/websocket` with a version other than 8 or 13 | 400 | `Only supported WebSocket protocol is RFC 6455.` |
//! | body could not be read (client went away mid-body) | 400 | `Could not read the request body.` |
//! | a new session (or `/info`) while the [`Shutdown`](crate::Shutdown) runs | 503 | `Server shutting down.` |
//! | `Origin` not allowed by [`Config::allowed_origins`](crate::Config::allowed_origins) | 403 | `Origin not allowed.` |
//! | a new session past [`Config::max_sessions`](crate::Config::max_sessions) | 503 | `Too many sessions.` |
//! | a new session past [`Config::max_sessions_per_address`](crate::Config::max_sessions_per_address) | 429 | `Too many sessions from this address.` |
//! | a send body not complete within [`Config::body_timeout`](crate::Config::body_timeout) | 408 | `Request body timed out.` |
//! | `xhr_send` / `jsonp_send` to a session that is closed but not yet forgotten | 404 | `Session not found.` |
//! | any request of a session from another client than its own, under [`Config::bind_to_address`](crate::Config::bind_to_address) or [`Config::bind_to_handshake`](crate::Config::bind_to_handshake) | 404 | `Session not found.` |
//! | a new session under [`Config::max_sessions_per_address`](crate::Config::max_sessions_per_address) or [`Config::bind_to_address`](crate::Config::bind_to_address) on a server without `ConnectInfo` (no client address) | 500 | `Client address unknown.` |
//! | a send whose messages found no room within [`Config::inbound_timeout`](crate::Config::inbound_timeout) (the session's [`inbound_budget`](crate::Config::inbound_budget) or the service's [`service_inbound_budget`](crate::Config::service_inbound_budget) is used up); none of them is delivered | 503 | `Incoming queue full.` |
//!
//! A known path with the wrong method answers 405 with `Allow` and no body
//! (axum's method routing). The 500s are what sockjs-client and the SockJS
//! protocol definition expect. Bodies are `text/plain; charset=UTF-8`.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::protocol::PayloadError;

/// An error answer of the SockJS service.
///
/// It is the service's own answer, as its [`status`](Self::status) and
/// [`message`](Self::message) say:
///
/// ```
/// use axum::body::Body;
/// use axum::http::Request;
/// use http_body_util::BodyExt;
/// use sockjs::{Rejection, Session};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app: axum::Router = sockjs::router(|_session: Session| async {});
/// let request = Request::post("/000/no-such-session/xhr_send").body(Body::from(r#"["x"]"#)).unwrap();
/// let response = app.oneshot(request).await.unwrap();
///
/// let refusal = Rejection::SessionNotFound;
/// assert_eq!(response.status(), refusal.status());
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(&body[..], refusal.message().as_bytes());
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// 404: no such resource under the prefix.
    NotFound,
    /// 404: sending to a session that does not exist, or is closed.
    SessionNotFound,
    /// 500: the send body is empty or not an array of strings.
    PayloadExpected,
    /// 500: the send body is not valid JSON.
    BrokenJson,
    /// 500: `jsonp` / `htmlfile` without a callback.
    CallbackRequired,
    /// 500: the callback name is not allowed.
    InvalidCallback,
    /// 413: the send body is over the size limit.
    PayloadTooLarge,
    /// 400: not a WebSocket handshake.
    NotWebSocket,
    /// 400: raw WebSocket with an unsupported protocol version.
    UnsupportedWebSocketVersion,
    /// 400: the request body could not be read.
    UnreadableBody,
    /// 503: the service is shutting down and takes no new session.
    ShuttingDown,
    /// 403: the request's `Origin` is not allowed.
    OriginNotAllowed,
    /// 503: the service holds as many sessions as it may.
    TooManySessions,
    /// 429: the client's address holds as many sessions as it may.
    TooManySessionsFromAddress,
    /// 408: the send body did not arrive in time.
    BodyTimeout,
    /// 503: no room for the send's messages within
    /// [`Config::inbound_timeout`](crate::Config::inbound_timeout); none
    /// was delivered.
    IncomingQueueFull,
    /// 500: a per-address setting needs the client's address and the
    /// server gives none (it is not served with `ConnectInfo`).
    ClientAddressUnknown,
}

impl Rejection {
    /// The status code of this answer.
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use sockjs::Rejection;
    ///
    /// assert_eq!(Rejection::OriginNotAllowed.status(), StatusCode::FORBIDDEN);
    /// assert_eq!(Rejection::BrokenJson.status(), StatusCode::INTERNAL_SERVER_ERROR);
    /// ```
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::NotFound | Rejection::SessionNotFound => StatusCode::NOT_FOUND,
            Rejection::PayloadExpected
            | Rejection::BrokenJson
            | Rejection::CallbackRequired
            | Rejection::InvalidCallback => StatusCode::INTERNAL_SERVER_ERROR,
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::NotWebSocket
            | Rejection::UnsupportedWebSocketVersion
            | Rejection::UnreadableBody => StatusCode::BAD_REQUEST,
            Rejection::ShuttingDown | Rejection::TooManySessions | Rejection::IncomingQueueFull => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Rejection::OriginNotAllowed => StatusCode::FORBIDDEN,
            Rejection::TooManySessionsFromAddress => StatusCode::TOO_MANY_REQUESTS,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::ClientAddressUnknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short name of this answer, as the `reason` label of the
    /// [`REJECTED_REQUESTS`](crate::metrics::REJECTED_REQUESTS) metric.
    ///
    /// ```
    /// use sockjs::Rejection;
    ///
    /// assert_eq!(Rejection::TooManySessionsFromAddress.name(), "too_many_sessions_from_address");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Rejection::NotFound => "not_found",
            Rejection::SessionNotFound => "session_not_found",
            Rejection::PayloadExpected => "payload_expected",
            Rejection::BrokenJson => "broken_json",
            Rejection::CallbackRequired => "callback_required",
            Rejection::InvalidCallback => "invalid_callback",
            Rejection::PayloadTooLarge => "payload_too_large",
            Rejection::NotWebSocket => "not_websocket",
            Rejection::UnsupportedWebSocketVersion => "unsupported_websocket_version",
            Rejection::UnreadableBody => "unreadable_body",
            Rejection::ShuttingDown => "shutting_down",
            Rejection::OriginNotAllowed => "origin_not_allowed",
            Rejection::TooManySessions => "too_many_sessions",
            Rejection::TooManySessionsFromAddress => "too_many_sessions_from_address",
            Rejection::BodyTimeout => "body_timeout",
            Rejection::IncomingQueueFull => "incoming_queue_full",
            Rejection::ClientAddressUnknown => "client_address_unknown",
        }
    }

    /// The body text of this answer.
    ///
    /// ```
    /// use sockjs::Rejection;
    ///
    /// assert_eq!(Rejection::ShuttingDown.message(), "Server shutting down.");
    /// ```
    pub fn message(self) -> &'static str {
        match self {
            Rejection::NotFound => "Not found.",
            Rejection::SessionNotFound => "Session not found.",
            Rejection::PayloadExpected => "Payload expected.",
            Rejection::BrokenJson => "Broken JSON encoding.",
            Rejection::CallbackRequired => "\"callback\" parameter required",
            Rejection::InvalidCallback => "invalid \"callback\" parameter",
            Rejection::PayloadTooLarge => "Payload too large.",
            Rejection::NotWebSocket => "Not a valid websocket request",
            Rejection::UnsupportedWebSocketVersion => {
                "Only supported WebSocket protocol is RFC 6455."
            }
            Rejection::UnreadableBody => "Could not read the request body.",
            Rejection::ShuttingDown => "Server shutting down.",
            Rejection::OriginNotAllowed => "Origin not allowed.",
            Rejection::TooManySessions => "Too many sessions.",
            Rejection::TooManySessionsFromAddress => "Too many sessions from this address.",
            Rejection::BodyTimeout => "Request body timed out.",
            Rejection::IncomingQueueFull => "Incoming queue full.",
            Rejection::ClientAddressUnknown => "Client address unknown.",
        }
    }
}

impl From<PayloadError> for Rejection {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Expected => Rejection::PayloadExpected,
            PayloadError::BrokenJson => Rejection::BrokenJson,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.message())
    }
}

impl std::error::Error for Rejection {}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        crate::metrics::rejected(self.status(), self.name());
        (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            )],
            self.message(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_displays_its_status_and_message() {
        assert_eq!(
            Rejection::SessionNotFound.to_string(),
            format!("404 {}", Rejection::SessionNotFound.message())
        );
        assert_eq!(
            Rejection::BrokenJson.to_string(),
            "500 Broken JSON encoding."
        );
    }
}
