//! permessage-deflate (RFC 7692), under tungstenite, which has none.
//!
//! [`DeflateIo`] sits between tungstenite and the connection and rewrites
//! frames on their way: a compressed message from the client (RSV1 on its
//! first frame) is inflated and handed to tungstenite as one plain frame;
//! a text or binary frame tungstenite writes is deflated, with RSV1 set.
//! Control frames and uncompressed messages pass untouched, and tungstenite
//! keeps everything else (masking rules, UTF-8, limits, the closing
//! handshake).
//!
//! Both directions are negotiated without context takeover
//! (`server_no_context_takeover; client_no_context_takeover`): every
//! message is compressed on its own, so one compressor and one
//! decompressor per thread serve every session and an idle session holds
//! no compression state (a zlib window is 32 KiB, its compressor several
//! times that). The price is a lower ratio on short messages, which cannot
//! refer to earlier ones.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The extension as the server accepts it.
const RESPONSE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Messages shorter than this are sent uncompressed (`o`, `h`, short
/// frames): deflate would not make them smaller.
const MIN_COMPRESS: usize = 64;

/// Bytes waiting to be written past which writes wait.
const HIGH_WATER: usize = 64 * 1024;

/// The `Sec-WebSocket-Extensions` answer when the client offers
/// permessage-deflate in a form this server can honour; `None` otherwise.
/// An offer is declined when it asks for a smaller server window than
/// 2^15 (the compressor's), or has parameters RFC 7692 does not define.
pub(crate) fn negotiate(request: &HeaderMap) -> Option<HeaderValue> {
    let offers = request
        .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for offer in offers {
        let mut params = offer.split(';').map(str::trim);
        if params.next() != Some("permessage-deflate") {
            continue;
        }
        let acceptable = params.all(|param| {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (param, None),
            };
            match name {
                "server_no_context_takeover" | "client_no_context_takeover" => value.is_none(),
                "client_max_window_bits" => {
                    value.is_none_or(|v| v.parse::<u8>().is_ok_and(|bits| (8..=15).contains(&bits)))
                }
                "server_max_window_bits" => value == Some("15"),
                _ => false,
            }
        });
        if acceptable {
            return Some(HeaderValue::from_static(RESPONSE));
        }
    }
    None
}

thread_local! {
    static COMPRESS: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
    static DECOMPRESS: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `payload` deflated as one message: raw deflate, flushed, without the
/// final `00 00 ff ff` (RFC 7692 section 7.2.1).
fn compress(payload: &[u8]) -> Vec<u8> {
    COMPRESS.with_borrow_mut(|c| {
        c.reset();
        let mut out = Vec::with_capacity(payload.len() / 2 + 64);
        loop {
            let consumed = c.total_in() as usize;
            if let Err(e) = c.compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync) {
                unreachable!("deflate into a growing buffer cannot fail: {e}");
            }
            if c.total_in() as usize == payload.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        if out.ends_with(&[0, 0, 0xff, 0xff]) {
            out.truncate(out.len() - 4);
        }
        out
    })
}

/// Why a compressed message could not be inflated.
#[derive(Debug, PartialEq)]
enum InflateError {
    /// Larger than the limit once inflated.
    TooBig,
    /// Not a deflate stream.
    Corrupt,
}

/// Inflates one message (its payload with `00 00 ff ff` appended), at
/// most `limit` bytes of it.
fn decompress(payload: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut input = Vec::with_capacity(payload.len() + 4);
    input.extend_from_slice(payload);
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    DECOMPRESS.with_borrow_mut(|d| {
        d.reset(false);
        let mut out = Vec::with_capacity((payload.len() * 3).clamp(64, limit.max(64)));
        loop {
            let before = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(
                    &input[d.total_in() as usize..],
                    &mut out,
                    FlushDecompress::Sync,
                )
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let all_in = d.total_in() as usize == input.len();
            if status == Status::StreamEnd || (all_in && out.len() < out.capacity()) {
                return Ok(out);
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity().min(limit + 1 - out.len()).max(64));
            } else if (d.total_in(), d.total_out()) == before {
                return Err(InflateError::Corrupt);
            }
        }
    })
}

/// A frame's header, parsed.
struct Header {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Header length, then payload length.
    header_len: usize,
    payload_len: usize,
}

/// Parses the header at the front of `buf`, `None` until it is complete.
fn parse_header(buf: &[u8]) -> Option<Header> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let masked = b1 & 0x80 != 0;
    let (payload_len, mut at) = match b1 & 0x7F {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (
                usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX),
                10,
            )
        }
        n => (n as usize, 2),
    };
    let mask = if masked {
        let key: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    Some(Header {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        opcode: b0 & 0x0F,
        mask,
        header_len: at,
        payload_len,
    })
}

/// Writes a frame header with `payload_len`, and a zero mask when
/// `masked` (masking with zeros leaves the payload as it is).
fn put_header(out: &mut BytesMut, first: u8, masked: bool, payload_len: usize) {
    out.put_u8(first);
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload_len {
        n if n < 126 => out.put_u8(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.put_u8(mask_bit | 126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(mask_bit | 127);
            out.put_u64(n as u64);
        }
    }
    if masked {
        out.put_u32(0);
    }
}

/// A connection speaking permessage-deflate, seen by tungstenite as one
/// that does not. See the module docs.
pub(crate) struct DeflateIo<T> {
    inner: T,
    max_message: usize,
    /// Read from the client, not parsed yet.
    raw_in: BytesMut,
    /// Rewritten, for tungstenite to read.
    ready_in: BytesMut,
    /// A compressed message being assembled: its opcode and payload.
    assembling: Option<(u8, Vec<u8>)>,
    /// Written by tungstenite, not parsed yet.
    raw_out: BytesMut,
    /// Rewritten, to be written to the client.
    ready_out: BytesMut,
}

impl<T> DeflateIo<T> {
    pub(crate) fn new(inner: T, max_message: usize) -> Self {
        DeflateIo {
            inner,
            max_message,
            raw_in: BytesMut::new(),
            ready_in: BytesMut::new(),
            assembling: None,
            raw_out: BytesMut::new(),
            ready_out: BytesMut::new(),
        }
    }

    /// Moves every whole frame of `raw_in` to `ready_in`, inflating
    /// compressed messages.
    fn rewrite_incoming(&mut self) {
        while let Some(h) = parse_header(&self.raw_in) {
            let total = h.header_len.saturating_add(h.payload_len);
            let data = h.opcode < 8;
            let compressed = data && (h.rsv1 || (h.opcode == 0 && self.assembling.is_some()));
            if h.payload_len > self.max_message {
                // Too big already (never buffered whole): a header
                // tungstenite refuses (1009).
                self.too_big();
                return;
            }
            if self.raw_in.len() < total {
                return;
            }
            let frame = self.raw_in.split_to(total);
            if !compressed {
                self.ready_in.extend_from_slice(&frame);
                continue;
            }
            let mut payload = frame[h.header_len..].to_vec();
            if let Some(key) = h.mask {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= key[i % 4];
                }
            }
            let (opcode, mut message) = match self.assembling.take() {
                Some(started) if h.opcode == 0 => started,
                // A new message while one is open: tungstenite refuses it.
                Some(_) => {
                    self.ready_in.extend_from_slice(&frame);
                    continue;
                }
                None => (h.opcode, Vec::new()),
            };
            message.extend_from_slice(&payload);
            if message.len() > self.max_message {
                self.too_big();
                return;
            }
            if !h.fin {
                self.assembling = Some((opcode, message));
                continue;
            }
            match decompress(&message, self.max_message) {
                Ok(inflated) => {
                    put_header(&mut self.ready_in, 0x80 | opcode, true, inflated.len());
                    self.ready_in.extend_from_slice(&inflated);
                }
                Err(InflateError::TooBig) => {
                    self.too_big();
                    return;
                }
                Err(InflateError::Corrupt) => {
                    // RSV1 on a frame tungstenite reads is a protocol error.
                    put_header(&mut self.ready_in, 0xC0 | opcode, true, 0);
                }
            }
        }
    }

    /// Hands tungstenite a frame header over its size limit, so that it
    /// refuses the message as too big (close 1009); nothing is read after.
    fn too_big(&mut self) {
        put_header(&mut self.ready_in, 0x81, true, self.max_message + 1);
        self.raw_in.clear();
        self.assembling = None;
    }

    /// Moves every whole frame of `raw_out` to `ready_out`, deflating text
    /// and binary messages worth it.
    fn rewrite_outgoing(&mut self) {
        while let Some(h) = parse_header(&self.raw_out) {
            let total = h.header_len + h.payload_len;
            if self.raw_out.len() < total {
                return;
            }
            let frame = self.raw_out.split_to(total);
            let whole_message = h.fin && (h.opcode == 1 || h.opcode == 2) && h.mask.is_none();
            if !whole_message || h.payload_len < MIN_COMPRESS {
                self.ready_out.extend_from_slice(&frame);
                continue;
            }
            let deflated = compress(&frame[h.header_len..]);
            put_header(&mut self.ready_out, 0xC0 | h.opcode, false, deflated.len());
            self.ready_out.extend_from_slice(&deflated);
        }
    }
}

impl<T: AsyncWrite + Unpin> DeflateIo<T> {
    /// Writes `ready_out` to the connection as far as it takes it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.ready_out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.ready_out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.ready_out.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeflateIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready_in.is_empty() {
                let n = this.ready_in.len().min(buf.remaining());
                buf.put_slice(&this.ready_in.split_to(n));
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 4096];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
            this.raw_in.extend_from_slice(read.filled());
            this.rewrite_incoming();
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeflateIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ready_out.len() >= HIGH_WATER {
            ready!(this.poll_write_out(cx))?;
        }
        this.raw_out.extend_from_slice(buf);
        this.rewrite_outgoing();
        // Written as far as the connection takes it now; the rest on the
        // next write or flush.
        if let Poll::Ready(Err(e)) = this.poll_write_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::SEC_WEBSOCKET_EXTENSIONS,
            HeaderValue::from_static(value),
        );
        h
    }

    #[test]
    fn negotiation() {
        // What Chromium and Firefox offer.
        assert!(negotiate(&offer("permessage-deflate; client_max_window_bits")).is_some());
        assert!(negotiate(&offer("permessage-deflate")).is_some());
        assert!(negotiate(&offer(
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
        ))
        .is_some());
        // A window smaller than the compressor's, or an unknown parameter,
        // declines that offer; a later acceptable one is taken.
        assert!(negotiate(&offer("permessage-deflate; server_max_window_bits=10")).is_none());
        assert!(negotiate(&offer("permessage-deflate; x=1")).is_none());
        assert!(negotiate(&offer(
            "permessage-deflate; server_max_window_bits=10, permessage-deflate"
        ))
        .is_some());
        assert!(negotiate(&offer("x-webkit-deflate-frame")).is_none());
        assert!(negotiate(&HeaderMap::new()).is_none());
    }

    #[test]
    fn round_trips() {
        for message in [
            b"".to_vec(),
            b"a[\"hello\"]".to_vec(),
            "a[\"\\u2028 ünïcödé 日本語\"]".repeat(100).into_bytes(),
            (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ] {
            let deflated = compress(&message);
            assert_eq!(decompress(&deflated, 1 << 20).unwrap(), message);
        }
        let bomb = compress(&vec![b'x'; 100_000]);
        assert!(bomb.len() < 1000);
        assert_eq!(decompress(&bomb, 50_000), Err(InflateError::TooBig));
        assert_eq!(
            decompress(b"\xff\xff\xff\xff garbage", 1000),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn frames_are_rewritten_both_ways() {
        // Outgoing: a long text frame gets RSV1 and a deflated payload.
        let mut io = DeflateIo::new((), 1 << 20);
        let text = "x".repeat(1000);
        put_header(&mut io.raw_out, 0x81, false, text.len());
        io.raw_out.extend_from_slice(text.as_bytes());
        put_header(&mut io.raw_out, 0x81, false, 1);
        io.raw_out.extend_from_slice(b"h");
        io.rewrite_outgoing();
        let h = parse_header(&io.ready_out).unwrap();
        assert!(h.rsv1 && h.fin && h.opcode == 1 && h.payload_len < 100);
        let payload = io.ready_out[h.header_len..h.header_len + h.payload_len].to_vec();
        assert_eq!(decompress(&payload, 1 << 20).unwrap(), text.as_bytes());
        io.ready_out.advance(h.header_len + h.payload_len);
        assert_eq!(
            &io.ready_out[..],
            b"\x81\x01h",
            "short frames stay as they are"
        );

        // Incoming: a masked, compressed message in two fragments becomes
        // one plain frame.
        let deflated = compress(text.as_bytes());
        let (first, second) = deflated.split_at(deflated.len() / 2);
        let key = [1, 2, 3, 4];
        for (b0, part) in [(0x41u8, first), (0x80u8, second)] {
            io.raw_in.put_u8(b0);
            io.raw_in.put_u8(0x80 | 126);
            io.raw_in.put_u16(part.len() as u16);
            io.raw_in.extend_from_slice(&key);
            io.raw_in
                .extend(part.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        io.rewrite_incoming();
        let h = parse_header(&io.ready_in).unwrap();
        assert!(h.fin && !h.rsv1 && h.opcode == 1 && h.mask == Some([0; 4]));
        assert_eq!(&io.ready_in[h.header_len..], text.as_bytes());
    }
}
