//! [`OriginPolicy`]: which web origins may use a service
//! ([`Config::allowed_origins`](crate::Config::allowed_origins)).
//!
//! Pure: a policy, the patterns it is made of, and the decision for one
//! request's headers. The endpoints' guard applies it to every request
//! but the greeting and the iframe page.

use std::fmt;

use http::header::{self, HeaderMap};

/// One allowed-origin pattern: `scheme://host[:port]`, where the host may
/// start with `*.` (any subdomain, not the domain itself) and the port may
/// be `*` (any port). Default ports are left out, as browsers send them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OriginPattern {
    /// As given, for `/info` and the iframe page's CSP.
    text: String,
    scheme: String,
    host: Host,
    port: Port,
}

#[derive(Clone, PartialEq, Eq)]
enum Host {
    Exact(String),
    /// `.example.com`: any host ending with it.
    Subdomains(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Port {
    /// The scheme's default (none in the `Origin` header).
    Default,
    Number(u16),
    Any,
}

/// Why a pattern was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadPattern(pub(crate) String);

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '[' | ']' | ':')
}

impl OriginPattern {
    pub(crate) fn parse(text: &str) -> Result<OriginPattern, BadPattern> {
        let bad = |why: &str| BadPattern(format!("allowed origin {text:?}: {why}"));
        let lower = text.trim().trim_end_matches('/').to_ascii_lowercase();
        let (scheme, rest) = lower
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://host[:port]"))?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(bad("invalid scheme"));
        }
        if rest.contains('/') || rest.contains('?') || rest.contains('#') || rest.contains('@') {
            return Err(bad("an origin has no path, query or user"));
        }
        // A port is after the last `:` outside an IPv6 literal's brackets.
        let (host, port) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let port = match port {
            None => Port::Default,
            Some("*") => Port::Any,
            Some(p) => {
                let n: u16 = p.parse().map_err(|_| bad("invalid port"))?;
                if default_port(scheme) == Some(n) {
                    Port::Default
                } else {
                    Port::Number(n)
                }
            }
        };
        let host = match host.strip_prefix("*.") {
            Some(domain) if !domain.is_empty() && !domain.contains('*') => {
                Host::Subdomains(format!(".{domain}"))
            }
            Some(_) => return Err(bad("`*.` must be followed by a domain")),
            None if host.is_empty() => return Err(bad("no host")),
            None if host.contains('*') => {
                return Err(bad(
                    "`*` is only allowed as the first label (`*.example.com`)",
                ))
            }
            None => Host::Exact(host.to_owned()),
        };
        let (Host::Exact(h) | Host::Subdomains(h)) = &host;
        if !h.chars().all(is_host_char) {
            return Err(bad("invalid host"));
        }
        Ok(OriginPattern {
            text: text.trim().trim_end_matches('/').to_owned(),
            scheme: scheme.to_owned(),
            host,
            port,
        })
    }

    /// Whether the `Origin` header value `origin` is allowed by this pattern.
    fn matches(&self, origin: &str) -> bool {
        let Some((scheme, host, port)) = split_origin(origin) else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case(&self.scheme) {
            return false;
        }
        let port_ok = match (self.port, port) {
            (Port::Any, _) => true,
            (Port::Default, None) => true,
            (Port::Default, Some(p)) => default_port(&self.scheme) == Some(p),
            (Port::Number(n), Some(p)) => n == p,
            (Port::Number(_), None) => false,
        };
        let host = host.to_ascii_lowercase();
        let host_ok = match &self.host {
            Host::Exact(h) => *h == host,
            Host::Subdomains(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
        };
        port_ok && host_ok
    }
}

/// `scheme://host[:port]` of an `Origin` value, or `None` when it is not one.
fn split_origin(origin: &str) -> Option<(&str, &str, Option<u16>)> {
    let (scheme, rest) = origin.split_once("://")?;
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    match rest.rfind(':') {
        Some(i) if !rest[i..].contains(']') => {
            Some((scheme, &rest[..i], Some(rest[i + 1..].parse().ok()?)))
        }
        _ => Some((scheme, rest, None)),
    }
}

/// Which web origins may use a service: the value of
/// [`Config::allowed_origins`](crate::Config::allowed_origins).
///
/// [`any`](Self::any) (the default, as in sockjs-node) or
/// [`only`](Self::only) a list of patterns, `scheme://host[:port]`, where
/// the host may start with `*.` (any subdomain, not the domain itself) and
/// the port may be `*`: `"https://app.example"`, `"https://*.example.com"`,
/// `"http://localhost:*"`. A list converts into a policy, so
/// `allowed_origins(["https://app.example"])` is `only` those.
///
/// Under a list (each setting below has no effect under `any`):
/// - `Origin: null` (sandboxed iframes, `file:` pages) is refused unless
///   [`allow_null`](Self::allow_null);
/// - requests without `Origin` (non-browser clients, browsers' same-origin
///   `GET`s) are allowed unless [`allow_missing`](Self::allow_missing) is
///   off, except when the browser says they come from another site
///   (`Sec-Fetch-Site`), as a `<script>` or `<img>` tag's do;
/// - jsonp-polling is off (404): its `<script>` requests carry no `Origin`
///   and any page can read what they return; see
///   [`unprotected_transports`](Self::unprotected_transports).
///
/// ```
/// use sockjs::{Config, OriginPolicy};
///
/// // Only the app's pages, and its sandboxed iframe; no command-line clients.
/// let policy = OriginPolicy::only(["https://app.example", "https://*.app.example"])
///     .allow_null(true)
///     .allow_missing(false);
/// let config = Config::default().allowed_origins(policy);
/// # let _ = config;
/// // A plain list is `OriginPolicy::only` with the defaults.
/// let config = Config::default().allowed_origins(["https://app.example"]);
/// # let _ = config;
/// ```
#[derive(Clone, Default)]
pub struct OriginPolicy {
    /// `None`: every origin.
    patterns: Option<Vec<OriginPattern>>,
    null: bool,
    missing: bool,
    unprotected: bool,
}

impl OriginPolicy {
    /// Every origin may use the service, as in sockjs-node (the default).
    ///
    /// ```
    /// use sockjs::{Config, OriginPolicy};
    ///
    /// let config = Config::default().allowed_origins(OriginPolicy::any());
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn any() -> Self {
        OriginPolicy::default()
    }

    /// Only pages of these origins may use the service: every request (but
    /// the greeting and the iframe page) and WebSocket upgrade with an
    /// `Origin` outside the list gets `403 Origin not allowed.`, and no
    /// session. CORS answers only ever name allowed origins, `/info` lists
    /// the patterns in `origins`, and the iframe page may only be framed by
    /// them (`Content-Security-Policy: frame-ancestors`).
    ///
    /// List the service's own public origin too (`https://sockjs.example`
    /// for a service at `https://sockjs.example/echo`): its iframe page,
    /// which sockjs-client's iframe-based transports load, and pages of the
    /// service's own site send it. It is not derived from the request's
    /// `Host`, which the client chooses: a page of `http://evil.example`
    /// whose name the attacker pointed at this server (DNS rebinding) sends
    /// `Origin: http://evil.example` and `Host: evil.example`, and is
    /// refused like any other origin that is not listed.
    ///
    /// # Panics
    ///
    /// When a pattern is not of the form above: a configuration mistake,
    /// found when the service is configured.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, OriginPolicy, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let policy = OriginPolicy::only(["https://app.example", "https://*.app.example"]);
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().allowed_origins(policy))
    ///     .into_router::<()>();
    /// let status = |origin| {
    ///     let app = app.clone();
    ///     let request = Request::get("/info").header("origin", origin).body(Body::empty()).unwrap();
    ///     async move { app.oneshot(request).await.unwrap().status() }
    /// };
    /// assert_eq!(status("https://app.example").await, StatusCode::OK);
    /// assert_eq!(status("https://eu.app.example").await, StatusCode::OK);
    /// assert_eq!(status("https://evil.example").await, StatusCode::FORBIDDEN);
    /// # }
    /// ```
    #[must_use]
    pub fn only<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let patterns = origins
            .into_iter()
            .map(|o| OriginPattern::parse(o.as_ref()).unwrap_or_else(|e| panic!("{}", e.0)))
            .collect();
        OriginPolicy {
            patterns: Some(patterns),
            null: false,
            missing: true,
            unprotected: false,
        }
    }

    /// Under a list, whether `Origin: null` (sandboxed iframes, `file:`
    /// pages, which anyone can make) is allowed. Default: no.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, OriginPolicy, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let strict = OriginPolicy::only(["https://app.example"]);
    /// // Also serve a sandboxed iframe of the app (its origin is `null`).
    /// let lenient = strict.clone().allow_null(true);
    /// for (policy, expected) in [(strict, StatusCode::FORBIDDEN), (lenient, StatusCode::OK)] {
    ///     let config = Config::default().allowed_origins(policy);
    ///     let app = SockJsRouter::new(|_session: Session| async {}).config(config).into_router::<()>();
    ///     let request = Request::get("/info").header("origin", "null").body(Body::empty()).unwrap();
    ///     assert_eq!(app.oneshot(request).await.unwrap().status(), expected);
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn allow_null(mut self, allow: bool) -> Self {
        self.null = allow;
        self
    }

    /// Under a list, whether requests without `Origin` are allowed:
    /// non-browser clients, and browsers' same-origin `GET`s (an
    /// eventsource on the page's own origin). Turn it off to admit browsers
    /// of the allowed origins only. Default: yes.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, OriginPolicy, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // Browsers of app.example only: no command-line clients.
    /// let policy = OriginPolicy::only(["https://app.example"]).allow_missing(false);
    /// let app = SockJsRouter::new(|_session: Session| async {})
    ///     .config(Config::default().allowed_origins(policy))
    ///     .into_router::<()>();
    /// let response = app.oneshot(Request::get("/info").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::FORBIDDEN);
    /// # }
    /// ```
    #[must_use]
    pub fn allow_missing(mut self, allow: bool) -> Self {
        self.missing = allow;
        self
    }

    /// Keeps jsonp-polling on under a list, without an origin check on its
    /// receiving requests: a `<script>` tag sends no `Origin`, and whatever
    /// page includes it reads the frames, so any site can open a session
    /// with the user's cookies and read it. Only for clients that have
    /// nothing better (IE 7 and older) and services with nothing to
    /// protect. Default: off.
    ///
    /// ```
    /// use axum::body::Body;
    /// use axum::http::{Request, StatusCode};
    /// use sockjs::{Config, OriginPolicy, Session, SockJsRouter};
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let strict = OriginPolicy::only(["https://app.example"]);
    /// // Public, read-only data for any page, down to IE 7.
    /// let public = strict.clone().unprotected_transports(true);
    /// for (policy, expected) in [(strict, StatusCode::NOT_FOUND), (public, StatusCode::OK)] {
    ///     let config = Config::default().allowed_origins(policy);
    ///     let app = SockJsRouter::new(|_session: Session| async {}).config(config).into_router::<()>();
    ///     let request = Request::get("/000/abc/jsonp?c=cb").body(Body::empty()).unwrap();
    ///     assert_eq!(app.oneshot(request).await.unwrap().status(), expected);
    /// }
    /// # }
    /// ```
    #[must_use]
    pub fn unprotected_transports(mut self, on: bool) -> Self {
        self.unprotected = on;
        self
    }

    /// Whether the policy restricts anything (a list, not `any`).
    pub(crate) fn is_restricted(&self) -> bool {
        self.patterns.is_some()
    }

    /// Whether jsonp-polling is served: not under a list, unless
    /// [`unprotected_transports`](Self::unprotected_transports).
    pub(crate) fn serves_jsonp(&self) -> bool {
        !self.is_restricted() || self.unprotected
    }

    /// Whether a request with these headers may go on. `jsonp_receive`: a
    /// jsonp receiving request, which passes without `Origin` even from
    /// another site when the unprotected transports are on.
    pub(crate) fn allows(&self, request: &HeaderMap, jsonp_receive: bool) -> bool {
        let Some(patterns) = &self.patterns else {
            return true;
        };
        let Some(origin) = request.get(header::ORIGIN) else {
            let exempt = jsonp_receive && self.unprotected;
            return exempt || (self.missing && !is_from_another_site(request));
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if origin == "null" {
            return self.null;
        }
        patterns.iter().any(|p| p.matches(origin))
    }

    /// The `origins` list of `/info`: `*:*` or the patterns.
    pub(crate) fn info_list(&self) -> Vec<String> {
        match &self.patterns {
            None => vec!["*:*".to_owned()],
            Some(patterns) => patterns.iter().map(|p| p.text.clone()).collect(),
        }
    }

    /// The iframe page's `Content-Security-Policy` value: only the service
    /// itself and the allowed origins may frame it.
    pub(crate) fn frame_ancestors(&self) -> Option<String> {
        let patterns = self.patterns.as_ref()?;
        let mut csp = String::from("frame-ancestors 'self'");
        for p in patterns {
            csp.push(' ');
            csp.push_str(&p.text);
        }
        Some(csp)
    }
}

/// A browser says the request comes from a page of another site and was
/// made without CORS (a `<script>`, `<img>` or `<iframe>`), which is why it
/// carries no `Origin`.
fn is_from_another_site(request: &HeaderMap) -> bool {
    request
        .get("sec-fetch-site")
        .is_some_and(|v| v == "cross-site" || v == "same-site")
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.patterns {
            None => f.write_str("OriginPolicy::Any"),
            Some(patterns) => f
                .debug_struct("OriginPolicy::Only")
                .field(
                    "patterns",
                    &patterns.iter().map(|p| &p.text).collect::<Vec<_>>(),
                )
                .field("null", &self.null)
                .field("missing", &self.missing)
                .field("unprotected_transports", &self.unprotected)
                .finish(),
        }
    }
}

/// A list of patterns is [`OriginPolicy::only`] them.
impl<S: AsRef<str>, const N: usize> From<[S; N]> for OriginPolicy {
    fn from(origins: [S; N]) -> Self {
        OriginPolicy::only(origins)
    }
}

/// A list of patterns is [`OriginPolicy::only`] them.
impl<S: AsRef<str>> From<Vec<S>> for OriginPolicy {
    fn from(origins: Vec<S>) -> Self {
        OriginPolicy::only(origins)
    }
}

/// A list of patterns is [`OriginPolicy::only`] them.
impl<S: AsRef<str>> From<&[S]> for OriginPolicy {
    fn from(origins: &[S]) -> Self {
        OriginPolicy::only(origins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn only(patterns: &[&str]) -> OriginPolicy {
        OriginPolicy::only(patterns)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn patterns() {
        let p = OriginPattern::parse("https://app.example").unwrap();
        assert!(p.matches("https://app.example"));
        assert!(p.matches("HTTPS://APP.EXAMPLE"));
        assert!(p.matches("https://app.example:443"));
        assert!(!p.matches("http://app.example"));
        assert!(!p.matches("https://app.example:8443"));
        assert!(!p.matches("https://app.example.evil"));
        assert!(!p.matches("https://evil-app.example"));

        let p = OriginPattern::parse("https://*.example.com").unwrap();
        assert!(p.matches("https://a.example.com"));
        assert!(p.matches("https://a.b.example.com"));
        assert!(!p.matches("https://example.com"));
        assert!(!p.matches("https://evilexample.com"));
        assert!(!p.matches("https://a.example.com.evil"));

        let p = OriginPattern::parse("http://localhost:*").unwrap();
        assert!(p.matches("http://localhost:3000"));
        assert!(p.matches("http://localhost"));

        // A default port written out is the default: the browser leaves
        // it out of `Origin`.
        for (pattern, origin) in [
            ("http://a.example:80", "http://a.example"),
            ("ws://a.example:80", "ws://a.example"),
            ("https://a.example:443", "https://a.example"),
            ("wss://a.example:443", "wss://a.example"),
            ("http://a.example", "http://a.example:80"),
            ("ws://a.example", "ws://a.example:80"),
        ] {
            let p = OriginPattern::parse(pattern).unwrap();
            assert!(p.matches(origin), "{pattern} {origin}");
        }
        let p = OriginPattern::parse("http://a.example:443").unwrap();
        assert!(!p.matches("http://a.example"));

        // An IPv6 literal's colons are not a port's.
        let p = OriginPattern::parse("http://[::1]").unwrap();
        assert!(p.matches("http://[::1]"));
        assert!(!p.matches("http://[::1]:8080"));
        let p = OriginPattern::parse("http://[::1]:8080").unwrap();
        assert!(p.matches("http://[::1]:8080"));
        assert!(!p.matches("http://[::1]"));

        // `*.example.com` is not `example.com`, nor an empty first label.
        let p = OriginPattern::parse("https://*.example.com").unwrap();
        assert!(!p.matches("https://.example.com"));
        // An `Origin` with a path is no origin: its host would end with
        // the allowed domain.
        for pattern in ["https://*.example.com", "https://*.example.com:*"] {
            let p = OriginPattern::parse(pattern).unwrap();
            assert!(!p.matches("https://evil.test/.example.com"), "{pattern}");
            assert!(!p.matches("https://"), "{pattern}");
        }

        let p = OriginPattern::parse("http://127.0.0.1:8080/").unwrap();
        assert!(p.matches("http://127.0.0.1:8080"));
        assert!(!p.matches("http://127.0.0.1:8081"));
        assert!(!p.matches("http://127.0.0.1"));
    }

    #[test]
    fn bad_patterns() {
        for bad in [
            "app.example",
            "https://",
            "https://a.example/path",
            "https://*",
            "https://a.*.example",
            "https://a.example:port",
            "https://user@a.example",
            "https://a.example?x",
            "https://a.example#x",
            "*",
            "://a.example",
            "ht tp://a.example",
            "h_t://a.example",
            "https://a b.example",
            "https://a%2e.example",
            "https://a!.example",
            "https://*.a$.example",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
        // Each part an origin cannot have is named as such (the host check
        // would refuse them too, as an invalid host).
        for bad in [
            "https://a.example/path",
            "https://a.example?x",
            "https://a.example#x",
            "https://user@a.example",
        ] {
            let why = OriginPattern::parse(bad).err().expect(bad).0;
            assert!(
                why.ends_with("an origin has no path, query or user"),
                "{why}"
            );
        }
        for (bad, because) in [
            ("https://:443", "no host"),
            ("https://*.", "`*.` must be followed by a domain"),
            ("https://*.*.example", "`*.` must be followed by a domain"),
            (
                "https://a.*.example",
                "`*` is only allowed as the first label",
            ),
            (
                "https://a.example*",
                "`*` is only allowed as the first label",
            ),
        ] {
            let why = OriginPattern::parse(bad).err().expect(bad).0;
            assert!(why.contains(because), "{bad}: {why}");
        }
    }

    #[test]
    fn decisions() {
        let policy = only(&["https://app.example"]);
        let allows = |pairs: &[(&'static str, &'static str)]| policy.allows(&headers(pairs), false);
        assert!(allows(&[("origin", "https://app.example")]));
        assert!(!allows(&[("origin", "https://evil.example")]));
        assert!(!allows(&[("origin", "null")]));
        // No Origin: a non-browser client or a same-origin GET...
        assert!(allows(&[]));
        assert!(allows(&[("sec-fetch-site", "same-origin")]));
        // ...but not a script or image tag of another site.
        assert!(!allows(&[("sec-fetch-site", "cross-site")]));
        // A jsonp receiving request passes without Origin only when the
        // unprotected transports are on.
        let cross_site = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(!policy.allows(&cross_site, true));
        let unprotected = policy.clone().unprotected_transports(true);
        assert!(unprotected.allows(&cross_site, true));
        assert!(!unprotected.allows(&cross_site, false));
        // `Host` proves nothing: an origin equal to it is refused unless
        // listed (DNS rebinding: evil.example resolved to this server),
        // whatever the scheme.
        for (origin, host) in [
            ("http://evil.example", "evil.example"),
            ("http://sockjs.example:8080", "sockjs.example:8080"),
            ("https://sockjs.example", "sockjs.example:443"),
            ("ftp://sockjs.example", "sockjs.example"),
            ("http://app.example", "app.example"),
            ("garbage", "garbage"),
        ] {
            assert!(!allows(&[("origin", origin), ("host", host)]), "{origin}");
        }
        // The service's own origin is allowed when it is configured.
        let own = only(&["https://app.example", "https://sockjs.example"]);
        assert!(own.allows(
            &headers(&[
                ("origin", "https://sockjs.example"),
                ("host", "evil.example")
            ]),
            false
        ));

        assert!(OriginPolicy::any().allows(&headers(&[("origin", "https://evil.example")]), false));
        assert_eq!(
            only(&["https://a.example", "https://*.b.example"])
                .frame_ancestors()
                .unwrap(),
            "frame-ancestors 'self' https://a.example https://*.b.example"
        );
    }

    /// A list is `only` its patterns, from an array, a `Vec` or a slice; the
    /// `Debug` of a policy shows what it allows.
    #[test]
    fn lists_and_debug() {
        let allowed = headers(&[("origin", "https://a.example")]);
        let other = headers(&[("origin", "https://b.example")]);
        for policy in [
            OriginPolicy::from(["https://a.example"]),
            OriginPolicy::from(vec!["https://a.example"]),
            OriginPolicy::from(&["https://a.example"][..]),
        ] {
            assert!(policy.allows(&allowed, false));
            assert!(!policy.allows(&other, false));
            assert_eq!(
                format!("{policy:?}"),
                "OriginPolicy::Only { patterns: [\"https://a.example\"], null: false, \
                 missing: true, unprotected_transports: false }"
            );
        }
        assert_eq!(format!("{:?}", OriginPolicy::any()), "OriginPolicy::Any");
    }
}
