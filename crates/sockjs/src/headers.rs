//! Response headers the endpoints share: caching, CORS, JSESSIONID.

use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderValue};

use crate::config::Config;

const NO_CACHE: &str = "no-store, no-cache, no-transform, must-revalidate, max-age=0";
const ONE_YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Marks a response as never to be cached.
pub(crate) fn no_cache(out: &mut HeaderMap) {
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
}

/// Marks a response as cacheable for a year (preflights, the iframe page).
pub(crate) fn cache_for_a_year(out: &mut HeaderMap) {
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000"),
    );
    let expires = httpdate::fmt_http_date(SystemTime::now() + ONE_YEAR);
    if let Ok(value) = HeaderValue::from_str(&expires) {
        out.insert(header::EXPIRES, value);
    }
}

/// CORS as sockjs-node answers it: the request's `Origin` echoed with
/// credentials allowed (`*` without one), `Vary: Origin`, and requested
/// headers allowed. Does nothing when CORS is off in `config`.
pub(crate) fn cors(config: &Config, request: &HeaderMap, out: &mut HeaderMap) {
    cors_with(config, request, out, false);
}

/// CORS for `eventsource`, where sockjs-node answers `Origin: null` with
/// `*` and no credentials (`EventSource` from a sandboxed page).
pub(crate) fn cors_eventsource(config: &Config, request: &HeaderMap, out: &mut HeaderMap) {
    cors_with(config, request, out, true);
}

fn cors_with(config: &Config, request: &HeaderMap, out: &mut HeaderMap, null_is_star: bool) {
    if !config.cors {
        return;
    }
    let origin = request
        .get(header::ORIGIN)
        .filter(|origin| !(null_is_star && *origin == "null"));
    match origin {
        Some(origin) => {
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        None => {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    out.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(requested) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        if !requested.is_empty() {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
    }
}

/// The answer to a CORS preflight (`OPTIONS`): 204 with the allowed
/// methods, a year of caching, the CORS headers and, as sockjs-node does,
/// JSESSIONID.
pub(crate) fn preflight_response(
    config: &Config,
    request: &HeaderMap,
    methods: &'static str,
) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    *response.status_mut() = http::StatusCode::NO_CONTENT;
    let out = response.headers_mut();
    jsessionid(config, request, out);
    preflight(methods, out);
    cors(config, request, out);
    response
}

/// A CORS preflight answer's extra headers: allowed methods and a year of
/// caching.
fn preflight(methods: &'static str, out: &mut HeaderMap) {
    cache_for_a_year(out);
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("31536000"),
    );
}

/// `Set-Cookie: JSESSIONID=...` when the option is on.
pub(crate) fn jsessionid(config: &Config, request: &HeaderMap, out: &mut HeaderMap) {
    if let Some(value) = config.jsessionid.as_ref().and_then(|hook| hook(request)) {
        out.insert(header::SET_COOKIE, value);
    }
}

/// Headers of every session-transport response: JSESSIONID and no caching.
pub(crate) fn session_response(config: &Config, request: &HeaderMap, out: &mut HeaderMap) {
    jsessionid(config, request, out);
    no_cache(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_echoes_origin_or_star() {
        let config = Config::default();
        let mut req = HeaderMap::new();
        let mut out = HeaderMap::new();
        cors(&config, &req, &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(out.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());

        req.insert(header::ORIGIN, HeaderValue::from_static("null"));
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("a, b"),
        );
        let mut out = HeaderMap::new();
        cors(&config, &req, &mut out);
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "null");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_HEADERS], "a, b");
        assert_eq!(out[header::VARY], "Origin");

        let mut out = HeaderMap::new();
        cors(&config.clone().cors(false), &req, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_year_of_caching_expires_a_year_from_now() {
        let mut out = HeaderMap::new();
        let before = SystemTime::now();
        cache_for_a_year(&mut out);
        assert_eq!(out[header::CACHE_CONTROL], "public, max-age=31536000");
        let expires = httpdate::parse_http_date(out[header::EXPIRES].to_str().unwrap()).unwrap();
        let year = Duration::from_secs(31_536_000);
        // The date has whole seconds.
        assert!(
            expires + Duration::from_secs(1) >= before + year,
            "{expires:?}"
        );
        assert!(expires <= SystemTime::now() + year, "{expires:?}");
    }

    #[test]
    fn eventsource_answers_a_null_origin_with_star_and_no_credentials() {
        let config = Config::default();
        let origin = |value: &'static str| {
            let mut req = HeaderMap::new();
            req.insert(header::ORIGIN, HeaderValue::from_static(value));
            let mut out = HeaderMap::new();
            cors_eventsource(&config, &req, &mut out);
            out
        };
        let out = origin("null");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(out.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        assert_eq!(out[header::VARY], "Origin");
        let out = origin("https://a.example");
        assert_eq!(
            out[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://a.example"
        );
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    }

    #[test]
    fn empty_requested_headers_are_not_echoed() {
        let mut req = HeaderMap::new();
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static(""),
        );
        let mut out = HeaderMap::new();
        cors(&Config::default(), &req, &mut out);
        assert!(out.get(header::ACCESS_CONTROL_ALLOW_HEADERS).is_none());
    }
}
