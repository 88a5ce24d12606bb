//! The HTTP/1.1 client of the load for the HTTP transports (xhr,
//! xhr_streaming, eventsource, htmlfile, jsonp): keep-alive,
//! `Content-Length` and chunked bodies, bodies read as a stream, one
//! reusable buffer per connection.
//!
//! The HTTP itself is the conformance suite's raw client
//! (`sockjs_conformance::client`): its pure parsers read the response head
//! ([`parse_head`]), decide how the body is delimited ([`Framing::of`]) and
//! decode chunks ([`parse_chunk`]). What stays here is what load needs and
//! the suite does not: connections made through [`Net`]'s spread of source
//! addresses, one read buffer per connection consumed in place (the suite's
//! keeps every byte for its checks), requests written into a reused buffer
//! with no allocation per message (the suite builds a [`Request`] value per
//! request), a keep-alive connection the server had closed told apart from
//! a failure so the request is sent again, and no per-read timeout (a
//! run's length bounds it).
//!
//! [`Request`]: sockjs_conformance::client::Request

use sockjs_conformance::client::{parse_chunk, parse_head, Chunk, Framing};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::frame::clip;
use crate::net::Net;

/// A keep-alive HTTP/1.1 connection.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// The server asked to close after the current response.
    pub(crate) closing: bool,
}

/// A response head: what the load needs of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) status: u16,
    /// How the body is delimited; while it is read, how much is left
    /// (`Length` counts down, `Empty` once it is complete).
    pub(crate) body: Framing,
}

impl Conn {
    pub(crate) async fn connect(net: &Net) -> Result<Conn, String> {
        let stream = net
            .connect()
            .await
            .map_err(|e| format!("connect {}: {e}", net.addr()))?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
            pos: 0,
            out: Vec::with_capacity(256),
            closing: false,
        })
    }

    /// Writes a request (a `Content-Length` is always sent, also for 0).
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(), String> {
        self.request_with(method, path, None, body).await
    }

    /// Writes a request with a `Content-Type` when one is given.
    pub(crate) async fn request_with(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        use std::io::Write;
        self.out.clear();
        let _ = write!(self.out, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(ct) = content_type {
            let _ = write!(self.out, "Content-Type: {ct}\r\n");
        }
        let _ = write!(self.out, "Content-Length: {}\r\n\r\n", body.len());
        self.out.extend_from_slice(body);
        self.stream
            .write_all(&self.out)
            .await
            .map_err(|e| format!("{method} {path}: write: {e}"))
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 16 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < 2048 {
            self.buf.reserve(8192);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Reads a response head. `Ok(None)` when the connection was closed
    /// before any byte of it arrived (a keep-alive connection that the server
    /// had closed).
    pub(crate) async fn head(&mut self, method: &str) -> Result<Option<Head>, String> {
        let (head, used) = loop {
            if let Some(parsed) = parse_head(&self.buf[self.pos..]).map_err(|e| e.to_string())? {
                break parsed;
            }
            let had = self.buf.len() - self.pos;
            match self.fill().await {
                Ok(0) if had == 0 => return Ok(None),
                Ok(0) => return Err("connection closed inside a response head".into()),
                Ok(_) => {}
                Err(e) if had == 0 && e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Ok(None)
                }
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        self.pos += used;
        let body = Framing::of(method, &head).map_err(|e| e.to_string())?;
        let connection = head.headers.get("connection").map(str::to_ascii_lowercase);
        let close = match connection {
            Some(v) if v.contains("close") => true,
            Some(v) if v.contains("keep-alive") => false,
            _ => head.version == "1.0",
        };
        self.closing = close || body == Framing::Close;
        Ok(Some(Head {
            status: head.status,
            body,
        }))
    }

    /// Moves decoded body bytes into `out`. Returns `Ok(false)` once the body
    /// is complete (nothing more will come), `Ok(true)` after appending some.
    pub(crate) async fn body_chunk(
        &mut self,
        st: &mut Framing,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        loop {
            let avail = self.buf.len() - self.pos;
            match *st {
                Framing::Empty | Framing::Length(0) => {
                    *st = Framing::Empty;
                    return Ok(false);
                }
                Framing::Length(n) if avail > 0 => {
                    let k = n.min(avail);
                    out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
                    self.pos += k;
                    *st = Framing::Length(n - k);
                    return Ok(true);
                }
                Framing::Length(_) => self.more("inside a response body").await?,
                Framing::Chunked => {
                    match parse_chunk(&self.buf[self.pos..]).map_err(|e| e.to_string())? {
                        Some((Chunk::Data(data), used)) => {
                            out.extend_from_slice(&data);
                            self.pos += used;
                            return Ok(true);
                        }
                        Some((Chunk::Last, used)) => {
                            self.pos += used;
                            *st = Framing::Empty;
                            return Ok(false);
                        }
                        None => self.more("inside a chunked body").await?,
                    }
                }
                Framing::Close if avail > 0 => {
                    out.extend_from_slice(&self.buf[self.pos..]);
                    self.pos = self.buf.len();
                    return Ok(true);
                }
                Framing::Close => match self.fill().await {
                    Ok(0) => {
                        *st = Framing::Empty;
                        return Ok(false);
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("read: {e}")),
                },
            }
        }
    }

    async fn more(&mut self, what: &str) -> Result<(), String> {
        match self.fill().await {
            Ok(0) => Err(format!("connection closed {what}")),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read {what}: {e}")),
        }
    }

    /// Reads a whole body.
    pub(crate) async fn body(&mut self, head: &Head) -> Result<Vec<u8>, String> {
        let mut st = head.body;
        let mut out = Vec::new();
        while self.body_chunk(&mut st, &mut out).await? {}
        Ok(out)
    }

    /// Reads until the server ends the connection. A clean end (FIN) is
    /// `Ok`; more bytes, or a TCP reset (which makes the kernel throw away
    /// whatever had not been read yet), is an error.
    pub(crate) async fn expect_eof(&mut self) -> Result<(), String> {
        if self.pos < self.buf.len() {
            return Err(format!(
                "unexpected bytes after the last response: {}",
                clip(&String::from_utf8_lossy(&self.buf[self.pos..]))
            ));
        }
        match self.fill().await {
            Ok(0) => Ok(()),
            Ok(_) => Err(format!(
                "unexpected bytes after the last response: {}",
                clip(&String::from_utf8_lossy(&self.buf[self.pos..]))
            )),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                Err("connection reset (ECONNRESET) instead of a clean end".into())
            }
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Drops memory held for bursts (used when thousands are held idle).
    pub(crate) fn shrink(&mut self) {
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        }
        self.out = Vec::new();
    }
}

/// `POST .../xhr_send` on a connection of its own, reconnecting when the
/// server closed a keep-alive connection.
#[derive(Debug)]
pub(crate) struct Sender {
    conn: Option<Conn>,
}

impl Sender {
    pub(crate) fn new() -> Self {
        Sender { conn: None }
    }

    /// Sends `body` to `path` and expects `204` (or `200`).
    pub(crate) async fn send(&mut self, net: &Net, path: &str, body: &[u8]) -> Result<(), String> {
        let (status, answer) = self.post(net, path, None, body).await?;
        if status != 204 && status != 200 {
            return Err(format!(
                "POST {path}: status {status} {}",
                clip(&String::from_utf8_lossy(&answer))
            ));
        }
        Ok(())
    }

    /// POSTs `body` to `path` and returns the status and the body of the
    /// answer, whatever they are.
    pub(crate) async fn post(
        &mut self,
        net: &Net,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        for attempt in 0..2 {
            let (mut conn, reused) = match self.conn.take() {
                Some(c) => (c, true),
                None => (Conn::connect(net).await?, false),
            };
            if let Err(e) = conn.request_with("POST", path, content_type, body).await {
                if attempt == 0 && reused {
                    continue;
                }
                return Err(e);
            }
            let Some(head) = conn.head("POST").await? else {
                if attempt == 0 && reused {
                    continue;
                }
                return Err(format!("POST {path}: connection closed without a response"));
            };
            let answer = conn.body(&head).await?;
            if !conn.closing {
                self.conn = Some(conn);
            }
            return Ok((head.status, answer));
        }
        unreachable!("the loop returns")
    }
}

/// Which streaming transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamKind {
    XhrStreaming,
    EventSource,
    HtmlFile,
}

/// A receiving stream (xhr_streaming, eventsource or htmlfile) of one
/// session, opened again whenever the server ends a response
/// (`response_limit`).
#[derive(Debug)]
pub(crate) struct Stream {
    conn: Conn,
    kind: StreamKind,
    path: String,
    body: Framing,
    decoded: Vec<u8>,
    dpos: usize,
    /// How many times the response was re-opened.
    pub(crate) reopens: u64,
    /// Whether [`Stream::next_frame`] returns heartbeat frames (`h`) too.
    pub(crate) heartbeats: bool,
}

impl Stream {
    /// Opens the stream at `base` (`PREFIX/<server>/<session>`) and reads
    /// the `o` frame.
    pub(crate) async fn open(net: &Net, base: &str, kind: StreamKind) -> Result<Stream, String> {
        let mut s = Stream::attach(net, base, kind).await?;
        let first = s.next_frame(net).await?;
        if first != "o" {
            return Err(format!("{}: first frame {}", s.path, clip(&first)));
        }
        Ok(s)
    }

    /// Opens the stream at `base` without reading anything (for a session
    /// that may exist already).
    pub(crate) async fn attach(net: &Net, base: &str, kind: StreamKind) -> Result<Stream, String> {
        let path = match kind {
            StreamKind::XhrStreaming => format!("{base}/xhr_streaming"),
            StreamKind::EventSource => format!("{base}/eventsource"),
            StreamKind::HtmlFile => format!("{base}/htmlfile?c=cb"),
        };
        let mut s = Stream {
            conn: Conn::connect(net).await?,
            kind,
            path,
            body: Framing::Empty,
            decoded: Vec::with_capacity(256),
            dpos: 0,
            reopens: 0,
            heartbeats: false,
        };
        s.request(net).await?;
        Ok(s)
    }

    async fn request(&mut self, net: &Net) -> Result<(), String> {
        let method = match self.kind {
            StreamKind::XhrStreaming => "POST",
            StreamKind::EventSource | StreamKind::HtmlFile => "GET",
        };
        for attempt in 0..2 {
            if self.conn.closing || attempt > 0 {
                self.conn = Conn::connect(net).await?;
            }
            self.conn.request(method, &self.path, b"").await?;
            match self.conn.head(method).await? {
                Some(head) if head.status == 200 => {
                    self.body = head.body;
                    return Ok(());
                }
                Some(head) => {
                    let body = self.conn.body(&head).await.unwrap_or_default();
                    return Err(format!(
                        "{method} {}: status {} {}",
                        self.path,
                        head.status,
                        clip(&String::from_utf8_lossy(&body))
                    ));
                }
                None if attempt == 0 => continue,
                None => break,
            }
        }
        Err(format!(
            "{method} {}: connection closed without a response",
            self.path
        ))
    }

    /// The next `o`, `a[...]` or `c[...]` frame (the prelude is skipped,
    /// and heartbeats unless `heartbeats` is set; a response that ends is
    /// opened again).
    pub(crate) async fn next_frame(&mut self, net: &Net) -> Result<String, String> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(frame);
            }
            if !self
                .conn
                .body_chunk(&mut self.body, &mut self.decoded)
                .await?
            {
                if self.dpos != self.decoded.len() {
                    return Err(format!("{}: response ended inside a frame", self.path));
                }
                self.reopens += 1;
                self.request(net).await?;
            }
        }
    }

    /// After a close frame: the response must end with no frame after it.
    pub(crate) async fn expect_response_end(&mut self) -> Result<(), String> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Err(format!(
                    "{}: a frame after the close frame: {}",
                    self.path,
                    clip(&frame)
                ));
            }
            if !self
                .conn
                .body_chunk(&mut self.body, &mut self.decoded)
                .await?
            {
                if self.dpos != self.decoded.len() {
                    return Err(format!(
                        "{}: the response ended inside a frame: {}",
                        self.path,
                        clip(&String::from_utf8_lossy(&self.decoded[self.dpos..]))
                    ));
                }
                return Ok(());
            }
        }
    }

    /// The next complete frame among the bytes read so far.
    fn take_frame(&mut self) -> Result<Option<String>, String> {
        while let Some(i) = self.decoded[self.dpos..].iter().position(|&b| b == b'\n') {
            let line = &self.decoded[self.dpos..self.dpos + i];
            self.dpos += i + 1;
            let line = std::str::from_utf8(line).map_err(|_| "frame is not UTF-8".to_string())?;
            let frame = match self.kind {
                StreamKind::XhrStreaming => {
                    if line.len() > 1 && line.bytes().all(|b| b == b'h') {
                        continue; // the prelude
                    }
                    line.to_string()
                }
                StreamKind::EventSource => {
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    match line.strip_prefix("data: ") {
                        Some(f) => percent_decode(f)?,
                        None => return Err(format!("unexpected eventsource line {}", clip(line))),
                    }
                }
                StreamKind::HtmlFile => {
                    // `<script>`, `p("<frame as JSON>");`, `</script>`;
                    // the prelude's lines are skipped.
                    let Some(json) = line.strip_prefix("p(") else {
                        continue;
                    };
                    let json = json
                        .strip_suffix(");")
                        .ok_or_else(|| format!("unexpected htmlfile line {}", clip(line)))?;
                    serde_json::from_str::<String>(json)
                        .map_err(|e| format!("htmlfile frame {}: {e}", clip(line)))?
                }
            };
            if frame == "h" && !self.heartbeats {
                continue;
            }
            return Ok(Some(frame));
        }
        if self.dpos == self.decoded.len() {
            self.decoded.clear();
            self.dpos = 0;
        } else if self.dpos > 64 * 1024 {
            self.decoded.drain(..self.dpos);
            self.dpos = 0;
        }
        Ok(None)
    }

    /// The connection of the current response.
    pub(crate) fn conn_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Drops memory held for bursts.
    pub(crate) fn shrink(&mut self) {
        self.conn.shrink();
        if self.dpos == self.decoded.len() {
            self.decoded = Vec::new();
            self.dpos = 0;
        }
    }
}

/// Which polling transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollKind {
    /// `POST .../xhr`, the frame and `\n`.
    Xhr,
    /// `GET .../jsonp?c=cb`, `/**/cb("<frame as JSON>");\r\n`.
    Jsonp,
}

/// Polling (xhr or jsonp): one request at a time on a connection of its own.
#[derive(Debug)]
pub(crate) struct Poller {
    conn: Conn,
    path: String,
    kind: PollKind,
}

impl Poller {
    /// An xhr poller for the session at `base`.
    pub(crate) async fn open(net: &Net, base: &str) -> Result<Poller, String> {
        Poller::open_kind(net, base, PollKind::Xhr).await
    }

    /// A poller of `kind` for the session at `base` (nothing is sent yet).
    pub(crate) async fn open_kind(net: &Net, base: &str, kind: PollKind) -> Result<Poller, String> {
        Ok(Poller {
            conn: Conn::connect(net).await?,
            path: match kind {
                PollKind::Xhr => format!("{base}/xhr"),
                PollKind::Jsonp => format!("{base}/jsonp?c=cb"),
            },
            kind,
        })
    }

    fn method(&self) -> &'static str {
        match self.kind {
            PollKind::Xhr => "POST",
            PollKind::Jsonp => "GET",
        }
    }

    /// Sends the poll request (the answer is read by [`Poller::answer`]).
    pub(crate) async fn ask(&mut self, net: &Net) -> Result<(), String> {
        if self.conn.closing {
            self.conn = Conn::connect(net).await?;
        }
        let method = self.method();
        self.conn.request(method, &self.path, b"").await
    }

    /// Reads the answer to the poll: one frame.
    pub(crate) async fn answer(&mut self) -> Result<String, String> {
        let method = self.method();
        let head = self.conn.head(method).await?.ok_or_else(|| {
            format!(
                "{method} {}: connection closed without a response",
                self.path
            )
        })?;
        let body = self.conn.body(&head).await?;
        if head.status != 200 {
            return Err(format!(
                "{method} {}: status {} {}",
                self.path,
                head.status,
                clip(&String::from_utf8_lossy(&body))
            ));
        }
        let text = String::from_utf8(body).map_err(|_| "frame is not UTF-8".to_string())?;
        match self.kind {
            PollKind::Xhr => match text.strip_suffix('\n') {
                Some(frame) => Ok(frame.to_string()),
                None => Err(format!("xhr answer without its newline: {}", clip(&text))),
            },
            PollKind::Jsonp => {
                let json = text
                    .strip_prefix("/**/cb(")
                    .and_then(|t| t.strip_suffix(");\r\n"))
                    .ok_or_else(|| format!("unexpected jsonp answer {}", clip(&text)))?;
                serde_json::from_str::<String>(json)
                    .map_err(|e| format!("jsonp frame {}: {e}", clip(&text)))
            }
        }
    }

    /// The poller's connection.
    pub(crate) fn conn_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// Undoes the percent-escaping of an eventsource frame (`%25`, `%0D`,
/// `%0A`, `%00`; sockjs-client runs `decodeURI` on each event).
pub(crate) fn percent_decode(s: &str) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {}", clip(s)))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("percent escapes are not UTF-8 in {}", clip(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `reply` on one connection (after the request arrived), then
    /// closes it.
    async fn serve_once(reply: &'static [u8]) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            s.write_all(reply).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn keep_alive_chunked_then_length_then_close() {
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              2\r\no\n\r\n5\r\nh\nh\nh\r\n0\r\n\r\n\
              HTTP/1.1 204 No Content\r\n\r\n\
              HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        .await;
        let net = Net::new(addr, 1);
        let mut conn = Conn::connect(&net).await.unwrap();
        conn.request("POST", "/x", b"").await.unwrap();

        let head = conn.head("POST").await.unwrap().unwrap();
        assert_eq!((head.status, head.body), (200, Framing::Chunked));
        let mut st = head.body;
        let mut out = Vec::new();
        assert!(conn.body_chunk(&mut st, &mut out).await.unwrap());
        assert_eq!(out, b"o\n");
        assert!(conn.body_chunk(&mut st, &mut out).await.unwrap());
        assert!(!conn.body_chunk(&mut st, &mut out).await.unwrap());
        assert_eq!(out, b"o\nh\nh\nh");
        assert!(!conn.closing);

        let head = conn.head("POST").await.unwrap().unwrap();
        assert_eq!((head.status, head.body), (204, Framing::Empty));

        let head = conn.head("POST").await.unwrap().unwrap();
        assert_eq!(conn.body(&head).await.unwrap(), b"abc");
        assert!(conn.closing);
        conn.expect_eof().await.unwrap();
        assert!(conn.head("POST").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn http10_body_until_close() {
        let addr = serve_once(b"HTTP/1.0 200 OK\r\n\r\nuntil the end").await;
        let net = Net::new(addr, 1);
        let mut conn = Conn::connect(&net).await.unwrap();
        conn.request("GET", "/x", b"").await.unwrap();
        let head = conn.head("GET").await.unwrap().unwrap();
        assert_eq!(head.body, Framing::Close);
        assert!(conn.closing);
        assert_eq!(conn.body(&head).await.unwrap(), b"until the end");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a[\"x\"]").unwrap(), "a[\"x\"]");
        assert_eq!(percent_decode("a%25b%0D%0A%00c").unwrap(), "a%b\r\n\0c");
        assert!(percent_decode("a%2").is_err());
        assert!(percent_decode("a%zz").is_err());
    }
}
