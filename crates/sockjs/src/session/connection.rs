//! [`ConnectionInfo`]: the facts a session keeps of the request that
//! opened it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, NestedPath, OriginalUri};
use http::request::Parts;
use http::{Extensions, HeaderMap};

use crate::protocol::Transport;

/// Request headers a session may see: those sockjs-node exposes. `Cookie`
/// and `Authorization` are never among them; use
/// [`Session::extensions`] for what an auth layer decided.
pub(crate) const SAFE_HEADERS: &[&str] = &[
    "referer",
    "x-client-ip",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-cluster-client-ip",
    "via",
    "x-real-ip",
    "x-forwarded-proto",
    "x-ssl",
    "dnt",
    "host",
    "user-agent",
    "accept-language",
];

/// Facts of the request that opened a session.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionInfo {
    pub(crate) transport: Transport,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) version: http::Version,
    pub(crate) compressed: bool,
    pub(crate) headers: HeaderMap,
    pub(crate) path: String,
    /// The opening request's query string, without `?`.
    pub(crate) query: Option<String>,
    pub(crate) prefix: String,
    pub(crate) extensions: Extensions,
}

impl ConnectionInfo {
    /// Keeps only the [`SAFE_HEADERS`] of `all`.
    pub(crate) fn safe_headers(all: &HeaderMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for name in SAFE_HEADERS {
            for value in all.get_all(*name) {
                headers.append(*name, value.clone());
            }
        }
        headers
    }
}

impl ConnectionInfo {
    /// The facts a session on `transport` keeps of the request `parts`
    /// that opens it.
    pub(crate) fn of(parts: &Parts, transport: Transport) -> Self {
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
                .get::<OriginalUri>()
                .map_or_else(|| parts.uri.path(), |uri| uri.0.path())
                .to_owned(),
            query: parts.uri.query().map(str::to_owned),
            prefix: parts
                .extensions
                .get::<NestedPath>()
                .map_or("", |p| p.as_str())
                .to_owned(),
            extensions: parts.extensions.clone(),
        }
    }
}
