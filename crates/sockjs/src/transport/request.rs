//! Extractors the transports share.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, NestedPath};
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

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        match session_segments(parts.uri.path()) {
            Some((server, session)) if is_valid_segment(server) && is_valid_segment(session) => {
                Ok(SessionPath(session.to_owned()))
            }
            _ => Err(Rejection::NotFound),
        }
    }
}

/// The `<server>` and `<session>` segments of a session URL path (its last
/// three segments are `<server>/<session>/<transport>`), raw: not
/// percent-decoded, as sockjs-node matches `[^/.]+` on the raw path (`%2E`
/// is a valid session id there, and so here).
pub(crate) fn session_segments(path: &str) -> Option<(&str, &str)> {
    let mut segments = path.rsplit('/');
    let _transport = segments.next()?;
    let session = segments.next()?;
    let server = segments.next()?;
    Some((server, session))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_segments_are_raw() {
        assert_eq!(session_segments("/a/b/xhr"), Some(("a", "b")));
        assert_eq!(session_segments("/p/q/%2E/%2f/xhr"), Some(("%2E", "%2f")));
        assert_eq!(session_segments("/b/xhr"), Some(("", "b")));
        assert_eq!(session_segments("b/xhr"), None);
    }
}
