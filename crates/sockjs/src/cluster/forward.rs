//! The middleware that sends a session's requests to the node holding it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderName, HeaderValue, StatusCode, Uri};
use ring::hmac;

use super::directory::{Directory, DirectoryError, Owner};
use super::forwarding::{Forwarding, MIN_SECRET};
use super::signature;
use crate::endpoints::SessionPath;
use crate::state::ServiceState;

/// Marks a forwarded request, signed ([`signature`]): it is served where it
/// lands, never forwarded again (no loops when nodes disagree for a
/// moment).
const FORWARDED: HeaderName = HeaderName::from_static("x-sockjs-forwarded");

/// Headers starting with this (other than [`FORWARDED`]) are removed from
/// client requests: nothing a client sends may look like a node's.
const FORWARDED_PREFIX: &str = "x-sockjs-forwarded";

/// A service's side of the cluster: its directory, and how it forwards and
/// checks forwarded requests.
pub(crate) struct Forwarder {
    pub(crate) directory: Arc<dyn Directory>,
    forwarding: Forwarding,
    /// The configured secret's key, if one was configured.
    configured: Option<hmac::Key>,
    /// Whether the fallback to the process's secret was logged.
    warned: AtomicBool,
}

impl Forwarder {
    pub(crate) fn new(directory: Arc<dyn Directory>, forwarding: Forwarding) -> Forwarder {
        let configured = match &forwarding.secret {
            Some(secret) if secret.len() >= MIN_SECRET => {
                Some(hmac::Key::new(hmac::HMAC_SHA256, secret))
            }
            Some(_) => {
                tracing::error!(
                    "cluster: the configured forwarding secret is shorter than {MIN_SECRET} bytes; \
                     ignored (the directory's is used)"
                );
                None
            }
            None => None,
        };
        Forwarder {
            directory,
            forwarding,
            configured,
            warned: AtomicBool::new(false),
        }
    }

    /// The key forwarded requests are signed and checked with
    /// ([`Forwarding`]'s order). The directory's secret is asked every
    /// time (it may change: a store that lost it shares a new one), and
    /// directories keep it at hand.
    async fn key(&self) -> Result<hmac::Key, DirectoryError> {
        if let Some(key) = &self.configured {
            return Ok(key.clone());
        }
        let secret = match self.directory.shared_secret().await? {
            Some(secret) if secret.len() >= MIN_SECRET => secret,
            _ => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "cluster: no forwarding secret (neither Forwarding::secret nor the \
                         directory gives one): signing with a secret of this process only, so \
                         nodes in other processes refuse its forwarded requests"
                    );
                }
                process_secret().to_vec()
            }
        };
        Ok(hmac::Key::new(hmac::HMAC_SHA256, &secret))
    }
}

/// A random secret of this process, the same for every service in it.
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut secret = [0; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
            .expect("the system's random source");
        secret
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Headers of one hop only, not forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("keep-alive"),
];

/// Whether `transport` (the last path segment) opens sessions.
fn is_receiving(path: &str) -> bool {
    matches!(
        path.rsplit('/').next(),
        Some("xhr" | "xhr_streaming" | "eventsource" | "htmlfile" | "jsonp")
    )
}

/// Serves the request here when this node holds (or now claims) the
/// session, or when another node forwarded it with a valid signature;
/// else forwards it to the node that holds the session. A forwarding
/// marker that does not verify is refused (403).
pub(crate) async fn route_to_owner(
    State(service): State<Arc<ServiceState>>,
    SessionPath(id): SessionPath,
    OriginalUri(uri): OriginalUri,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(forwarder) = &service.forwarder else {
        return next.run(request).await;
    };
    let directory = &forwarder.directory;
    strip_lookalikes(request.headers_mut());
    let key = directory_key(request.extensions(), &id);
    if let Some(marker) = request.headers_mut().remove(&FORWARDED) {
        return match check(forwarder, &marker, request.method(), &uri, &key).await {
            Ok(()) => next.run(request).await,
            Err(response) => response,
        };
    }
    if service.store.get(&id).is_some() {
        return next.run(request).await;
    }
    let (owner, claimed) = match directory.owner(&key).await {
        Ok(Owner::Unknown) if is_receiving(uri.path()) => (directory.claim(&key).await, true),
        other => (other, false),
    };
    match owner {
        Ok(Owner::Remote(base)) => match forwarder.key().await {
            Ok(secret) => forward(forwarder, &secret, &base, &uri, &key, request).await,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "no forwarding secret; serving locally");
                next.run(request).await
            }
        },
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

/// Removes every `X-SockJS-Forwarded-*` header: only the marker itself
/// means anything, and only when signed.
fn strip_lookalikes(headers: &mut http::HeaderMap) {
    let lookalikes: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            name.len() > FORWARDED_PREFIX.len() && name.starts_with(FORWARDED_PREFIX)
        })
        .cloned()
        .collect();
    for name in lookalikes {
        headers.remove(name);
    }
}

/// Whether `marker` proves that a node forwarded this request; the answer
/// to send when it does not.
async fn check(
    forwarder: &Forwarder,
    marker: &HeaderValue,
    method: &http::Method,
    uri: &Uri,
    key: &str,
) -> Result<(), Response> {
    let secret = match forwarder.key().await {
        Ok(secret) => secret,
        Err(e) => {
            tracing::warn!(error = %e, "no forwarding secret to check a forwarded request with");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
                "Cluster secret unavailable.",
            )
                .into_response());
        }
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    signature::verify(
        &secret,
        marker.as_bytes(),
        method.as_str(),
        path,
        key,
        unix_now(),
        forwarder.forwarding.max_skew,
    )
    .map_err(|why| {
        tracing::warn!(session_key = %key, reason = %why, "forwarded request refused");
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
            "Forwarded request not authenticated.",
        )
            .into_response()
    })
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
async fn forward(
    forwarder: &Forwarder,
    secret: &hmac::Key,
    base: &str,
    uri: &Uri,
    key: &str,
    request: Request,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(target) = format!("{}{path}", base.trim_end_matches('/')).parse::<Uri>() else {
        return unreachable(base, "bad owner URL");
    };
    let (mut parts, body) = request.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    let marker = signature::sign(secret, parts.method.as_str(), path, key, unix_now());
    match HeaderValue::from_str(&marker) {
        Ok(marker) => parts.headers.insert(FORWARDED, marker),
        Err(_) => return unreachable(base, "unsignable request"),
    };
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
    let client = forwarder.forwarding.client();
    match client.request(Request::from_parts(parts, body)).await {
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
    fn lookalike_headers_are_stripped() {
        let mut headers = http::HeaderMap::new();
        for name in [
            "x-sockjs-forwarded",
            "x-sockjs-forwarded-for",
            "X-SockJS-Forwarded-Secret",
            "x-sockjs-forwardedx",
            "x-forwarded-for",
        ] {
            headers.insert(
                HeaderName::try_from(name).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        strip_lookalikes(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-forwarded-for", "x-sockjs-forwarded"]);
    }

    /// A directory that gives this shared secret (or none).
    struct Giving(Option<&'static [u8]>);

    impl Directory for Giving {
        fn owner<'a>(
            &'a self,
            _key: &'a str,
        ) -> super::super::directory::BoxFuture<'a, Result<Owner, DirectoryError>> {
            Box::pin(async { Ok(Owner::Local) })
        }
        fn claim<'a>(
            &'a self,
            _key: &'a str,
        ) -> super::super::directory::BoxFuture<'a, Result<Owner, DirectoryError>> {
            Box::pin(async { Ok(Owner::Local) })
        }
        fn release(&self, _key: &str) {}
        fn shared_secret(
            &self,
        ) -> super::super::directory::BoxFuture<'_, Result<Option<Vec<u8>>, DirectoryError>>
        {
            let secret = self.0.map(<[u8]>::to_vec);
            Box::pin(async move { Ok(secret) })
        }
    }

    /// Whether `key` signs as a key of `secret` does.
    fn signs_as(key: &hmac::Key, secret: &[u8]) -> bool {
        let tag = hmac::sign(key, b"GET /echo/0/s/xhr");
        hmac::verify(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            b"GET /echo/0/s/xhr",
            tag.as_ref(),
        )
        .is_ok()
    }

    #[tokio::test]
    async fn signs_with_the_configured_secret_then_the_directorys() {
        let directory = Arc::new(super::super::MemoryDirectory::new("http://a"));
        let shared = directory.shared_secret().await.unwrap().unwrap();
        let forwarder = Forwarder::new(directory.clone(), Forwarding::new());
        let key = forwarder.key().await.unwrap();
        assert!(signs_as(&key, &shared), "the directory's secret");
        assert!(!signs_as(&key, process_secret()));

        let mine = b"a secret of at least sixteen bytes";
        let forwarder = Forwarder::new(directory, Forwarding::new().secret(mine));
        assert!(signs_as(&forwarder.key().await.unwrap(), mine));
    }

    #[tokio::test]
    async fn without_a_secret_signs_with_a_random_one_of_the_process_and_warns_once() {
        // A constant here would let anyone forge the forwarding marker.
        let secret = process_secret();
        assert!(secret.iter().any(|&b| b != secret[0]), "{secret:?}");
        assert_eq!(process_secret(), secret, "one per process");

        let warnings = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = warnings.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::io::sink()
            })
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let forwarder = Forwarder::new(Arc::new(Giving(None)), Forwarding::new());
        for _ in 0..3 {
            assert!(signs_as(&forwarder.key().await.unwrap(), secret));
        }
        assert_eq!(warnings.load(Ordering::SeqCst), 1, "warned once");
    }

    #[tokio::test]
    async fn a_short_directory_secret_is_not_used() {
        let short: &[u8] = b"fifteen bytes!!";
        assert_eq!(short.len(), MIN_SECRET - 1);
        let forwarder = Forwarder::new(Arc::new(Giving(Some(short))), Forwarding::new());
        let key = forwarder.key().await.unwrap();
        assert!(!signs_as(&key, short));
        assert!(signs_as(&key, process_secret()));
        let long: &[u8] = b"sixteen bytes!!!";
        let forwarder = Forwarder::new(Arc::new(Giving(Some(long))), Forwarding::new());
        assert!(signs_as(&forwarder.key().await.unwrap(), long));
    }

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
