//! A small HTTP/1.x client over raw TCP that hides nothing: requests are
//! written byte for byte as built, and responses keep their version, header
//! order and chunk boundaries so checks can assert on them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::parse::{parse_chunk, parse_head, Chunk, Head, Headers};
use super::Error;

/// A request as it will be written on the wire.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query, e.g. `/echo/info?t=1`.
    pub target: String,
    /// `1.0` or `1.1`.
    pub version: &'static str,
    /// Header fields after `Host`, in order (a `Host` among them replaces
    /// the connection's).
    pub headers: Vec<(String, String)>,
    /// The body (sent as is).
    pub body: Vec<u8>,
    /// Whether to add `Content-Length` (for POST and bodies); on by default.
    pub content_length: bool,
}

impl Request {
    /// An HTTP/1.1 request with no body.
    pub fn new(method: &str, target: impl Into<String>) -> Self {
        Request {
            method: method.to_string(),
            target: target.into(),
            version: "1.1",
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
        }
    }

    /// Adds a header field.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Speaks HTTP/1.0 instead of 1.1.
    #[must_use]
    pub fn http10(mut self) -> Self {
        self.version = "1.0";
        self
    }

    /// Sends no `Content-Length` header (a body, if any, is still written).
    #[must_use]
    pub fn without_content_length(mut self) -> Self {
        self.content_length = false;
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The bytes written on the wire. `host` is the `Host` header unless
    /// the request sets one itself (a client may claim any host).
    pub fn to_bytes(&self, host: &str) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/{}\r\n", self.method, self.target, self.version);
        if !self.has_header("host") {
            out.push_str(&format!("Host: {host}\r\n"));
        }
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if self.content_length
            && !self.has_header("content-length")
            && (self.method == "POST" || !self.body.is_empty())
        {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (1xx, 204, 304, or a reply to HEAD).
    Empty,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

impl Framing {
    /// The framing of a response to `method` with this head.
    pub fn of(method: &str, head: &Head) -> Result<Framing, Error> {
        if method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304 {
            return Ok(Framing::Empty);
        }
        if let Some(te) = head.headers.get("transfer-encoding") {
            if te.to_ascii_lowercase().contains("chunked") {
                return Ok(Framing::Chunked);
            }
        }
        if let Some(cl) = head.headers.get("content-length") {
            let n = cl
                .parse()
                .map_err(|_| Error(format!("bad Content-Length {cl:?}")))?;
            return Ok(Framing::Length(n));
        }
        Ok(Framing::Close)
    }
}

/// One TCP connection with a read buffer.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
    host: String,
}

impl Conn {
    /// Connects to `addr`; `host` is sent as the `Host` header, `timeout`
    /// bounds every single read.
    pub async fn connect(addr: SocketAddr, host: &str, timeout: Duration) -> Result<Conn, Error> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error(format!("connect to {addr}: timed out")))?
            .map_err(|e| Error(format!("connect to {addr}: {e}")))?;
        stream.set_nodelay(true).ok();
        Ok(Conn {
            stream,
            buf: Vec::new(),
            timeout,
            host: host.to_string(),
        })
    }

    /// The timeout of one read.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Writes raw bytes.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| Error(format!("write: {e}")))
    }

    /// Writes a request (not waiting for the answer).
    pub async fn send(&mut self, req: &Request) -> Result<(), Error> {
        let bytes = req.to_bytes(&self.host);
        self.write_all(&bytes).await
    }

    /// Writes a request and reads the response head; the body is read from
    /// the returned [`Streaming`].
    pub async fn request(mut self, req: &Request) -> Result<Streaming, Error> {
        self.send(req).await?;
        let head = self.read_head().await?;
        let framing = Framing::of(&req.method, &head)?;
        Ok(Streaming::new(self, head, framing))
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> Result<usize, Error> {
        let mut tmp = [0u8; 16 * 1024];
        let n = tokio::time::timeout(self.timeout, self.stream.read(&mut tmp))
            .await
            .map_err(|_| Error(format!("no data from the server within {:?}", self.timeout)))?
            .map_err(|e| Error(format!("read: {e}")))?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Reads a response head.
    pub async fn read_head(&mut self) -> Result<Head, Error> {
        loop {
            if let Some((head, used)) = parse_head(&self.buf).map_err(|e| Error(e.0))? {
                self.buf.drain(..used);
                return Ok(head);
            }
            if self.fill().await? == 0 {
                return Err(Error(format!(
                    "connection closed before a full response head (got {:?})",
                    String::from_utf8_lossy(&self.buf)
                )));
            }
        }
    }

    /// Reads exactly `n` raw bytes.
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(Error(format!(
                    "connection closed after {} of {n} expected bytes",
                    self.buf.len()
                )));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads raw bytes until the server closes the connection.
    pub async fn read_to_close(&mut self) -> Result<Vec<u8>, Error> {
        while self.fill().await? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// Waits for the server to close the connection without sending more.
    pub async fn expect_closed(&mut self) -> Result<(), Error> {
        let rest = self.read_to_close().await?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(Error(format!(
                "expected the connection to close, got more bytes: {:?}",
                String::from_utf8_lossy(&rest)
            )))
        }
    }

    /// Bytes read but not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

/// A response whose body is read as it arrives.
#[derive(Debug)]
pub struct Streaming {
    /// Status line and headers.
    pub head: Head,
    conn: Conn,
    framing: Framing,
    remaining: usize,
    data: Vec<u8>,
    /// Sizes of the chunks received so far (chunked bodies only).
    pub chunks: Vec<usize>,
    ended: bool,
}

impl Streaming {
    fn new(conn: Conn, head: Head, framing: Framing) -> Self {
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        Streaming {
            head,
            conn,
            framing,
            remaining,
            data: Vec::new(),
            chunks: Vec::new(),
            ended: matches!(framing, Framing::Empty | Framing::Length(0)),
        }
    }

    /// How the body is delimited.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// Reads the next piece of body into `data` (one whole chunk for chunked
    /// bodies). `Ok(false)` once the body has ended.
    async fn more(&mut self) -> Result<bool, Error> {
        if self.ended {
            return Ok(false);
        }
        match self.framing {
            Framing::Empty => Ok(false),
            Framing::Length(_) => {
                if self.conn.buf.is_empty() && self.conn.fill().await? == 0 {
                    return Err(Error(format!(
                        "connection closed with {} body bytes missing",
                        self.remaining
                    )));
                }
                let n = self.remaining.min(self.conn.buf.len());
                self.data.extend(self.conn.buf.drain(..n));
                self.remaining -= n;
                self.ended = self.remaining == 0;
                Ok(true)
            }
            Framing::Close => {
                if self.conn.buf.is_empty() && self.conn.fill().await? == 0 {
                    self.ended = true;
                    return Ok(false);
                }
                self.data.append(&mut self.conn.buf);
                Ok(true)
            }
            Framing::Chunked => loop {
                if let Some((chunk, used)) = parse_chunk(&self.conn.buf).map_err(|e| Error(e.0))? {
                    self.conn.buf.drain(..used);
                    return Ok(match chunk {
                        Chunk::Data(d) => {
                            self.chunks.push(d.len());
                            self.data.extend_from_slice(&d);
                            true
                        }
                        Chunk::Last => {
                            self.ended = true;
                            false
                        }
                    });
                }
                if self.conn.fill().await? == 0 {
                    return Err(Error(
                        "connection closed inside a chunked body (no last chunk)".into(),
                    ));
                }
            },
        }
    }

    /// Reads exactly `n` body bytes.
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        while self.data.len() < n {
            if !self.more().await? {
                return Err(Error(format!(
                    "body ended after {:?}, expected {n} bytes",
                    String::from_utf8_lossy(&self.data)
                )));
            }
        }
        Ok(self.data.drain(..n).collect())
    }

    /// Reads body bytes up to and including `delim`.
    pub async fn read_until(&mut self, delim: &[u8]) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(pos) = self.data.windows(delim.len()).position(|w| w == delim) {
                return Ok(self.data.drain(..pos + delim.len()).collect());
            }
            if !self.more().await? {
                return Err(Error(format!(
                    "body ended before {:?}; it held {:?}",
                    String::from_utf8_lossy(delim),
                    String::from_utf8_lossy(&self.data)
                )));
            }
        }
    }

    /// Reads up to and including `delim`, as UTF-8 text.
    pub async fn read_text_until(&mut self, delim: &str) -> Result<String, Error> {
        let bytes = self.read_until(delim.as_bytes()).await?;
        String::from_utf8(bytes).map_err(|_| Error("body is not UTF-8".into()))
    }

    /// Reads the next whole chunk of a chunked body: its data, or empty for
    /// the last chunk.
    pub async fn read_chunk(&mut self) -> Result<Vec<u8>, Error> {
        if self.framing != Framing::Chunked {
            return Err(Error(format!("body is not chunked ({:?})", self.framing)));
        }
        if !self.data.is_empty() {
            return Ok(std::mem::take(&mut self.data));
        }
        self.more().await?;
        Ok(std::mem::take(&mut self.data))
    }

    /// Reads the rest of the body.
    pub async fn read_to_end(&mut self) -> Result<Vec<u8>, Error> {
        while self.more().await? {}
        Ok(std::mem::take(&mut self.data))
    }

    /// Expects the body to end with no more data.
    pub async fn expect_end(&mut self) -> Result<(), Error> {
        let rest = self.read_to_end().await?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(Error(format!(
                "expected the response to end, got more: {:?}",
                String::from_utf8_lossy(&rest)
            )))
        }
    }

    /// Reads the rest of the body and returns the whole response.
    pub async fn complete(mut self) -> Result<(Response, Conn), Error> {
        let body = self.read_to_end().await?;
        Ok((
            Response {
                head: self.head,
                body,
                chunks: self.chunks,
            },
            self.conn,
        ))
    }

    /// The underlying connection (for raw reads after the head).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// A complete response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status line and headers.
    pub head: Head,
    /// The decoded body.
    pub body: Vec<u8>,
    /// Sizes of the chunks, when the body was chunked.
    pub chunks: Vec<usize>,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let req = Request::new("POST", "/echo/a/b/xhr_send")
            .header("Content-Type", "text/plain")
            .body("[\"x\"]");
        assert_eq!(
            String::from_utf8(req.to_bytes("h:1")).unwrap(),
            "POST /echo/a/b/xhr_send HTTP/1.1\r\nHost: h:1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n[\"x\"]"
        );
        let empty_post = Request::new("POST", "/x").http10();
        assert_eq!(
            String::from_utf8(empty_post.to_bytes("h")).unwrap(),
            "POST /x HTTP/1.0\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
        );
        let claimed = Request::new("GET", "/x").header("host", "evil.example");
        assert_eq!(
            String::from_utf8(claimed.to_bytes("h")).unwrap(),
            "GET /x HTTP/1.1\r\nhost: evil.example\r\n\r\n"
        );
        let bare = Request::new("POST", "/x").without_content_length();
        assert_eq!(
            String::from_utf8(bare.to_bytes("h")).unwrap(),
            "POST /x HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        let get = Request::new("GET", "/");
        assert_eq!(
            String::from_utf8(get.to_bytes("h")).unwrap(),
            "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        );
    }

    fn head(status: u16, headers: &[(&str, &str)]) -> Head {
        Head {
            version: "1.1".into(),
            status,
            reason: String::new(),
            headers: Headers(
                headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }

    #[test]
    fn framing() {
        let cases = [
            (
                "GET",
                head(200, &[("Content-Length", "3")]),
                Framing::Length(3),
            ),
            (
                "GET",
                head(200, &[("Transfer-Encoding", "chunked")]),
                Framing::Chunked,
            ),
            (
                "GET",
                head(
                    200,
                    &[("Transfer-Encoding", "Chunked"), ("Content-Length", "3")],
                ),
                Framing::Chunked,
            ),
            ("GET", head(200, &[]), Framing::Close),
            ("GET", head(204, &[("Content-Length", "3")]), Framing::Empty),
            ("GET", head(304, &[]), Framing::Empty),
            ("GET", head(101, &[]), Framing::Empty),
            (
                "HEAD",
                head(200, &[("Content-Length", "3")]),
                Framing::Empty,
            ),
        ];
        for (method, head, expected) in cases {
            assert_eq!(Framing::of(method, &head).unwrap(), expected, "{head:?}");
        }
        assert!(Framing::of("GET", &head(200, &[("Content-Length", "x")])).is_err());
    }

    async fn serve_once(reply: &'static [u8]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            for piece in reply.chunks(7) {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_chunked_body_in_chunks() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\no\n\r\n13\r\nc[3000,\"Go away!\"]\n\r\n0\r\n\r\n").await;
        let conn = Conn::connect(addr, "x", Duration::from_secs(5))
            .await
            .unwrap();
        let mut s = conn.request(&Request::new("POST", "/")).await.unwrap();
        assert_eq!(s.framing(), Framing::Chunked);
        assert_eq!(s.read_chunk().await.unwrap(), b"o\n");
        assert_eq!(
            s.read_until(b"\n").await.unwrap(),
            b"c[3000,\"Go away!\"]\n"
        );
        assert_eq!(s.read_chunk().await.unwrap(), b"");
        assert_eq!(s.chunks, [2, 19]);
    }

    #[tokio::test]
    async fn reads_close_delimited_body() {
        let addr = serve_once(b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhhhh\no\n").await;
        let conn = Conn::connect(addr, "x", Duration::from_secs(5))
            .await
            .unwrap();
        let mut s = conn
            .request(&Request::new("GET", "/").http10())
            .await
            .unwrap();
        assert_eq!(s.head.version, "1.0");
        assert_eq!(s.framing(), Framing::Close);
        assert_eq!(s.read_exact(5).await.unwrap(), b"hhhh\n");
        assert_eq!(s.read_until(b"\n").await.unwrap(), b"o\n");
        s.expect_end().await.unwrap();
    }

    #[tokio::test]
    async fn reads_length_body_and_keeps_the_connection() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nWelcome to SockJS!\nHTTP/1.1 204 No Content\r\n\r\n").await;
        let conn = Conn::connect(addr, "x", Duration::from_secs(5))
            .await
            .unwrap();
        let s = conn.request(&Request::new("GET", "/")).await.unwrap();
        let (resp, mut conn) = s.complete().await.unwrap();
        assert_eq!(resp.text(), "Welcome to SockJS!\n");
        let next = conn.read_head().await.unwrap();
        assert_eq!(next.status, 204);
    }
}
