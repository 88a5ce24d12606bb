//! Mutations of WebSocket traffic (`--break ws-*`, `raw-*`): the HTTP
//! middleware of [`crate::mutations`] never sees a WebSocket's frames, so
//! these bend them on the wire instead, under the server's HTTP stack: each
//! accepted connection is wrapped ([`Rewriting`], through `sockjs::serve`'s
//! `accept_with`), which passes HTTP through unchanged and, once the server
//! has answered an RFC 6455 handshake with 101, parses the frames going out
//! (and, for one mutation, coming in) and rewrites the ones the mutation
//! names. The library itself is never changed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The mutations done here; [`crate::mutations::NAMES`] lists them too.
pub(crate) const NAMES: &[&str] = &[
    "ws-close-normal",
    "ws-violation-1011",
    "ws-oversize-1002",
    "ws-broken-json-ignored",
    "ws-reset-close",
    "raw-websocket-framed",
    "raw-u2028",
];

/// The connection accepted under mutation `name`.
pub(crate) fn accept(
    name: &'static str,
) -> impl Fn(TcpStream) -> std::future::Ready<io::Result<Rewriting>> + Send + Sync + 'static {
    move |tcp| {
        std::future::ready(Ok(Rewriting {
            tcp,
            name,
            upgraded: false,
            raw: false,
            inbound: Vec::new(),
            inbound_out: Vec::new(),
            outbound: Vec::new(),
            outbound_out: Vec::new(),
            sent_close: false,
        }))
    }
}

/// A TCP connection whose WebSocket frames are rewritten by a mutation.
pub(crate) struct Rewriting {
    tcp: TcpStream,
    name: &'static str,
    /// The server answered an RFC 6455 handshake: frames follow.
    upgraded: bool,
    /// The handshake was for a raw WebSocket (`/<service>/websocket`).
    raw: bool,
    /// Bytes read, not yet a whole frame.
    inbound: Vec<u8>,
    /// Rewritten bytes not yet handed to the server.
    inbound_out: Vec<u8>,
    /// Bytes the server wrote, not yet a whole frame.
    outbound: Vec<u8>,
    /// Rewritten bytes not yet written to the socket.
    outbound_out: Vec<u8>,
    /// A close frame went out.
    sent_close: bool,
}

/// One frame off the front of `buf`: its first byte, whether it was
/// masked, its payload (unmasked) and its length on the wire; `None` until
/// the whole frame is there.
fn parse_frame(buf: &[u8]) -> Option<(u8, bool, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            10,
        ),
        n => (usize::from(n), 2),
    };
    let key: Option<[u8; 4]> = if masked {
        let key = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    let mut payload = buf.get(at..at.checked_add(len)?)?.to_vec();
    if let Some(key) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((buf[0], masked, payload, at + len))
}

/// A frame with `first` byte and `payload`; masked with the key 0 (so the
/// payload is written as is) when `masked`.
fn encode_frame(first: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mask = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(mask | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&[0; 4]);
    }
    out.extend_from_slice(payload);
    out
}

const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;

/// A close frame's payload: `code` and `reason`.
fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

impl Rewriting {
    /// The payload mutation `name` puts in place of a frame from the
    /// server (`None`: unchanged).
    fn rewrite_outgoing(&mut self, first: u8, payload: &[u8]) -> Option<Vec<u8>> {
        let opcode = first & 0x0f;
        let code = (opcode == CLOSE && payload.len() >= 2)
            .then(|| u16::from_be_bytes([payload[0], payload[1]]));
        if opcode == CLOSE {
            self.sent_close = true;
        }
        match self.name {
            "ws-close-normal" if code == Some(3000) => Some(close_payload(1000, "Normal closure")),
            "ws-violation-1011" if code == Some(1002) => {
                Some(close_payload(1011, "Internal error"))
            }
            "ws-oversize-1002" if code == Some(1009) => Some(close_payload(1002, "Protocol error")),
            "raw-websocket-framed" if self.raw && opcode == TEXT && first & 0x80 != 0 => {
                let text = std::str::from_utf8(payload).ok()?;
                let json = serde_json::to_string(text).ok()?;
                Some(format!("a[{json}]").into_bytes())
            }
            "raw-u2028" if opcode == TEXT => {
                let text = std::str::from_utf8(payload).ok()?;
                text.contains("\\u2028")
                    .then(|| text.replace("\\u2028", "\u{2028}").into_bytes())
            }
            _ => None,
        }
    }

    /// The payload mutation `name` puts in place of a frame from the
    /// client (`None`: unchanged).
    fn rewrite_incoming(&self, first: u8, payload: &[u8]) -> Option<Vec<u8>> {
        match self.name {
            // Broken JSON framing read as an empty message, which the
            // server ignores, instead of ending the session.
            "ws-broken-json-ignored"
                if !self.raw
                    && first & 0x0f == TEXT
                    && payload.first() == Some(&b'[')
                    && serde_json::from_slice::<serde_json::Value>(payload).is_err() =>
            {
                Some(b"[]".to_vec())
            }
            _ => None,
        }
    }

    /// Whether this mutation rewrites what the client sends.
    fn rewrites_incoming(&self) -> bool {
        self.name == "ws-broken-json-ignored"
    }

    /// Takes what the server wrote: passes HTTP through, notices the 101
    /// of an RFC 6455 handshake, rewrites whole frames after it.
    fn take_outgoing(&mut self, buf: &[u8]) {
        if !self.upgraded {
            // A handshake answer comes in one write, head only.
            let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n");
            match head_end {
                Some(end)
                    if buf.starts_with(b"HTTP/1.1 101 ")
                        && String::from_utf8_lossy(&buf[..end])
                            .to_ascii_lowercase()
                            .contains("sec-websocket-accept:") =>
                {
                    self.upgraded = true;
                    self.outbound_out.extend_from_slice(&buf[..end + 4]);
                    self.outbound.extend_from_slice(&buf[end + 4..]);
                }
                _ => {
                    self.outbound_out.extend_from_slice(buf);
                    return;
                }
            }
        } else {
            self.outbound.extend_from_slice(buf);
        }
        while let Some((first, masked, payload, len)) = parse_frame(&self.outbound) {
            match self.rewrite_outgoing(first, &payload) {
                Some(new) => {
                    let frame = encode_frame(first, masked, &new);
                    self.outbound_out.extend_from_slice(&frame);
                }
                None => {
                    let frame = self.outbound[..len].to_vec();
                    self.outbound_out.extend_from_slice(&frame);
                }
            }
            self.outbound.drain(..len);
        }
    }

    /// Writes what is pending to the socket; `Ready` once all is written.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.outbound_out.is_empty() {
            match Pin::new(&mut self.tcp).poll_write(cx, &self.outbound_out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.outbound_out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Rewriting {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.upgraded || !this.rewrites_incoming() {
            let before = out.filled().len();
            let poll = Pin::new(&mut this.tcp).poll_read(cx, out);
            if !this.upgraded {
                // The path of the request, for telling raw from framed.
                let read = &out.filled()[before..];
                if let Some(rest) = read.strip_prefix(b"GET ") {
                    let path = rest.split(|b| *b == b' ').next().unwrap_or_default();
                    let path = String::from_utf8_lossy(path);
                    let path = path.split('?').next().unwrap_or_default();
                    this.raw = path.ends_with("/websocket")
                        && path.split('/').filter(|s| !s.is_empty()).count() == 2;
                }
            }
            return poll;
        }
        loop {
            if !this.inbound_out.is_empty() {
                let n = this.inbound_out.len().min(out.remaining());
                out.put_slice(&this.inbound_out[..n]);
                this.inbound_out.drain(..n);
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.tcp).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    // The end: a partial frame goes through as it is.
                    let rest = std::mem::take(&mut this.inbound);
                    if rest.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    this.inbound_out = rest;
                }
                Poll::Ready(Ok(())) => {
                    this.inbound.extend_from_slice(buf.filled());
                    while let Some((first, masked, payload, len)) = parse_frame(&this.inbound) {
                        let frame = match this.rewrite_incoming(first, &payload) {
                            Some(new) => encode_frame(first, masked, &new),
                            None => this.inbound[..len].to_vec(),
                        };
                        this.inbound_out.extend_from_slice(&frame);
                        this.inbound.drain(..len);
                    }
                }
            }
        }
    }
}

impl AsyncWrite for Rewriting {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // What was taken before goes out first (backpressure).
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        if !this.outbound_out.is_empty() {
            return Poll::Pending;
        }
        this.take_outgoing(buf);
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.tcp).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if this.name == "ws-reset-close" && this.sent_close {
            // No FIN: the drop that follows resets the connection.
            this.tcp.set_zero_linger()?;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

impl Drop for Rewriting {
    fn drop(&mut self) {
        if self.name == "ws-reset-close" && self.sent_close {
            let _ = self.tcp.set_zero_linger();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        for len in [0, 5, 125, 126, 70_000] {
            let payload = vec![b'x'; len];
            for masked in [false, true] {
                let frame = encode_frame(0x81, masked, &payload);
                let (first, m, p, n) = parse_frame(&frame).unwrap();
                assert_eq!(
                    (first, m, p, n),
                    (0x81, masked, payload.clone(), frame.len())
                );
                assert!(parse_frame(&frame[..frame.len() - 1]).is_none());
            }
        }
        // A masked frame with a real key is unmasked.
        let frame = [0x81, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2];
        assert_eq!(parse_frame(&frame).unwrap().2, b"ab");
    }
}
