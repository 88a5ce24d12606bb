//! Deliberately broken behaviours (`--break NAME`), to prove that the
//! conformance suite catches real bugs: `cargo xtask protocol-test
//! --mutations` starts the test server once per name and expects the suite to
//! fail each time, in one of the checks [`expected`] names for the mutation.
//!
//! Each mutation is a tower middleware around the finished app that bends
//! requests or responses the way a plausible bug in a SockJS server would
//! (a header forgotten, a byte off, an escape in the wrong case), or a
//! setting of the services' [`Config`] pushed to where it breaks something
//! ([`configure`], [`disconnect_delay`], [`echo_response_limit`]), or, for
//! WebSocket traffic, which no middleware sees, a rewrite of the frames on
//! the wire ([`crate::wire`]). The library itself is never changed.
//!
//! Not here: 1001 `Server shutting down` (the suite never shuts the server
//! down; `crates/sockjs/tests` covers it), 1013 and cluster forwarding
//! (not reachable through the conformance services).

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use sockjs::{Config, TrustedProxies};

/// The known mutations, each explained by [`about`].
pub(crate) const NAMES: &[&str] = &[
    "greeting-newline",
    "info-cache-control",
    "constant-entropy",
    "no-vary",
    "cors-star",
    "duplicate-acao",
    "preflight-short-max-age",
    "etag-ignored",
    "no-allow-on-405",
    "server-id-in-key",
    "wrong-2010-code",
    "xhr-send-200",
    "short-prelude",
    "short-response-limit",
    "eventsource-raw-percent",
    "jsonp-sniffable",
    "cookie-no-path",
    "uppercase-escapes",
    "close-no-linger",
    "early-heartbeat",
    "htmlfile-raw-markup",
    "html-sniffable",
    "origin-from-host",
    "close-fin-first",
    "unbounded-inbound",
    "unbounded-inbound-wait",
    "long-ids-taken",
    "unbound-address",
    "proxy-headers-ignored",
    "trust-every-peer",
    "handshake-once",
    "cookie-attributes-dropped",
    "no-header-timeout",
    "response-limit-ignored",
    "session-expiry-late",
    "session-expiry-early",
    "raw-u2028",
    "payload-error-texts",
    "callback-unchecked",
    "unknown-session-accepted",
    "origin-not-refused",
    "hixie76-refused",
    "ws-close-normal",
    "ws-violation-1011",
    "ws-oversize-1002",
    "ws-broken-json-ignored",
    "ws-reset-close",
    "raw-websocket-framed",
];

/// What a mutation breaks, in one line.
pub(crate) fn about(name: &str) -> Option<&'static str> {
    Some(match name {
        "greeting-newline" => "the greeting loses its trailing newline",
        "info-cache-control" => "/info forgets Cache-Control (browsers may cache it)",
        "constant-entropy" => "/info always reports the same entropy",
        "no-vary" => "CORS answers lack `Vary: Origin`",
        "cors-star" => "CORS answers say `*` instead of echoing the Origin",
        "duplicate-acao" => {
            "CORS answers carry Access-Control-Allow-Origin twice (browsers then reject them)"
        }
        "preflight-short-max-age" => "preflights are cached for an hour, not a year",
        "etag-ignored" => "If-None-Match is ignored: the iframe page never answers 304",
        "no-allow-on-405" => "405 answers lack the Allow header",
        "server-id-in-key" => "sessions are keyed by server id and session id together",
        "wrong-2010-code" => "a second receiver is refused with 2011 instead of 2010",
        "xhr-send-200" => "xhr_send answers 200 instead of 204",
        "short-prelude" => "the xhr_streaming prelude is one byte short",
        "short-response-limit" => "/echo streams end after 1 KiB of frames, not its response_limit of 4 KiB",
        "eventsource-raw-percent" => "eventsource does not percent-escape `%`",
        "jsonp-sniffable" => "jsonp lacks `X-Content-Type-Options: nosniff`",
        "cookie-no-path" => "the JSESSIONID cookie lacks `path=/`",
        "uppercase-escapes" => "frames escape characters with uppercase hex (`\\u200C`)",
        "early-heartbeat" => "heartbeats come after 100 ms, whatever heartbeat_delay says",
        "close-no-linger" => {
            "websockets are let go right after the close frame, before the client's reply is read"
        }
        "htmlfile-raw-markup" => {
            "htmlfile frames carry `<`, `>`, `&` raw, as sockjs-node's do (a message can end the script)"
        }
        "html-sniffable" => "htmlfile and the iframe page lack `X-Content-Type-Options: nosniff`",
        "origin-from-host" => {
            "an Origin whose host and port equal the request's Host passes the origin policy, whatever its scheme"
        }
        "close-fin-first" => {
            "websocket closes send FIN right after the close frame, without waiting for the client's (RFC 6455 7.1.1)"
        }
        "unbounded-inbound" => {
            "sessions and services hold unread client messages without a byte budget (count only)"
        }
        "unbounded-inbound-wait" => "a send that finds no room waits an hour for it",
        "long-ids-taken" => "session and server ids of any length are taken (cut to 64 bytes)",
        "unbound-address" => "sessions are not bound to their client's address: anyone with the id may use it",
        "proxy-headers-ignored" => {
            "no proxy is trusted: every client behind one has the proxy's address"
        }
        "trust-every-peer" => "X-Forwarded-For is believed from any peer, so a client picks its address",
        "handshake-once" => "the handshake hook runs on a session's first request only",
        "cookie-attributes-dropped" => {
            "JSESSIONID is written without the Secure, HttpOnly and SameSite attributes it was configured with"
        }
        "no-header-timeout" => {
            "no header read timeout: a client sending its request head slowly holds its connection forever"
        }
        "response-limit-ignored" => "/echo streams never end, whatever response_limit says",
        "session-expiry-late" => {
            "sessions outlive disconnect_delay fourfold (a closed one keeps answering its close frame, a left one keeps taking messages)"
        }
        "session-expiry-early" => "sessions expire after a quarter of disconnect_delay",
        "raw-u2028" => {
            "U+2028 goes out raw in frames, not as `\\u2028` (a JavaScript line terminator inside a string before ES2019)"
        }
        "payload-error-texts" => {
            "the 500 answers to bad payloads lose their final period (`Payload expected`, `Broken JSON encoding`)"
        }
        "callback-unchecked" => {
            "jsonp and htmlfile callbacks are not validated: characters outside [a-zA-Z0-9_.-] are dropped and the request served"
        }
        "unknown-session-accepted" => {
            "xhr_send and jsonp_send to a session that does not exist answer as if it did, not 404"
        }
        "origin-not-refused" => "the origin policy of /restricted_echo admits every Origin",
        "hixie76-refused" => "the legacy hixie-76 handshake is refused (400) instead of spoken",
        "ws-close-normal" => {
            "websocket close frames say 1000 `Normal closure` where the session closed with 3000"
        }
        "ws-violation-1011" => {
            "websocket protocol violations are answered with 1011 `Internal error`, not 1002"
        }
        "ws-oversize-1002" => "an oversized websocket message is refused with 1002, not 1009",
        "ws-broken-json-ignored" => {
            "broken JSON on a framed websocket is ignored instead of ending the session"
        }
        "ws-reset-close" => "websockets end with a reset after the close frame, not a FIN",
        "raw-websocket-framed" => "raw websocket messages go out framed as `a[...]`",
        _ => return None,
    })
}

/// The checks expected to catch each mutation: check names, or group
/// prefixes ending in `/`. `cargo xtask protocol-test --mutations` reads this
/// table from the source (arms `"name" => &[...]`) and counts a mutation as
/// caught only when one of these fails; failures of other checks alone mean
/// the suite caught it by accident.
pub(crate) fn expected(name: &str) -> &'static [&'static str] {
    match name {
        "greeting-newline" => &["urls/greeting"],
        "info-cache-control" => &["info/basic"],
        "constant-entropy" => &["info/entropy_differs"],
        "no-vary" => &["info/basic", "xhr/transport", "streaming/eventsource_cors"],
        "cors-star" => &["info/basic", "info/options", "xhr/transport"],
        "duplicate-acao" => &["info/basic", "info/options", "xhr/transport"],
        "preflight-short-max-age" => &["info/options", "xhr/options"],
        "etag-ignored" => &["iframe/etag_304"],
        "no-allow-on-405" => &["urls/wrong_method_405"],
        "server-id-in-key" => &["urls/server_id_ignored"],
        "wrong-2010-code" => &[
            "session/second_receiver_polling",
            "session/second_receiver_streaming",
        ],
        "xhr-send-200" => &["xhr/transport", "xhr/send_headers"],
        "short-prelude" => &["streaming/xhr_streaming_transport"],
        "short-response-limit" => &[
            "streaming/xhr_streaming_response_limit",
            "streaming/eventsource_response_limit",
            "streaming/htmlfile_response_limit",
        ],
        "eventsource-raw-percent" => &["streaming/eventsource_percent"],
        "jsonp-sniffable" => &["jsonp/transport", "security/html_nosniff"],
        "cookie-no-path" => &["cookie/"],
        "uppercase-escapes" => &[
            "encoding/server_escapes_xhr",
            "encoding/server_escapes_controls",
        ],
        "close-no-linger" => &["closing/"],
        "early-heartbeat" => &[
            "streaming/xhr_streaming_heartbeat",
            "streaming/eventsource_heartbeat",
            "streaming/htmlfile_heartbeat",
            "session/heartbeat_polling",
            "jsonp/heartbeat",
            "websocket/heartbeat",
        ],
        "htmlfile-raw-markup" => &["security/htmlfile_no_markup"],
        "html-sniffable" => &["security/html_nosniff"],
        "origin-from-host" => &["security/origin_not_from_host"],
        "close-fin-first" => &[
            "closing/close_waits_for_the_reply",
            "closing/unanswered_close_is_cut_off",
        ],
        "unbounded-inbound" => &["security/inbound_byte_budget"],
        "unbounded-inbound-wait" => &["security/inbound_byte_budget"],
        "long-ids-taken" => &["security/long_session_id"],
        "unbound-address" => &["security/address_binding"],
        "proxy-headers-ignored" => &["security/address_binding"],
        "trust-every-peer" => &["security/forwarded_for_untrusted"],
        "handshake-once" => &["security/handshake_binding"],
        "cookie-attributes-dropped" => &["security/jsessionid_attributes"],
        "no-header-timeout" => &["security/slow_head_cut_off"],
        "response-limit-ignored" => &[
            "streaming/xhr_streaming_response_limit",
            "streaming/eventsource_response_limit",
            "streaming/htmlfile_response_limit",
        ],
        "session-expiry-late" => &[
            "session/timeout_without_receiver",
            "session/close_until_expiry",
        ],
        "session-expiry-early" => &["session/close_until_expiry"],
        "raw-u2028" => &[
            "encoding/server_escapes_xhr",
            "encoding/server_escapes_websocket",
        ],
        "payload-error-texts" => &[
            "payload/xhr_send_bad",
            "payload/jsonp_send_bad_form",
            "payload/jsonp_send_bad_text",
            "payload/post_without_content_length",
        ],
        "callback-unchecked" => &[
            "jsonp/invalid_callback",
            "streaming/htmlfile_invalid_callback",
        ],
        "unknown-session-accepted" => &[
            "session/send_to_unknown_session",
            "jsonp/send_to_unknown_session",
        ],
        "origin-not-refused" => &["security/origin_not_from_host"],
        "hixie76-refused" => &["websocket/hixie76"],
        "ws-close-normal" => &[
            "websocket/raw_close",
            "websocket/close",
            "closing/raw_close_cycles",
            "closing/framed_close_cycles",
        ],
        "ws-violation-1011" => &["websocket/protocol_violations"],
        "ws-oversize-1002" => &["closing/oversize_cycles"],
        "ws-broken-json-ignored" => &["websocket/broken_json_closes", "closing/broken_json_cycles"],
        "ws-reset-close" => &["websocket/close", "websocket/raw_close", "closing/"],
        "raw-websocket-framed" => &["websocket/raw_echo", "websocket/raw_no_heartbeat_frames"],
        _ => NONE,
    }
}

/// No expected checks (an unknown mutation).
const NONE: &[&str] = &[];

/// The services' options with mutation `name` applied, for the mutations
/// that are a setting rather than a middleware.
pub(crate) fn configure(config: Config, name: &str) -> Config {
    match name {
        "close-no-linger" => config.close_timeout(std::time::Duration::ZERO),
        "early-heartbeat" => config.heartbeat_delay(std::time::Duration::from_millis(100)),
        // A hidden test knob of the library: the only way to restore the
        // old close order from outside it.
        "close-fin-first" => config.websocket_fin_early(true),
        "unbounded-inbound" => config
            .inbound_budget(usize::MAX)
            .service_inbound_budget(usize::MAX),
        "unbounded-inbound-wait" => config.inbound_timeout(std::time::Duration::from_secs(3600)),
        _ => config,
    }
}

/// The options of the security services (`/bound_echo`,
/// `/untrusted_proxy_echo`, `/rebind_echo`) with mutation `name` applied:
/// each of these reverts one of their settings.
pub(crate) fn configure_secured(config: Config, name: &str) -> Config {
    match name {
        "unbound-address" => config.bind_to_address(false),
        "proxy-headers-ignored" => {
            config.trusted_proxies(TrustedProxies::x_forwarded_for(Vec::<&str>::new()))
        }
        "trust-every-peer" => {
            config.trusted_proxies(TrustedProxies::x_forwarded_for(["0.0.0.0/0", "::/0"]))
        }
        "handshake-once" => config.bind_to_handshake(false),
        "cookie-attributes-dropped" => config.jsessionid(true),
        other => configure(config, other),
    }
}

/// The response_limit of `/echo` under mutation `name`.
pub(crate) fn echo_response_limit(name: Option<&str>, limit: usize) -> usize {
    match name {
        Some("short-response-limit") => 1024,
        Some("response-limit-ignored") => usize::MAX,
        _ => limit,
    }
}

/// The services' disconnect_delay under mutation `name`.
pub(crate) fn disconnect_delay(
    name: Option<&str>,
    delay: std::time::Duration,
) -> std::time::Duration {
    match name {
        Some("session-expiry-late") => delay * 4,
        Some("session-expiry-early") => delay / 4,
        _ => delay,
    }
}

/// The server's header read timeout under mutation `name` (`None`: off).
pub(crate) fn header_read_timeout(
    name: Option<&str>,
    timeout: std::time::Duration,
) -> Option<std::time::Duration> {
    match name {
        Some("no-header-timeout") => None,
        _ => Some(timeout),
    }
}

/// The app with mutation `name` applied around it.
pub(crate) fn apply(app: Router, name: &str) -> Result<Router, String> {
    let name: &'static str = NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| format!("unknown mutation `{name}`"))?;
    eprintln!(
        "sockjs-test-server: deliberately broken: {name}: {} (expected to fail: {})",
        about(name).unwrap_or_default(),
        expected(name).join(", ")
    );
    // As the fallback of an outer router, the middleware sees every request
    // (paths included) before the app routes it.
    Ok(Router::new()
        .fallback_service(app)
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            mutate(name, req, next)
        })))
}

/// Transport name of a session URL `/<service>/<server>/<session>/<transport>`.
fn transport(path: &str) -> Option<&str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    (segments.len() == 4).then(|| segments[3])
}

async fn mutate(name: &'static str, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let get = req.method() == axum::http::Method::GET;
    match name {
        "origin-from-host" => {
            // The old same-origin exemption: an Origin naming the Host is
            // the service's own. Dropping it lets the request through as a
            // request without Origin, which the policy admits.
            let host = req.headers().get(header::HOST).cloned();
            let origin = req.headers().get(header::ORIGIN).cloned();
            if let (Some(host), Some(origin)) = (host, origin) {
                let authority = origin
                    .to_str()
                    .ok()
                    .and_then(|o| o.split_once("://"))
                    .map(|(_, a)| a.to_owned());
                if authority
                    .as_deref()
                    .zip(host.to_str().ok())
                    .is_some_and(|(a, h)| a.eq_ignore_ascii_case(h))
                {
                    req.headers_mut().remove(header::ORIGIN);
                }
            }
        }
        "etag-ignored" => {
            req.headers_mut().remove(header::IF_NONE_MATCH);
        }
        "origin-not-refused" if path.starts_with("/restricted_echo/") => {
            // A request without Origin passes any origin policy.
            req.headers_mut().remove(header::ORIGIN);
        }
        "hixie76-refused" => {
            // Without its keys the legacy handshake is no handshake at all.
            req.headers_mut().remove("sec-websocket-key1");
            req.headers_mut().remove("sec-websocket-key2");
        }
        "callback-unchecked" if matches!(transport(&path), Some("jsonp" | "htmlfile")) => {
            if let Some(query) = req.uri().query() {
                let kept: String = query
                    .split('&')
                    .map(|pair| match pair.split_once('=') {
                        Some((k @ ("c" | "callback"), v)) => {
                            let v: String = v
                                .chars()
                                .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
                                .collect();
                            format!("{k}={v}")
                        }
                        _ => pair.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                if let Ok(uri) = format!("{path}?{kept}").parse::<Uri>() {
                    *req.uri_mut() = uri;
                }
            }
        }
        "server-id-in-key" => {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            if let [service, server, session, transport] = segments[..] {
                let rewritten = format!(
                    "/{service}/{server}/{server}_{session}/{transport}{}",
                    req.uri()
                        .query()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default()
                );
                if let Ok(uri) = rewritten.parse::<Uri>() {
                    *req.uri_mut() = uri;
                }
            }
        }
        "long-ids-taken" => {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            if let [service, server, session, transport] = segments[..] {
                let cut = |s: &str| s.get(..64).unwrap_or(s).to_owned();
                let rewritten = format!(
                    "/{service}/{}/{}/{transport}{}",
                    cut(server),
                    cut(session),
                    req.uri()
                        .query()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default()
                );
                if let Ok(uri) = rewritten.parse::<Uri>() {
                    *req.uri_mut() = uri;
                }
            }
        }
        _ => {}
    }
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    let status = resp.status();
    let headers = resp.headers_mut();
    match name {
        "greeting-newline" => {
            return map_body(resp, |b| {
                if b == b"Welcome to SockJS!\n" {
                    b"Welcome to SockJS!".to_vec()
                } else {
                    b.to_vec()
                }
            })
            .await;
        }
        "info-cache-control" if get && path.ends_with("/info") => {
            headers.remove(header::CACHE_CONTROL);
        }
        "constant-entropy" if get && path.ends_with("/info") => {
            return map_body(resp, |b| {
                let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(b) else {
                    return b.to_vec();
                };
                v["entropy"] = serde_json::json!(42);
                v.to_string().into_bytes()
            })
            .await;
        }
        "no-vary" => {
            headers.remove(header::VARY);
        }
        "cors-star" if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) => {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        "duplicate-acao" => {
            if let Some(v) = headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).cloned() {
                headers.append(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            }
        }
        "preflight-short-max-age" if headers.contains_key(header::ACCESS_CONTROL_MAX_AGE) => {
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("3600"),
            );
        }
        "no-allow-on-405" if status == StatusCode::METHOD_NOT_ALLOWED => {
            headers.remove(header::ALLOW);
        }
        "wrong-2010-code" => {
            return map_body(resp, |b| replace(b, b"c[2010,", b"c[2011,")).await;
        }
        "xhr-send-200"
            if transport(&path) == Some("xhr_send") && status == StatusCode::NO_CONTENT =>
        {
            *resp.status_mut() = StatusCode::OK;
        }
        "short-prelude" if transport(&path) == Some("xhr_streaming") => {
            let mut first = true;
            return map_body(resp, move |b| {
                if first && !b.is_empty() {
                    first = false;
                    return b[1..].to_vec();
                }
                b.to_vec()
            })
            .await;
        }
        "eventsource-raw-percent" if transport(&path) == Some("eventsource") => {
            return map_body(resp, |b| replace(b, b"%25", b"%")).await;
        }
        "jsonp-sniffable" => {
            headers.remove(header::X_CONTENT_TYPE_OPTIONS);
        }
        "cookie-no-path" => {
            let cookies: Vec<HeaderValue> = headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| {
                    let v = v
                        .to_str()
                        .ok()?
                        .replace("; path=/", "")
                        .replace(";path=/", "");
                    HeaderValue::from_str(&v).ok()
                })
                .collect();
            headers.remove(header::SET_COOKIE);
            for c in cookies {
                headers.append(header::SET_COOKIE, c);
            }
        }
        "htmlfile-raw-markup" if transport(&path) == Some("htmlfile") => {
            return map_body(resp, |b| {
                let b = replace(b, b"\\u003c", b"<");
                let b = replace(&b, b"\\u003e", b">");
                replace(&b, b"\\u0026", b"&")
            })
            .await;
        }
        "html-sniffable"
            if headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|t| t.as_bytes().starts_with(b"text/html")) =>
        {
            headers.remove(header::X_CONTENT_TYPE_OPTIONS);
        }
        "uppercase-escapes" if transport(&path).is_some() => {
            return map_body(resp, uppercase_escapes).await;
        }
        "raw-u2028" if transport(&path).is_some() => {
            return map_body(resp, |b| replace(b, b"\\u2028", "\u{2028}".as_bytes())).await;
        }
        "payload-error-texts" if status == StatusCode::INTERNAL_SERVER_ERROR => {
            return map_body(resp, |b| {
                let b = replace(b, b"Payload expected.", b"Payload expected");
                replace(&b, b"Broken JSON encoding.", b"Broken JSON encoding")
            })
            .await;
        }
        "unknown-session-accepted"
            if status == StatusCode::NOT_FOUND
                && matches!(transport(&path), Some("xhr_send" | "jsonp_send")) =>
        {
            return if transport(&path) == Some("xhr_send") {
                StatusCode::NO_CONTENT.into_response()
            } else {
                "ok".into_response()
            };
        }
        _ => {}
    }
    resp
}

/// Rewrites the body with `f`: all at once when its length is known, else
/// piece by piece as it streams (so streaming transports keep streaming).
async fn map_body<F>(resp: Response, mut f: F) -> Response
where
    F: FnMut(&[u8]) -> Vec<u8> + Send + 'static,
{
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if body.size_hint().exact().is_some() {
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        return Response::from_parts(parts, Body::from(f(&bytes)));
    }
    let stream = body
        .into_data_stream()
        .map(move |piece| piece.map(|b| Bytes::from(f(&b))));
    Response::from_parts(parts, Body::from_stream(stream))
}

/// `haystack` with every `from` replaced by `to`.
fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// `\u200c` → `\u200C`: the hex digits of every `\uXXXX` escape uppercased.
fn uppercase_escapes(b: &[u8]) -> Vec<u8> {
    let mut out = b.to_vec();
    let mut i = 0;
    while i + 6 <= out.len() {
        if out[i] == b'\\'
            && out[i + 1] == b'u'
            && out[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit)
        {
            out[i + 2..i + 6].make_ascii_uppercase();
            i += 6;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_applies_and_is_explained() {
        for name in NAMES {
            assert!(apply(Router::new(), name).is_ok(), "{name}");
            assert!(about(name).is_some(), "{name}");
        }
        assert!(apply(Router::new(), "no-such-bug").is_err());
        for name in crate::wire::NAMES {
            assert!(NAMES.contains(name), "{name}");
        }
    }

    #[test]
    fn byte_rewrites() {
        assert_eq!(replace(b"a[\"%25\"]%25", b"%25", b"%"), b"a[\"%\"]%");
        assert_eq!(
            replace(b"c[2010,\"x\"]", b"c[2010,", b"c[2011,"),
            b"c[2011,\"x\"]"
        );
        assert_eq!(
            uppercase_escapes(b"a[\"\\u200c\\u00e9\\ufff0 \\uzz\"]"),
            b"a[\"\\u200C\\u00E9\\uFFF0 \\uzz\"]"
        );
    }

    #[test]
    fn session_transport_names() {
        assert_eq!(transport("/echo/000/abc/xhr_send"), Some("xhr_send"));
        assert_eq!(transport("/echo/info"), None);
    }
}
