//! A WebSocket client that reads frames off the TCP connection itself, to
//! see exactly how a connection ends: whether the close frame arrived
//! intact, whether the server then ended the connection with a FIN or threw
//! it away with a reset (which makes the client's kernel discard what was
//! not read yet), and whether the client answers the close frame, as
//! browsers do, or not.

use std::io::ErrorKind;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Error, Target};

/// A frame from the server (continuations already joined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireFrame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping,
    /// A pong.
    Pong,
    /// A close frame with its code and reason, if it had any.
    Close(Option<(u16, String)>),
}

/// What a connection showed from the first frame to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    /// The text messages before the close frame, in order.
    pub texts: Vec<String>,
    /// The close frame's code and reason.
    pub close: Option<(u16, String)>,
    /// The server ended the connection (FIN) after the close frame. False
    /// when it kept it open until the client gave up waiting, which a
    /// server may do while it waits for the client's reply.
    pub server_ended: bool,
}

/// How long a client that does not answer the close frame waits for the
/// server to end the connection before it ends it itself.
pub const NO_REPLY_WAIT: Duration = Duration::from_millis(200);

/// An open WebSocket whose frames are parsed here.
#[derive(Debug)]
pub struct WireWs {
    tcp: TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl WireWs {
    /// Opens a WebSocket to `path` (relative to the target's prefix).
    /// [`Target::wire_ws`] is the same.
    pub async fn connect(target: &Target, path: &str) -> Result<WireWs, Error> {
        let path = target.path(path);
        let timeout = target.timeout;
        let mut tcp = tokio::time::timeout(timeout, TcpStream::connect(target.addr))
            .await
            .map_err(|_| Error(format!("{path}: connect timed out")))?
            .map_err(|e| Error(format!("{path}: connect: {e}")))?;
        tcp.set_nodelay(true).ok();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            target.host
        );
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| Error(format!("{path}: write handshake: {e}")))?;
        let mut ws = WireWs {
            tcp,
            buf: Vec::with_capacity(4096),
            timeout,
        };
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if ws.fill().await? == 0 {
                return Err(Error(format!("{path}: connection ended in the handshake")));
            }
        };
        let head = String::from_utf8_lossy(&ws.buf[..end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            let line = head.lines().next().unwrap_or("");
            return Err(Error(format!("{path}: handshake answered {line:?}")));
        }
        ws.buf.drain(..end);
        Ok(ws)
    }

    /// Reads more bytes into the buffer; a reset is reported as such.
    async fn fill(&mut self) -> Result<usize, Error> {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(self.timeout, self.tcp.read(&mut chunk))
            .await
            .map_err(|_| Error(format!("nothing from the server within {:?}", self.timeout)))?
            .map_err(|e| match e.kind() {
                ErrorKind::ConnectionReset => {
                    Error("the server reset the connection (TCP RST)".into())
                }
                _ => Error(format!("read: {e}")),
            })?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Sends one masked, final frame.
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), Error> {
        self.send_frame_raw(0x80 | opcode, payload, true).await
    }

    /// Sends one frame whose first byte (FIN, reserved bits, opcode) is
    /// `first`, masked or not: for testing how a server takes frames that
    /// break the protocol.
    pub async fn send_frame_raw(
        &mut self,
        first: u8,
        payload: &[u8],
        masked: bool,
    ) -> Result<(), Error> {
        let mask: [u8; 4] = if masked { rand_mask() } else { [0; 4] };
        let bit = if masked { 0x80 } else { 0 };
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(first);
        match payload.len() {
            n if n < 126 => frame.push(bit | n as u8),
            n if n <= 0xFFFF => {
                frame.push(bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            frame.extend_from_slice(&mask);
        }
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.tcp.write_all(&frame).await.map_err(write_error)
    }

    /// Writes `bytes` as they are, in one write: frames built by the
    /// caller, several at once.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.tcp.write_all(bytes).await.map_err(write_error)
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    /// Sends a close frame with `code` (or none).
    pub async fn send_close(&mut self, code: Option<u16>) -> Result<(), Error> {
        let payload = code.map(u16::to_be_bytes);
        self.send_frame(0x8, payload.as_ref().map_or(&[][..], |p| &p[..]))
            .await
    }

    /// The next frame, or `None` when the server ended the connection
    /// (FIN). A reset, a timeout or a malformed frame is an error.
    pub async fn next(&mut self) -> Result<Option<WireFrame>, Error> {
        let mut message: Option<(u8, Vec<u8>)> = None;
        loop {
            let Some((fin, opcode, payload)) = self.parse()? else {
                if self.fill().await? == 0 {
                    if self.buf.is_empty() && message.is_none() {
                        return Ok(None);
                    }
                    return Err(Error("the connection ended inside a frame".into()));
                }
                continue;
            };
            let (opcode, payload) = match (opcode, message.take()) {
                (0x0, Some((first, mut data))) => {
                    data.extend_from_slice(&payload);
                    (first, data)
                }
                (0x0, None) => return Err(Error("a continuation frame with no start".into())),
                (op, _) => (op, payload),
            };
            if !fin {
                message = Some((opcode, payload));
                continue;
            }
            return Ok(Some(match opcode {
                0x1 => WireFrame::Text(
                    String::from_utf8(payload)
                        .map_err(|_| Error("a text frame that is not UTF-8".into()))?,
                ),
                0x2 => WireFrame::Binary(payload),
                0x8 => WireFrame::Close(match payload.len() {
                    0 => None,
                    1 => return Err(Error("a close frame with a 1-byte payload".into())),
                    _ => Some((
                        u16::from_be_bytes([payload[0], payload[1]]),
                        String::from_utf8(payload[2..].to_vec())
                            .map_err(|_| Error("a close reason that is not UTF-8".into()))?,
                    )),
                }),
                0x9 => WireFrame::Ping,
                0xA => WireFrame::Pong,
                op => return Err(Error(format!("unknown opcode {op:#x}"))),
            }));
        }
    }

    /// Takes one whole frame off the buffer: (fin, opcode, payload).
    fn parse(&mut self) -> Result<Option<(bool, u8, Vec<u8>)>, Error> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        if b[1] & 0x80 != 0 {
            return Err(Error("a masked frame from the server".into()));
        }
        let (len, start) = match b[1] & 0x7F {
            126 if b.len() < 4 => return Ok(None),
            126 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() < 10 => return Ok(None),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            n => (n as usize, 2),
        };
        if b.len() < start + len {
            return Ok(None);
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0F);
        let payload = b[start..start + len].to_vec();
        self.buf.drain(..start + len);
        Ok(Some((fin, opcode, payload)))
    }

    /// Whether the server has ended the connection by now, without waiting:
    /// `false` when a read would block (the connection is open and idle) or
    /// finds bytes (kept for [`next`](Self::next)), `true` at its end of
    /// stream. A reset is an error.
    pub fn ended_now(&mut self) -> Result<bool, Error> {
        let mut chunk = [0u8; 4096];
        match self.tcp.try_read(&mut chunk) {
            Ok(0) => Ok(true),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(false)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                Err(Error("the server reset the connection (TCP RST)".into()))
            }
            Err(e) => Err(Error(format!("read: {e}"))),
        }
    }

    /// Waits up to `wait` for the server to end the connection (FIN) and
    /// says how long it took; a frame, a reset or no end in time is an
    /// error.
    pub async fn until_end(&mut self, wait: Duration) -> Result<Duration, Error> {
        let started = std::time::Instant::now();
        let saved = std::mem::replace(&mut self.timeout, wait);
        let after = self.next().await;
        self.timeout = saved;
        match after {
            Ok(None) => Ok(started.elapsed()),
            Ok(Some(frame)) => Err(Error(format!("{frame:?} instead of the end"))),
            Err(e) => Err(e),
        }
    }

    /// Reads to the end of the connection: the text messages, then the
    /// server's close frame, which the client answers (as browsers do) when
    /// `reply` is set, then the end of the stream. Without a reply the
    /// client waits [`NO_REPLY_WAIT`] for the server to end the connection,
    /// then ends it itself. Anything after the close frame, a reset, or a
    /// connection that ends without a close frame is an error.
    pub async fn until_closed(&mut self, reply: bool) -> Result<Ending, Error> {
        let mut texts = Vec::new();
        let close = loop {
            match self.next().await {
                Ok(Some(WireFrame::Text(t))) => texts.push(t),
                Ok(Some(WireFrame::Close(close))) => break close,
                Ok(Some(WireFrame::Ping | WireFrame::Pong)) => {}
                Ok(Some(other)) => return Err(Error(format!("unexpected {other:?}"))),
                Ok(None) => {
                    return Err(Error(format!(
                        "the connection ended without a close frame, after {} messages",
                        texts.len()
                    )))
                }
                Err(e) => {
                    return Err(Error(format!(
                        "before the close frame, after {} messages: {e}",
                        texts.len()
                    )))
                }
            }
        };
        if reply {
            let code = close.as_ref().map(|(code, _)| *code);
            self.send_close(code)
                .await
                .map_err(|e| Error(format!("answering the close frame: {e}")))?;
        }
        let wait = if reply { self.timeout } else { NO_REPLY_WAIT };
        let saved = std::mem::replace(&mut self.timeout, wait);
        let after = self.next().await;
        self.timeout = saved;
        let server_ended = match after {
            Ok(None) => true,
            Ok(Some(frame)) => {
                return Err(Error(format!("{frame:?} after the close frame")));
            }
            Err(e) if !reply && e.0.starts_with("nothing from the server") => false,
            Err(e) => return Err(Error(format!("after the close frame: {e}"))),
        };
        Ok(Ending {
            texts,
            close,
            server_ended,
        })
    }
}

/// A failed write; a reset is reported as such, as on reads.
fn write_error(e: std::io::Error) -> Error {
    match e.kind() {
        ErrorKind::ConnectionReset => Error("the server reset the connection (TCP RST)".into()),
        _ => Error(format!("write: {e}")),
    }
}

/// A masking key; it only has to vary, not be secret, here.
fn rand_mask() -> [u8; 4] {
    *uuid::Uuid::new_v4()
        .as_bytes()
        .first_chunk::<4>()
        .expect("16 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    /// How the test server ends its connection.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum End {
        /// `shutdown(SHUT_WR)`: a FIN, the socket held until the client is
        /// done so that the FIN is the only end it sees.
        Fin,
        /// Linger 0, then close: a reset instead of a FIN.
        Reset,
        /// Nothing: the connection stays open until the client ends it.
        Hold,
    }

    /// A one-connection server that answers the handshake, writes `then`
    /// (frames), waits for `go` if given (the client has read what it
    /// needed), then ends the connection as `end` says; the client's bytes
    /// are never read after the handshake head.
    async fn server(then: Vec<u8>, end: End, go: Option<oneshot::Receiver<()>>) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                tcp.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            tcp.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                .await
                .unwrap();
            tcp.write_all(&then).await.unwrap();
            if let Some(go) = go {
                let _ = go.await;
            }
            match end {
                End::Reset => {
                    tcp.set_zero_linger().unwrap();
                    drop(tcp);
                }
                End::Fin => {
                    tcp.shutdown().await.unwrap();
                    let mut rest = Vec::new();
                    let _ = tcp.read_to_end(&mut rest).await;
                }
                End::Hold => {
                    let mut rest = Vec::new();
                    let _ = tcp.read_to_end(&mut rest).await;
                }
            }
        });
        Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(3),
        }
    }

    /// A text frame "hi", from a server.
    fn hi() -> Vec<u8> {
        vec![0x81, 2, b'h', b'i']
    }

    /// A text frame "hi" and a close frame 3000 `bye`, from a server.
    fn hi_then_close() -> Vec<u8> {
        let mut bytes = hi();
        bytes.extend_from_slice(&[0x88, 5]);
        bytes.extend_from_slice(&3000u16.to_be_bytes());
        bytes.extend_from_slice(b"bye");
        bytes
    }

    fn is_reset(e: &Error) -> bool {
        e.0.contains("TCP RST")
    }

    /// (a) Data, a close frame, a FIN: the data, the code and reason, and a
    /// connection ended by the server, whether the client answers or not.
    #[tokio::test]
    async fn data_close_frame_then_fin_is_a_clean_close() {
        for reply in [false, true] {
            let target = server(hi_then_close(), End::Fin, None).await;
            let mut ws = WireWs::connect(&target, "/").await.unwrap();
            let end = ws.until_closed(reply).await.unwrap();
            assert_eq!(
                end,
                Ending {
                    texts: vec!["hi".into()],
                    close: Some((3000, "bye".into())),
                    server_ended: true,
                },
                "reply {reply}"
            );
        }
    }

    /// Frame by frame: the data, the close frame, then `None` (the FIN),
    /// which `ended_now` sees too.
    #[tokio::test]
    async fn data_close_frame_then_fin_frame_by_frame() {
        let target = server(hi_then_close(), End::Fin, None).await;
        let mut ws = WireWs::connect(&target, "/").await.unwrap();
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("hi".into())));
        assert_eq!(
            ws.next().await.unwrap(),
            Some(WireFrame::Close(Some((3000, "bye".into()))))
        );
        let took = ws.until_end(Duration::from_secs(2)).await.unwrap();
        assert!(took < Duration::from_secs(2));
        assert!(ws.ended_now().unwrap());
    }

    /// (b) Data read by the client, then a reset: a reset at every level,
    /// never a FIN (`Ok(None)`) or a clean close.
    #[tokio::test]
    async fn data_then_reset_is_a_reset_not_a_close() {
        for close_frame in [false, true] {
            let frames = if close_frame { hi_then_close() } else { hi() };
            // `next`: the data, then the reset (the server resets only once
            // the client has the data, so the kernel cannot discard it).
            let (go, gate) = oneshot::channel();
            let target = server(frames.clone(), End::Reset, Some(gate)).await;
            let mut ws = WireWs::connect(&target, "/").await.unwrap();
            assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("hi".into())));
            if close_frame {
                assert!(matches!(
                    ws.next().await.unwrap(),
                    Some(WireFrame::Close(_))
                ));
            }
            go.send(()).unwrap();
            match ws.next().await {
                Err(e) => assert!(is_reset(&e), "close frame {close_frame}: {}", e.0),
                Ok(other) => panic!("close frame {close_frame}: a reset read as {other:?}"),
            }

            // `ended_now`, looking until it sees the end: a reset, not
            // "ended" (the kernel reports a reset once; after that a read
            // finds the end of stream, so a fresh connection).
            let (go, gate) = oneshot::channel();
            let target = server(frames.clone(), End::Reset, Some(gate)).await;
            let mut ws = WireWs::connect(&target, "/").await.unwrap();
            assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("hi".into())));
            go.send(()).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            let seen = loop {
                match ws.ended_now() {
                    Ok(false) => {}
                    other => break other,
                }
                assert!(std::time::Instant::now() < deadline, "no end seen");
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            match seen {
                Err(e) => assert!(is_reset(&e), "{}", e.0),
                Ok(ended) => panic!("close frame {close_frame}: a reset seen as ended {ended}"),
            }

            // `until_closed`, answering the close frame or not.
            for reply in [false, true] {
                let (go, gate) = oneshot::channel();
                let target = server(frames.clone(), End::Reset, Some(gate)).await;
                let mut ws = WireWs::connect(&target, "/").await.unwrap();
                assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("hi".into())));
                go.send(()).unwrap();
                let e = ws.until_closed(reply).await.unwrap_err();
                assert!(
                    is_reset(&e),
                    "close frame {close_frame}, reply {reply}: {}",
                    e.0
                );
            }
        }
    }

    /// A reset right after the frames, the client not yet reading: whether
    /// the kernel kept the data or threw it away, the reset is reported.
    #[tokio::test]
    async fn data_then_immediate_reset_is_a_reset() {
        for i in 0..20 {
            let target = server(hi_then_close(), End::Reset, None).await;
            let mut ws = WireWs::connect(&target, "/").await.unwrap();
            let e = ws.until_closed(i % 2 == 0).await.unwrap_err();
            assert!(is_reset(&e), "{}", e.0);
        }
    }

    /// (c) Data then a FIN, no close frame: `next` gives the data then a
    /// clean end; `until_closed` says the close frame is missing (not a
    /// reset, not a close).
    #[tokio::test]
    async fn data_then_fin_without_a_close_frame() {
        let target = server(hi(), End::Fin, None).await;
        let mut ws = WireWs::connect(&target, "/").await.unwrap();
        assert_eq!(ws.next().await.unwrap(), Some(WireFrame::Text("hi".into())));
        assert_eq!(ws.next().await.unwrap(), None);
        assert!(ws.ended_now().unwrap());

        for reply in [false, true] {
            let target = server(hi(), End::Fin, None).await;
            let mut ws = WireWs::connect(&target, "/").await.unwrap();
            let e = ws.until_closed(reply).await.unwrap_err();
            assert!(e.0.contains("ended without a close frame"), "{}", e.0);
            assert!(e.0.contains("after 1 messages"), "{}", e.0);
            assert!(!is_reset(&e), "{}", e.0);
        }
    }

    /// A close frame, then the connection kept open: not ended by the
    /// server, after the client waited `NO_REPLY_WAIT`; and a frame cut
    /// short by a FIN is an error, not a message.
    #[tokio::test]
    async fn a_connection_kept_open_after_the_close_frame_is_not_ended() {
        let target = server(hi_then_close(), End::Hold, None).await;
        let mut ws = WireWs::connect(&target, "/").await.unwrap();
        let started = std::time::Instant::now();
        let end = ws.until_closed(false).await.unwrap();
        assert!(started.elapsed() >= NO_REPLY_WAIT);
        assert_eq!(
            end,
            Ending {
                texts: vec!["hi".into()],
                close: Some((3000, "bye".into())),
                server_ended: false,
            }
        );
        assert!(!ws.ended_now().unwrap());

        let target = server(vec![0x81, 5, b'h', b'i'], End::Fin, None).await;
        let mut ws = WireWs::connect(&target, "/").await.unwrap();
        let e = ws.next().await.unwrap_err();
        assert!(e.0.contains("inside a frame"), "{}", e.0);
    }
}
