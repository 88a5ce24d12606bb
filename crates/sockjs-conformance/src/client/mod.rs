//! A SockJS protocol client that shows everything: raw HTTP/1.x over TCP
//! (status line, header order, chunk boundaries, HTTP/1.0), WebSockets
//! (through tungstenite, and frame by frame off the socket to see how a
//! connection ends), and SockJS frame decoding.
//!
//! The load generator (`sockjs-bench`) reads HTTP responses with the same
//! parsers: [`parse_head`], [`Framing::of`] and [`parse_chunk`].

mod frames;
mod http;
mod parse;
mod wire_ws;
mod ws;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use frames::{decode as decode_frame, json_string, Frame};
pub use http::{Conn, Framing, Request, Response, Streaming};
pub use parse::{parse_chunk, parse_head, parse_http_date, Chunk, Head, Headers, ParseError};
pub use wire_ws::{Ending, WireFrame, WireWs, NO_REPLY_WAIT};
pub use ws::{Ws, WsEvent};

/// A client-side failure: I/O, timeout or an unparseable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The server under test: where to connect and the path under which the
/// test services (`/echo`, `/close`, ...) are mounted.
#[derive(Clone, Debug)]
pub struct Target {
    /// The resolved socket address.
    pub addr: SocketAddr,
    /// `host[:port]` for `Host` headers and `ws://` URLs.
    pub host: String,
    /// Path prefix before the service names (empty, or `/a/b`).
    pub prefix: String,
    /// Bound on every single read and connect.
    pub timeout: Duration,
}

impl Target {
    /// Parses `http://host[:port][/prefix]` and resolves the host.
    pub async fn resolve(url: &str, timeout: Duration) -> Result<Target, Error> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error(format!("{url}: only http:// URLs are supported")))?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(Error(format!("{url}: no host")));
        }
        let with_port = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| Error(format!("{host}: {e}")))?
            .next()
            .ok_or_else(|| Error(format!("{host}: no address")))?;
        Ok(Target {
            addr,
            host: host.to_string(),
            prefix: prefix.to_string(),
            timeout,
        })
    }

    /// `prefix + path`.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// `http://host + prefix + path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.host, self.prefix)
    }

    /// `ws://host + prefix + path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}{path}", self.host, self.prefix)
    }

    /// A new connection.
    pub async fn connect(&self) -> Result<Conn, Error> {
        Conn::connect(self.addr, &self.host, self.timeout).await
    }

    /// Sends `req` (its target taken relative to the prefix) on a new
    /// connection and returns once the head has arrived. Adds
    /// `Connection: close` unless the request sets `Connection`.
    pub async fn open(&self, mut req: Request) -> Result<Streaming, Error> {
        req.target = self.path(&req.target);
        if !req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
        {
            req.headers.push(("Connection".into(), "close".into()));
        }
        self.connect().await?.request(&req).await
    }

    /// Like [`Target::open`], then reads the whole body.
    pub async fn send(&self, req: Request) -> Result<Response, Error> {
        Ok(self.open(req).await?.complete().await?.0)
    }

    /// Opens a WebSocket to `path` (relative to the prefix).
    pub async fn ws(&self, path: &str) -> Result<Ws, Error> {
        Ws::connect(self, &self.path(path)).await
    }

    /// Opens a WebSocket read frame by frame off the socket (see
    /// [`WireWs`]) to `path` (relative to the prefix).
    pub async fn wire_ws(&self, path: &str) -> Result<WireWs, Error> {
        WireWs::connect(self, path).await
    }
}
