//! Where a session URL points: `/<server>/<session>/<transport>`.

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::protocol::is_valid_segment;
use crate::rejection::Rejection;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(path: &str) -> Option<String> {
        let (mut parts, ()) = http::Request::builder()
            .uri(path)
            .body(())
            .unwrap()
            .into_parts();
        let extracted = SessionPath::from_request_parts(&mut parts, &());
        futures_util::FutureExt::now_or_never(extracted)
            .expect("ready at once")
            .ok()
            .map(|SessionPath(id)| id)
    }

    /// The extractor checks both segments itself, whatever route it is
    /// used behind (the segment guard in front is a second line).
    #[test]
    fn the_extractor_takes_valid_segments_only() {
        assert_eq!(extract("/a/b/xhr").as_deref(), Some("b"));
        assert_eq!(extract("/a.1/b/xhr"), None);
        assert_eq!(extract("/a/b.1/xhr"), None);
        assert_eq!(extract("//b/xhr"), None);
        assert_eq!(extract("/a//xhr"), None);
    }

    #[test]
    fn session_segments_are_raw() {
        assert_eq!(session_segments("/a/b/xhr"), Some(("a", "b")));
        assert_eq!(session_segments("/p/q/%2E/%2f/xhr"), Some(("%2E", "%2f")));
        assert_eq!(session_segments("/b/xhr"), Some(("", "b")));
        assert_eq!(session_segments("b/xhr"), None);
    }
}
