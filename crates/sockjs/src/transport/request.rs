//! Extractors the transports share.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, NestedPath, RawPathParams};
use http::request::Parts;

use crate::protocol::is_valid_segment;
use crate::rejection::Rejection;
use crate::session::ConnectionInfo;
use crate::transport::Transport;

/// The `<session>` of `/<server>/<session>/<transport>`, validated
/// (`[^/.]+` for both segments; the server segment is otherwise ignored).
pub(crate) struct SessionPath(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for SessionPath {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| Rejection::NotFound)?;
        let mut server = None;
        let mut session = None;
        for (name, value) in &params {
            match name {
                "server" => server = Some(value),
                "session" => session = Some(value),
                _ => {}
            }
        }
        match (server, session) {
            (Some(server), Some(session))
                if is_valid_segment(server) && is_valid_segment(session) =>
            {
                Ok(SessionPath(session.to_owned()))
            }
            _ => Err(Rejection::NotFound),
        }
    }
}

/// The connection facts a session on `transport` keeps of the request
/// that opens it.
pub(crate) fn connection_info(parts: &Parts, transport: Transport) -> ConnectionInfo {
    ConnectionInfo {
        transport,
        version: parts.version,
        compressed: false,
        remote_addr: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr),
        headers: ConnectionInfo::safe_headers(&parts.headers),
        path: parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path(), |uri| uri.0.path())
            .to_owned(),
        prefix: parts
            .extensions
            .get::<NestedPath>()
            .map_or("", |p| p.as_str())
            .to_owned(),
        extensions: parts.extensions.clone(),
    }
}
