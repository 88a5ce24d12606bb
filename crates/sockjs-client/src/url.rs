//! The service URL (`http://host[:port]/prefix[?query]`) and the URLs of
//! the requests under it, which keep its query string, as sockjs-client's
//! do (a token there reaches every request).

use crate::error::Error;

/// A parsed service URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServiceUrl {
    /// `host[:port]`.
    authority: String,
    /// The prefix, without a trailing slash (`""` at the root).
    path: String,
    /// `?query`, or empty.
    query: String,
}

/// The authority of in-process URLs given as a bare path.
const IN_PROCESS_AUTHORITY: &str = "localhost";

impl ServiceUrl {
    /// Parses `url`. A bare path (`/echo`) is accepted when `in_process`.
    pub(crate) fn parse(url: &str, in_process: bool) -> Result<ServiceUrl, Error> {
        let invalid = |why: &str| Error::InvalidUrl(format!("{url}: {why}"));
        let uri: http::Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
        let authority = match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(authority)) => {
                if authority.as_str().contains('@') {
                    return Err(invalid("user information is not supported"));
                }
                authority.as_str().to_owned()
            }
            (Some("https"), _) => {
                return Err(invalid(
                    "https is not supported (no TLS in this client); use http://",
                ))
            }
            (Some(_), _) => return Err(invalid("the scheme must be http://")),
            (None, None) if in_process && url.starts_with('/') => IN_PROCESS_AUTHORITY.to_owned(),
            (None, _) => return Err(invalid("expected http://host[:port]/prefix")),
        };
        Ok(ServiceUrl {
            authority,
            path: uri.path().trim_end_matches('/').to_owned(),
            query: uri.query().map(|q| format!("?{q}")).unwrap_or_default(),
        })
    }

    /// `http://authority/prefix<suffix>?query`.
    pub(crate) fn http(&self, suffix: &str) -> String {
        format!(
            "http://{}{}{suffix}{}",
            self.authority, self.path, self.query
        )
    }

    /// `ws://authority/prefix<suffix>?query`.
    pub(crate) fn ws(&self, suffix: &str) -> String {
        format!("ws://{}{}{suffix}{}", self.authority, self.path, self.query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = ServiceUrl::parse("http://127.0.0.1:8080/echo/?token=a-token", false).unwrap();
        assert_eq!(
            url.http("/info"),
            "http://127.0.0.1:8080/echo/info?token=a-token"
        );
        assert_eq!(
            url.ws("/000/abc/websocket"),
            "ws://127.0.0.1:8080/echo/000/abc/websocket?token=a-token"
        );
        let root = ServiceUrl::parse("http://example.com", false).unwrap();
        assert_eq!(root.http("/info"), "http://example.com/info");
        let nested = ServiceUrl::parse("http://[::1]:9/a/b", false).unwrap();
        assert_eq!(nested.http("/info"), "http://[::1]:9/a/b/info");
        let bare = ServiceUrl::parse("/chat", true).unwrap();
        assert_eq!(bare.http("/info"), "http://localhost/chat/info");
    }

    #[test]
    fn refusals() {
        for (url, in_process) in [
            ("/chat", false),
            ("chat", true),
            ("https://example.com/echo", false),
            ("ws://example.com/echo", false),
            ("http://user:pw@example.com/echo", false),
            ("http://exa mple.com", false),
        ] {
            assert!(
                matches!(
                    ServiceUrl::parse(url, in_process),
                    Err(Error::InvalidUrl(_))
                ),
                "{url}"
            );
        }
    }
}
