//! Entry points for the fuzz targets (`fuzz/`) and the differential tests
//! (`tests/differential.rs`): the parsers of client bytes that the public
//! API does not expose by themselves. Each function is a thin call into the
//! very code the server runs on a request.
//!
//! Not part of the API: hidden from the docs, no semver guarantee.

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue};

use crate::endpoints::{receive, send, websocket::hixie76};
use crate::rejection::Rejection;

/// Longest callback name `jsonp` accepts (`htmlfile` has no limit).
pub const JSONP_MAX_CALLBACK: usize = receive::MAX_CALLBACK;

/// The messages of a `jsonp_send` body sent with `content_type` (the raw
/// header value; `None` for no header, and a value that is not a valid
/// header is dropped, as hyper would refuse it).
pub fn jsonp_send_body(content_type: Option<&[u8]>, body: &[u8]) -> Result<Vec<String>, Rejection> {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_bytes(v).ok()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    send::parse_send_body(&headers, Bytes::copy_from_slice(body))
}

/// The callback of a `jsonp` (`max_len` = `Some(JSONP_MAX_CALLBACK)`) or
/// `htmlfile` (`None`) request with this query string.
pub fn callback(query: Option<&str>, max_len: Option<usize>) -> Result<String, Rejection> {
    receive::callback(query, max_len)
}

/// The number a hixie-76 `Sec-WebSocket-Key1`/`Key2` header encodes.
pub fn hixie76_key_number(key: &str) -> Option<u32> {
    hixie76::key_number(key)
}

/// The 16-byte hixie-76 handshake answer.
pub fn hixie76_challenge_response(key1: &str, key2: &str, key3: &[u8; 8]) -> Option<[u8; 16]> {
    hixie76::challenge_response(key1, key2, key3)
}

/// What the front of a hixie-76 read buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hixie76Frame {
    /// A whole text frame: `0x00`, this many payload bytes, `0xFF`.
    Text(usize),
    /// The closing handshake `0xFF 0x00`.
    Close,
    /// Not enough bytes yet.
    Incomplete,
    /// Not a frame the server accepts.
    Invalid,
}

/// Parses the front of a hixie-76 read buffer, as the socket does.
pub fn hixie76_parse_frame(buf: &[u8]) -> Hixie76Frame {
    match hixie76::parse(buf) {
        hixie76::Parsed::Text(len) => Hixie76Frame::Text(len),
        hixie76::Parsed::Close => Hixie76Frame::Close,
        hixie76::Parsed::Incomplete => Hixie76Frame::Incomplete,
        hixie76::Parsed::Invalid => Hixie76Frame::Invalid,
    }
}

/// The `Set-Cookie` value `jsessionid(true)` answers for a request with
/// these `Cookie` header values (raw bytes; invalid header values are
/// dropped, as hyper would refuse them).
pub fn jsessionid(cookies: &[&[u8]]) -> Option<HeaderValue> {
    let mut headers = HeaderMap::new();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_bytes(cookie) {
            headers.append(header::COOKIE, value);
        }
    }
    crate::config::default_jsessionid(&headers)
}

/// The session id a session URL path (`.../<server>/<session>/<transport>`)
/// stands for, or `None` when its segments are not valid (404).
pub fn session_id(path: &str) -> Option<&str> {
    use crate::protocol::is_valid_segment;
    let (server, session) = crate::endpoints::session_segments(path)?;
    (is_valid_segment(server) && is_valid_segment(session)).then_some(session)
}
