//! A small blocking SockJS client for the cluster checks (std only, as the
//! rest of xtask): framed WebSocket and xhr-streaming sessions, each read
//! by a thread of its own that reports what it sees on a channel, and
//! `xhr_send` on a connection per message. Enough for the services of the
//! test server and messages made of letters, digits and dashes.

use sockjs_proto::Decoded;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

/// Bound on connecting and on each blocking read of a handshake.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a reading thread looks whether it should stop.
const READ_TICK: Duration = Duration::from_millis(200);

/// A session's transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    WebSocket,
    XhrStreaming,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::WebSocket => "websocket",
            Kind::XhrStreaming => "xhr-streaming",
        }
    }
}

/// What a client's reading thread reports.
#[derive(Debug)]
pub(crate) enum Event {
    /// The session opened (`o`) on the node named by `X-Node`.
    Opened {
        client: usize,
        node: String,
    },
    Message {
        client: usize,
        text: String,
    },
    /// The connection ended (closed by the server, reset, a close frame).
    Ended {
        client: usize,
        why: String,
    },
}

/// One SockJS session.
pub(crate) struct Client {
    pub(crate) kind: Kind,
    addr: SocketAddr,
    /// `/prefix/<server>/<session>`.
    base: String,
    /// The WebSocket (to write to), or the streaming response (to shut).
    socket: TcpStream,
    stop: Arc<AtomicBool>,
}

impl Client {
    /// Opens session `session` of `prefix` through `addr`; its thread
    /// reports on `events` (`Opened` once `o` arrived).
    pub(crate) fn open(
        id: usize,
        kind: Kind,
        addr: SocketAddr,
        prefix: &str,
        session: &str,
        events: Sender<Event>,
    ) -> Result<Client, String> {
        Client::open_with_query(id, kind, addr, prefix, session, "", events)
    }

    /// `open`, with `query` (`?a=b`, or empty) on the opening request, as
    /// sockjs-client passes a service URL's query.
    pub(crate) fn open_with_query(
        id: usize,
        kind: Kind,
        addr: SocketAddr,
        prefix: &str,
        session: &str,
        query: &str,
        events: Sender<Event>,
    ) -> Result<Client, String> {
        let base = format!("{prefix}/{:03}/{session}", id % 1000);
        let socket = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = socket.set_nodelay(true);
        socket
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let request = match kind {
            Kind::WebSocket => format!(
                "GET {base}/websocket{query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n"
            ),
            Kind::XhrStreaming => format!(
                "POST {base}/xhr_streaming{query} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            ),
        };
        (&socket)
            .write_all(request.as_bytes())
            .map_err(|e| format!("{base}: {e}"))?;
        let mut reader = BufReader::new(socket.try_clone().map_err(|e| e.to_string())?);
        let head = read_head(&mut reader).map_err(|e| format!("{base}: {e}"))?;
        let want = if kind == Kind::WebSocket { 101 } else { 200 };
        if head.status != want {
            return Err(format!("{base}: status {} (want {want})", head.status));
        }
        let node = head.header("x-node").unwrap_or("?").to_owned();
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        socket
            .set_read_timeout(Some(READ_TICK))
            .map_err(|e| e.to_string())?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let writer = socket.try_clone().map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            let mut frames = Frames::default();
            let result = match kind {
                Kind::WebSocket => read_websocket(reader, writer, &thread_stop, &mut |f| {
                    frames.frame(id, &node, f, &events)
                }),
                Kind::XhrStreaming => read_stream(reader, chunked, &thread_stop, &mut |bytes| {
                    frames.bytes(id, &node, bytes, &events)
                }),
            };
            if !thread_stop.load(Ordering::Relaxed) {
                let why = match result {
                    Ok(why) | Err(why) => why,
                };
                let _ = events.send(Event::Ended { client: id, why });
            }
        });
        Ok(Client {
            kind,
            addr,
            base,
            socket,
            stop,
        })
    }

    /// Sends one message (`[a-zA-Z0-9-]*`).
    pub(crate) fn send(&self, text: &str) -> Result<(), String> {
        debug_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        let body = format!("[\"{text}\"]");
        match self.kind {
            Kind::WebSocket => {
                let frame = websocket_frame(0x1, body.as_bytes());
                (&self.socket)
                    .write_all(&frame)
                    .map_err(|e| format!("{}: send: {e}", self.base))
            }
            Kind::XhrStreaming => {
                let path = format!("{}/xhr_send", self.base);
                let (status, answer) = post(self.addr, &path, &body)?;
                if status == 204 {
                    Ok(())
                } else {
                    Err(format!("POST {path}: {status} {answer}"))
                }
            }
        }
    }

    /// The session's `xhr_send` URL path.
    pub(crate) fn send_path(&self) -> String {
        format!("{}/xhr_send", self.base)
    }

    /// Drops the connection; the thread ends without reporting.
    pub(crate) fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

/// `POST path` with `body` on a connection of its own: status and body.
pub(crate) fn post(addr: SocketAddr, path: &str, body: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    // One write: a request in pieces would wait for Nagle's algorithm.
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("POST {path}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("POST {path}: no status line"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_head(reader: &mut impl BufRead) -> Result<Head, String> {
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    let status = line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Head { status, headers })
}

/// Turns SockJS frames into events: `o` (once), `a[...]`, `c[...]`.
#[derive(Default)]
struct Frames {
    opened: bool,
    /// Bytes of an xhr-streaming body not yet ended by `\n`.
    partial: Vec<u8>,
}

impl Frames {
    /// Returns `Some(why)` when the session ended.
    fn frame(
        &mut self,
        id: usize,
        node: &str,
        frame: &str,
        events: &Sender<Event>,
    ) -> Option<String> {
        let frame = frame.trim_end_matches('\n');
        // xhr-streaming's prelude (a line of `h`) is transport framing, not
        // a frame.
        if frame.len() > 1 && frame.bytes().all(|b| b == b'h') {
            return None;
        }
        match sockjs_proto::decode(frame) {
            Ok(Decoded::Open) if !self.opened => {
                self.opened = true;
                let _ = events.send(Event::Opened {
                    client: id,
                    node: node.to_owned(),
                });
            }
            Ok(Decoded::Heartbeat) => {}
            Ok(Decoded::Messages(messages)) => {
                for text in messages {
                    let _ = events.send(Event::Message {
                        client: id,
                        text: text.into_owned(),
                    });
                }
            }
            Ok(Decoded::Close { code, reason }) => {
                return Some(format!("close frame [{code},{reason:?}]"));
            }
            Ok(Decoded::Open) => return Some("a second open frame".into()),
            Err(e) => return Some(format!("bad frame {frame:?}: {e}")),
        }
        None
    }

    fn bytes(
        &mut self,
        id: usize,
        node: &str,
        bytes: &[u8],
        events: &Sender<Event>,
    ) -> Option<String> {
        self.partial.extend_from_slice(bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            if let Some(why) = self.frame(id, node, &text, events) {
                return Some(why);
            }
        }
        None
    }
}

/// Reads WebSocket frames until the connection ends; answers pings.
fn read_websocket(
    mut reader: BufReader<TcpStream>,
    mut writer: TcpStream,
    stop: &AtomicBool,
    on_text: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut message = Vec::new();
    loop {
        let mut head = [0u8; 2];
        read_exact(&mut reader, &mut head, stop)?;
        let opcode = head[0] & 0x0f;
        let mut len = u64::from(head[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            read_exact(&mut reader, &mut b, stop)?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            read_exact(&mut reader, &mut b, stop)?;
            len = u64::from_be_bytes(b);
        }
        if len > 16 << 20 {
            return Err(format!("a frame of {len} bytes"));
        }
        let mut payload = vec![0u8; len as usize];
        read_exact(&mut reader, &mut payload, stop)?;
        match opcode {
            0x0 | 0x1 => {
                message.extend_from_slice(&payload);
                if head[0] & 0x80 != 0 {
                    let text = String::from_utf8_lossy(&message).into_owned();
                    message.clear();
                    if let Some(why) = on_text(&text) {
                        return Ok(why);
                    }
                }
            }
            0x8 => return Ok("websocket close frame".into()),
            0x9 => {
                let _ = writer.write_all(&websocket_frame(0xa, &payload));
            }
            _ => {}
        }
    }
}

/// Reads a streaming response body (chunked or until close).
fn read_stream(
    mut reader: BufReader<TcpStream>,
    chunked: bool,
    stop: &AtomicBool,
    on_bytes: &mut dyn FnMut(&[u8]) -> Option<String>,
) -> Result<String, String> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if chunked {
            let mut line = Vec::new();
            read_line(&mut reader, &mut line, stop)?;
            let size = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| usize::from_str_radix(l.trim().split(';').next()?, 16).ok())
                .ok_or_else(|| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                return Ok("response ended".into());
            }
            let mut chunk = vec![0u8; size + 2];
            read_exact(&mut reader, &mut chunk, stop)?;
            if let Some(why) = on_bytes(&chunk[..size]) {
                return Ok(why);
            }
        } else {
            let n = loop {
                match reader.read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if is_tick(&e) && !stop.load(Ordering::Relaxed) => continue,
                    Err(e) => return Err(e.to_string()),
                }
            };
            if n == 0 {
                return Ok("response ended".into());
            }
            if let Some(why) = on_bytes(&buf[..n]) {
                return Ok(why);
            }
        }
    }
}

/// A read that ended with nothing read and may be made again: its
/// timeout passed, or a signal interrupted it (`EINTR`, which `read` does
/// not retry by itself; one cluster-test run in a dozen failed on it).
fn is_tick(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// `read_exact` that waits through read timeouts until told to stop.
fn read_exact(reader: &mut impl Read, buf: &mut [u8], stop: &AtomicBool) -> Result<(), String> {
    let mut done = 0;
    while done < buf.len() {
        match reader.read(&mut buf[done..]) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => done += n,
            Err(e) if is_tick(&e) && !stop.load(Ordering::Relaxed) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    stop: &AtomicBool,
) -> Result<(), String> {
    loop {
        match reader.read_until(b'\n', line) {
            Ok(0) => return Err("connection closed".into()),
            Ok(_) if line.ends_with(b"\n") => return Ok(()),
            Ok(_) => {}
            Err(e) if is_tick(&e) && !stop.load(Ordering::Relaxed) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// A masked client frame.
fn websocket_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x8e];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_become_events() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut frames = Frames::default();
        let prelude = format!("{}\n", "h".repeat(2048));
        assert_eq!(frames.bytes(1, "n1", prelude.as_bytes(), &tx), None);
        assert_eq!(
            frames.bytes(1, "n1", b"o\nh\na[\"a\",\"b\\\"c\",\"\\u00e9\\n\"]\n", &tx),
            None
        );
        let events: Vec<String> = rx.try_iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(events[0].starts_with("Opened"), "{events:?}");
        assert!(events[3].contains("\"é\\n\""), "{events:?}");
        assert_eq!(
            frames.frame(1, "n1", r#"c[3000,"Go away!"]"#, &tx),
            Some(r#"close frame [3000,"Go away!"]"#.into())
        );
        assert!(frames.frame(1, "n1", "a[1]", &tx).is_some());
        assert!(frames.frame(1, "n1", "o", &tx).is_some());
    }

    #[test]
    fn masks_frames() {
        let f = websocket_frame(0x1, b"hi");
        assert_eq!(&f[..2], &[0x81, 0x82]);
        assert_eq!(f[6] ^ f[2], b'h');
        assert_eq!(websocket_frame(0x1, &[0; 300])[1], 0x80 | 126);
    }
}
