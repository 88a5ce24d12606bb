//! The legacy hixie-76 (hybi-00) WebSocket handshake and framing, which
//! sockjs-node still answers and the SockJS protocol definition tested.
//!
//! Handshake: the request carries `Sec-WebSocket-Key1`/`Key2` and eight
//! bytes after the headers. The response headers are written *before*
//! those bytes are read (proxies such as HAProxy hold them back until they
//! see the 101), then the 16-byte MD5 answer follows on the upgraded
//! connection. Frames are `0x00 <utf-8> 0xFF`; `0xFF 0x00` closes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use bytes::{Buf, BytesMut};
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::socket::{Incoming, Io, Out, RecvError, Socket, INVALID_DATA, PROTOCOL_ERROR, TOO_BIG};
use crate::rejection::Rejection;
use crate::session::standard_reason;

/// How many bytes one read of the socket asks for.
const READ_CHUNK: usize = 1024;

/// Whether the request is a hixie-76 handshake.
pub(crate) fn is_handshake(headers: &HeaderMap) -> bool {
    headers.contains_key("sec-websocket-key1")
        && headers.contains_key("sec-websocket-key2")
        && !headers.contains_key(header::SEC_WEBSOCKET_KEY)
}

/// The number a `Sec-WebSocket-Key` header encodes: its digits divided by
/// its spaces. `None` when it is malformed.
pub(crate) fn key_number(key: &str) -> Option<u32> {
    let digits: String = key.chars().filter(char::is_ascii_digit).collect();
    let spaces = key.chars().filter(|c| *c == ' ').count() as u64;
    let number: u64 = digits.parse().ok()?;
    if spaces == 0 || number % spaces != 0 {
        return None;
    }
    u32::try_from(number / spaces).ok()
}

/// The 16-byte handshake answer for the two keys and the 8 body bytes.
pub(crate) fn challenge_response(key1: &str, key2: &str, key3: &[u8; 8]) -> Option<[u8; 16]> {
    let mut hasher = Md5::new();
    hasher.update(key_number(key1)?.to_be_bytes());
    hasher.update(key_number(key2)?.to_be_bytes());
    hasher.update(key3);
    Some(hasher.finalize().into())
}

/// Answers the handshake with 101 and, once hyper hands over the
/// connection, reads the key bytes, writes the answer and runs `session`.
///
/// The 8 key bytes are the request's body and are read like one: within
/// `key_timeout` (`Config::body_timeout`). A client that does not send them
/// in time gets nothing more after the 101 head: the connection is closed
/// (FIN) and no session starts.
pub(crate) fn upgrade<F, Fut>(
    parts: &mut Parts,
    max_message: usize,
    key_timeout: std::time::Duration,
    session: F,
) -> Response
where
    F: FnOnce(Hixie76Socket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let key = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(key1), Some(key2)) = (key("sec-websocket-key1"), key("sec-websocket-key2")) else {
        return Rejection::NotWebSocket.into_response();
    };
    if key_number(&key1).is_none() || key_number(&key2).is_none() {
        return Rejection::NotWebSocket.into_response();
    }
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Rejection::NotWebSocket.into_response();
    };
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.clone(), |u| u.0.clone());
    let location = format!("ws://{host}{path}");

    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut io = TokioIo::new(upgraded);
        let mut key3 = [0u8; 8];
        match tokio::time::timeout(key_timeout, io.read_exact(&mut key3)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::debug!("hixie-76: no key bytes within {key_timeout:?}");
                let _ = io.shutdown().await;
                return;
            }
        }
        let Some(answer) = challenge_response(&key1, &key2, &key3) else {
            return;
        };
        if io.write_all(&answer).await.is_err() || io.flush().await.is_err() {
            return;
        }
        tokio::spawn(session(Hixie76Socket {
            io: Box::new(io),
            buf: BytesMut::with_capacity(1024),
            max_message,
            out: Vec::new(),
            written: 0,
        }));
    });

    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Some(origin) = origin {
        h.insert("sec-websocket-origin", origin);
    }
    if let Ok(location) = HeaderValue::from_str(&location) {
        h.insert("sec-websocket-location", location);
    }
    response
}

/// An upgraded hixie-76 connection.
pub(crate) struct Hixie76Socket {
    io: Box<dyn Io>,
    buf: BytesMut,
    max_message: usize,
    /// Frames queued by `start`, written from `written` on.
    out: Vec<u8>,
    written: usize,
}

/// The most of its capacity the write buffer keeps between messages.
const OUT_KEPT: usize = 1024;

/// What the front of the read buffer holds.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// A whole text frame of this many payload bytes (framing excluded).
    Text(usize),
    /// The closing handshake `0xFF 0x00`.
    Close,
    /// Not enough bytes yet.
    Incomplete,
    /// Not a frame this server accepts.
    Invalid,
}

pub(crate) fn parse(buf: &[u8]) -> Parsed {
    match buf {
        [] => Parsed::Incomplete,
        [0x00, rest @ ..] => match rest.iter().position(|b| *b == 0xFF) {
            Some(len) => Parsed::Text(len),
            None => Parsed::Incomplete,
        },
        [0xFF] => Parsed::Incomplete,
        [0xFF, 0x00, ..] => Parsed::Close,
        _ => Parsed::Invalid,
    }
}

/// A message over `max_message` bytes, whole or still arriving.
fn too_big() -> RecvError {
    RecvError::violation(
        TOO_BIG,
        standard_reason(TOO_BIG),
        "message over the size limit",
    )
}

impl Socket for Hixie76Socket {
    /// hixie-76 has no pings and no close codes: a ping queues nothing,
    /// and both sides close with `0xFF 0x00` (the server waits for the
    /// client's before it ends the connection, as in RFC 6455).
    fn start(&mut self, frame: Out<'_>) -> Result<(), String> {
        match frame {
            Out::Text(text) => {
                self.out.reserve(text.len() + 2);
                self.out.push(0x00);
                self.out.extend_from_slice(text.as_bytes());
                self.out.push(0xFF);
            }
            Out::Ping => {}
            Out::Close(_) => self.out.extend_from_slice(&[0xFF, 0x00]),
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        while self.written < self.out.len() {
            let n =
                std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.written..]))
                    .map_err(|e| e.to_string())?;
            if n == 0 {
                return Poll::Ready(Err(
                    std::io::Error::from(std::io::ErrorKind::WriteZero).to_string()
                ));
            }
            self.written += n;
        }
        if !self.out.is_empty() {
            self.out.clear();
            self.out.shrink_to(OUT_KEPT);
            self.written = 0;
        }
        Pin::new(&mut self.io)
            .poll_flush(cx)
            .map_err(|e| e.to_string())
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, RecvError>> {
        loop {
            match parse(&self.buf) {
                Parsed::Text(len) if len > self.max_message => {
                    return Poll::Ready(Err(too_big()));
                }
                Parsed::Text(len) => {
                    let payload = self.buf.split_to(len + 2);
                    let text = std::str::from_utf8(&payload[1..=len])
                        .map(str::to_owned)
                        .map_err(|e| {
                            RecvError::violation(INVALID_DATA, "Invalid UTF-8", e.to_string())
                        });
                    return Poll::Ready(text.map(Incoming::Text));
                }
                Parsed::Close => {
                    self.buf.advance(2);
                    return Poll::Ready(Ok(Incoming::Closed));
                }
                Parsed::Invalid => {
                    return Poll::Ready(Err(RecvError::violation(
                        PROTOCOL_ERROR,
                        "Protocol error",
                        "unsupported hixie-76 frame",
                    )))
                }
                // The opening 0x00 and more than `max_message` bytes: the
                // message can only end over the limit, so it is not read on.
                Parsed::Incomplete if self.buf.len() > self.max_message + 1 => {
                    return Poll::Ready(Err(too_big()));
                }
                Parsed::Incomplete => {}
            }
            // Bytes read land in `buf` before a later poll returns
            // `Pending`: nothing is lost between polls.
            let filled = self.buf.len();
            self.buf.resize(filled + READ_CHUNK, 0);
            let mut read = ReadBuf::new(&mut self.buf[filled..]);
            let polled = Pin::new(&mut self.io).poll_read(cx, &mut read);
            let n = read.filled().len();
            self.buf.truncate(filled + n);
            match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if n == 0 => return Poll::Ready(Ok(Incoming::Closed)),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(RecvError::Failed(e.to_string()))),
            }
        }
    }

    fn can_ping(&self) -> bool {
        false
    }

    fn io(&mut self) -> &mut dyn Io {
        &mut *self.io
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames are written whole, in order, across a connection that takes
    /// a few bytes at a time; the write buffer is emptied once they are
    /// out and keeps no more than `OUT_KEPT` of its room.
    #[tokio::test]
    async fn frames_are_written_whole_and_the_buffer_given_back() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut socket = Hixie76Socket {
            io: Box::new(near),
            buf: BytesMut::new(),
            max_message: 1 << 20,
            out: Vec::new(),
            written: 0,
        };
        let big = "x".repeat(10_000);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            far.read_to_end(&mut got).await.unwrap();
            got
        });
        for text in ["a", big.as_str(), "b"] {
            socket.send(Out::Text(text.to_owned())).await.unwrap();
            assert!(socket.out.is_empty(), "written frames kept");
            assert!(
                socket.out.capacity() <= OUT_KEPT,
                "{} kept",
                socket.out.capacity()
            );
        }
        drop(socket);
        let mut expected = b"\x00a\xff\x00".to_vec();
        expected.extend_from_slice(big.as_bytes());
        expected.extend_from_slice(b"\xff\x00b\xff");
        assert_eq!(reader.await.unwrap(), expected);
    }

    #[test]
    fn handshake_answer_of_the_protocol_definition() {
        // The example of the SockJS protocol definition's hixie-76 test.
        let answer =
            challenge_response("4 @1  46546xW%0l 1 5", "12998 5 Y3 1  .P00", b"aaaaaaaa").unwrap();
        assert_eq!(&answer, b"\xca4\x00\xd8\xa5\x08G\x97,\xd5qZ\xba\xbfC{");
    }

    /// Hixie-76 wants both of its keys and no RFC 6455 key: a request with
    /// `Sec-WebSocket-Key` is RFC 6455 whatever else it carries.
    #[test]
    fn a_handshake_is_hixie76_only_with_both_keys_and_no_rfc6455_key() {
        let headers = |names: &[&'static str]| {
            let mut h = HeaderMap::new();
            for name in names {
                h.insert(*name, HeaderValue::from_static("1 2"));
            }
            h
        };
        let (k1, k2, k) = (
            "sec-websocket-key1",
            "sec-websocket-key2",
            "sec-websocket-key",
        );
        assert!(is_handshake(&headers(&[k1, k2])));
        for names in [
            &[][..],
            &[k1],
            &[k2],
            &[k1, k],
            &[k2, k],
            &[k1, k2, k],
            &[k],
        ] {
            assert!(!is_handshake(&headers(names)), "{names:?}");
        }
    }

    #[test]
    fn malformed_keys() {
        assert_eq!(key_number("123"), None); // no spaces
        assert_eq!(key_number(" 7"), Some(7));
        assert_eq!(key_number("  7"), None); // not divisible
        assert_eq!(key_number(" "), None);
        assert_eq!(key_number(" 99999999999999999999"), None);
    }

    #[test]
    fn frames() {
        assert_eq!(parse(b"\x00abc\xff"), Parsed::Text(3));
        assert_eq!(parse(b"\x00ab"), Parsed::Incomplete);
        assert_eq!(parse(b"\xff\x00"), Parsed::Close);
        assert_eq!(parse(b"\xff"), Parsed::Incomplete);
        assert_eq!(parse(b"\x80\x01a"), Parsed::Invalid);
    }
}
