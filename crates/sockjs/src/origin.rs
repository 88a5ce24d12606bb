//! Which web origins may use a service ([`Config::allowed_origins`](crate::Config::allowed_origins)).
//!
//! Pure: a policy, the patterns it is made of, and the decision for one
//! request's headers. The router applies it to every request but the
//! greeting.

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

/// Who may use a service.
#[derive(Clone, Default)]
pub(crate) enum OriginPolicy {
    /// Every origin, as sockjs-node (the default).
    #[default]
    Any,
    /// Only these origins. The service's own origin is not implied: a
    /// request's `Host` is the client's to choose (DNS rebinding), so the
    /// service's public origin is allowed only when it is listed.
    Only {
        patterns: Vec<OriginPattern>,
        /// `Origin: null` (sandboxed frames, `file:` pages).
        null: bool,
        /// Requests without `Origin` that do not say they come from another
        /// site (non-browser clients, same-origin `GET`s).
        missing: bool,
    },
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginPolicy::Any => f.write_str("Any"),
            OriginPolicy::Only {
                patterns,
                null,
                missing,
            } => f
                .debug_struct("Only")
                .field(
                    "patterns",
                    &patterns.iter().map(|p| &p.text).collect::<Vec<_>>(),
                )
                .field("null", null)
                .field("missing", missing)
                .finish(),
        }
    }
}

impl OriginPolicy {
    /// Whether a request with these headers may go on. `exempt_missing`:
    /// a request without `Origin` passes even from another site (the
    /// explicitly unprotected jsonp transport).
    pub(crate) fn allows(&self, request: &HeaderMap, exempt_missing: bool) -> bool {
        let OriginPolicy::Only {
            patterns,
            null,
            missing,
        } = self
        else {
            return true;
        };
        let Some(origin) = request.get(header::ORIGIN) else {
            return exempt_missing || (*missing && !is_from_another_site(request));
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        if origin == "null" {
            return *null;
        }
        patterns.iter().any(|p| p.matches(origin))
    }

    /// The `origins` list of `/info`: `*:*` or the patterns.
    pub(crate) fn info_list(&self) -> Vec<String> {
        match self {
            OriginPolicy::Any => vec!["*:*".to_owned()],
            OriginPolicy::Only { patterns, .. } => {
                patterns.iter().map(|p| p.text.clone()).collect()
            }
        }
    }

    /// The iframe page's `Content-Security-Policy` value: only the service
    /// itself and the allowed origins may frame it.
    pub(crate) fn frame_ancestors(&self) -> Option<String> {
        let OriginPolicy::Only { patterns, .. } = self else {
            return None;
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn only(patterns: &[&str]) -> OriginPolicy {
        OriginPolicy::Only {
            patterns: patterns
                .iter()
                .map(|p| OriginPattern::parse(p).unwrap())
                .collect(),
            null: false,
            missing: true,
        }
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
            "*",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
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
        assert!(policy.allows(&headers(&[("sec-fetch-site", "cross-site")]), true));
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

        assert!(OriginPolicy::Any.allows(&headers(&[("origin", "https://evil.example")]), false));
        assert_eq!(
            only(&["https://a.example", "https://*.b.example"])
                .frame_ancestors()
                .unwrap(),
            "frame-ancestors 'self' https://a.example https://*.b.example"
        );
    }
}
