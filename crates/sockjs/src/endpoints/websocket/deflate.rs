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
//!
//! A client may ask for a smaller server window (`server_max_window_bits`,
//! 8 to 15), and the operator may cap it (`Config::websocket_compression_window`):
//! the smaller of the two is used and announced. A message no longer than
//! the window cannot refer further back than the window whatever the
//! compressor's own window, so it takes the default compressor; a longer
//! one takes a compressor of that window (one per thread and window size),
//! except under a 256-byte window, which zlib has no compressor for: such
//! messages go uncompressed, as RFC 7692 allows for any message.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use http::{HeaderMap, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The extension as the server accepts it, before any window parameter.
const RESPONSE: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The largest LZ77 window, in bits (32 KiB), the default.
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window RFC 7692 lets a peer ask for (256 bytes).
pub(crate) const MIN_WINDOW_BITS: u8 = 8;

/// An accepted offer: the `Sec-WebSocket-Extensions` answer, and the
/// window the server compresses with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Negotiated {
    pub(crate) response: HeaderValue,
    pub(crate) window_bits: u8,
}

/// Messages shorter than this are sent uncompressed (`o`, `h`, short
/// frames): deflate would not make them smaller.
const MIN_COMPRESS: usize = 64;

/// Bytes waiting to be written past which writes wait (64 KiB).
const HIGH_WATER: usize = 65_536;

/// The most a drained buffer keeps (8 KiB): after a large message, a
/// session's buffers give their memory back rather than hold it while idle.
const RETAIN: usize = 8_192;

/// Drops `buf`'s allocation when it is empty and larger than [`RETAIN`].
fn release_if_drained(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > RETAIN {
        *buf = BytesMut::new();
    }
}

/// The answer to the client's permessage-deflate offers, the first one
/// this server can honour; `None` when there is none. An offer is declined
/// when a parameter is malformed or not defined by RFC 7692. The server's
/// window is the smaller of the one the offer asks for
/// (`server_max_window_bits`) and `max_window_bits` (the operator's), and
/// is announced when it is under 2^15.
pub(crate) fn negotiate(request: &HeaderMap, max_window_bits: u8) -> Option<Negotiated> {
    let offers = request
        .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    offers.filter_map(server_window).next().map(|asked| {
        let window_bits = asked.min(max_window_bits);
        let response = if window_bits < MAX_WINDOW_BITS {
            HeaderValue::from_str(&format!("{RESPONSE}; server_max_window_bits={window_bits}"))
                .unwrap_or_else(|_| HeaderValue::from_static(RESPONSE))
        } else {
            HeaderValue::from_static(RESPONSE)
        };
        Negotiated {
            response,
            window_bits,
        }
    })
}

/// The server window one permessage-deflate offer allows (15 when it does
/// not say), or `None` when the offer is not acceptable.
fn server_window(offer: &str) -> Option<u8> {
    let mut params = offer.split(';').map(str::trim);
    if params.next() != Some("permessage-deflate") {
        return None;
    }
    let window_value = |v: Option<&str>| {
        v.and_then(|v| v.parse::<u8>().ok())
            .filter(|bits| (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(bits))
    };
    let mut window = MAX_WINDOW_BITS;
    let mut seen = Vec::new();
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (param, None),
        };
        // RFC 7692 section 7: a parameter given twice declines the offer.
        if seen.contains(&name) {
            return None;
        }
        seen.push(name);
        match name {
            "server_no_context_takeover" | "client_no_context_takeover" if value.is_none() => {}
            // The client's window: the inflater takes any (it has 2^15).
            "client_max_window_bits" if value.is_none() || window_value(value).is_some() => {}
            "server_max_window_bits" => window = window_value(value)?,
            _ => return None,
        }
    }
    Some(window)
}

thread_local! {
    /// This thread's compressors, by window size (index: bits - 9); the
    /// 2^15 one serves every message no longer than the session's window.
    static COMPRESS: RefCell<[Option<Compress>; 7]> = const { RefCell::new([const { None }; 7]) };
    static DECOMPRESS: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `payload` deflated as one message within a window of 2^`window_bits`
/// bytes: raw deflate, flushed, without the final `00 00 ff ff` (RFC 7692
/// section 7.2.1). `None` when no compressor has so small a window (a
/// payload over 256 bytes under an 8-bit window): it is sent as it is.
fn compress(payload: &[u8], window_bits: u8) -> Option<Vec<u8>> {
    let bits = if payload.len() <= 1 << window_bits {
        MAX_WINDOW_BITS
    } else if window_bits > MIN_WINDOW_BITS {
        window_bits.min(MAX_WINDOW_BITS)
    } else {
        return None;
    };
    let slot = usize::from(bits - (MIN_WINDOW_BITS + 1));
    COMPRESS.with_borrow_mut(|compressors| {
        let c = compressors[slot].get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::fast(), false, bits)
        });
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
        Some(out)
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
            } else if !made_progress(d, before) {
                return Err(InflateError::Corrupt);
            }
        }
    })
}

/// Whether a step of `d` used input or produced output since `before`
/// (its totals then). A step that did neither, with input left and room in
/// the output, would loop forever; zlib never stops so, but the loop does
/// not rely on it.
fn made_progress(d: &Decompress, before: (u64, u64)) -> bool {
    (d.total_in(), d.total_out()) != before
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
    /// The server's window, as negotiated.
    window_bits: u8,
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
    pub(crate) fn new(inner: T, max_message: usize, window_bits: u8) -> Self {
        DeflateIo {
            inner,
            max_message,
            window_bits,
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

    /// Gives back the memory of every drained buffer grown past [`RETAIN`].
    fn release_drained(&mut self) {
        release_if_drained(&mut self.raw_in);
        release_if_drained(&mut self.ready_in);
        release_if_drained(&mut self.raw_out);
        release_if_drained(&mut self.ready_out);
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
            match compress(&frame[h.header_len..], self.window_bits) {
                Some(deflated) => {
                    put_header(&mut self.ready_out, 0xC0 | h.opcode, false, deflated.len());
                    self.ready_out.extend_from_slice(&deflated);
                }
                None => self.ready_out.extend_from_slice(&frame),
            }
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
        self.release_drained();
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
                this.release_drained();
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

    fn window(value: &'static str, max: u8) -> Option<(String, u8)> {
        negotiate(&offer(value), max)
            .map(|n| (n.response.to_str().unwrap().to_owned(), n.window_bits))
    }

    #[test]
    fn negotiation() {
        let plain = || Some((RESPONSE.to_owned(), 15));
        // What Chromium and Firefox offer.
        assert_eq!(
            window("permessage-deflate; client_max_window_bits", 15),
            plain()
        );
        assert_eq!(window("permessage-deflate", 15), plain());
        assert_eq!(
            window(
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
                15
            ),
            plain()
        );
        // A smaller server window is honoured and announced.
        let with_window =
            |bits: u8| Some((format!("{RESPONSE}; server_max_window_bits={bits}"), bits));
        assert_eq!(
            window("permessage-deflate; server_max_window_bits=10", 15),
            with_window(10)
        );
        assert_eq!(
            window("permessage-deflate; server_max_window_bits=8", 15),
            with_window(8)
        );
        assert_eq!(
            window("permessage-deflate; server_max_window_bits=15", 15),
            plain()
        );
        // The operator's cap applies to every offer; the smaller wins.
        assert_eq!(window("permessage-deflate", 9), with_window(9));
        assert_eq!(
            window("permessage-deflate; server_max_window_bits=12", 10),
            with_window(10)
        );
        assert_eq!(
            window("permessage-deflate; server_max_window_bits=9", 12),
            with_window(9)
        );
        // Malformed or unknown parameters, or one given twice, decline
        // that offer; a later acceptable one is taken.
        for declined in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; x=1",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(window(declined, 15), None, "{declined}");
        }
        assert_eq!(
            window(
                "permessage-deflate; server_max_window_bits=7, permessage-deflate",
                15
            ),
            plain()
        );
        assert!(negotiate(&HeaderMap::new(), 15).is_none());
    }

    /// Inflates with a window of 2^`bits`, as a client that asked for it:
    /// a distance beyond the window is an error. (zlib's inflater does not
    /// check distances against its window when its output holds them, so
    /// the oracle is a plain RFC 1951 decoder.)
    fn inflate_within(payload: &[u8], bits: u8) -> Result<Vec<u8>, String> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let (out, farthest) = super::super::inflate_oracle::inflate(&input)?;
        if farthest > 1 << bits {
            return Err(format!("a distance of {farthest} beyond 2^{bits}"));
        }
        Ok(out)
    }

    #[test]
    fn compressed_messages_stay_within_the_negotiated_window() {
        // Pseudo-random 1 KiB blocks, repeated: their only repeats are
        // 1 KiB apart, beyond a 512-byte window, within 32 KiB.
        let mut seed = 0x2545_f491_u32;
        let block: Vec<u8> = (0..1024)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 24) as u8
            })
            .collect();
        let long = block.repeat(40);
        // The check can fail: the default compressor refers 1 KiB back.
        assert!(inflate_within(&compress(&long, 15).unwrap(), 9).is_err());
        for bits in 9..=15 {
            let deflated = compress(&long, bits).unwrap();
            assert_eq!(inflate_within(&deflated, bits).unwrap(), long, "{bits}");
            // Within 1 KiB of window the repeats are found.
            if bits >= 11 {
                assert!(deflated.len() < long.len() / 4, "{bits}");
            }
        }
        // An 8-bit window: short messages are compressed, longer ones not.
        let short = &long[..256];
        assert_eq!(
            inflate_within(&compress(short, 8).unwrap(), 9).unwrap(),
            short
        );
        assert_eq!(compress(&long[..257], 8), None);
    }

    #[test]
    fn round_trips() {
        for message in [
            b"".to_vec(),
            b"a[\"hello\"]".to_vec(),
            "a[\"\\u2028 ünïcödé 日本語\"]".repeat(100).into_bytes(),
            (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ] {
            let deflated = compress(&message, MAX_WINDOW_BITS).unwrap();
            assert_eq!(decompress(&deflated, 1 << 20).unwrap(), message);
        }
        let bomb = compress(&vec![b'x'; 100_000], MAX_WINDOW_BITS).unwrap();
        assert!(bomb.len() < 1000);
        assert_eq!(decompress(&bomb, 50_000), Err(InflateError::TooBig));
        assert_eq!(
            decompress(b"\xff\xff\xff\xff garbage", 1000),
            Err(InflateError::Corrupt)
        );
    }

    /// After a large message each way, an idle session's buffers hold no
    /// more than `RETAIN` bytes.
    #[tokio::test]
    async fn buffers_are_released_after_a_large_message() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Every step is over an in-memory pipe: broken framing shows as a
        // read that never ends, so the whole exchange has a deadline.
        let exchange = async {
            let (ours, mut theirs) = tokio::io::duplex(1 << 20);
            let mut io = DeflateIo::new(ours, 1 << 20, MAX_WINDOW_BITS);
            let text = "x".repeat(200_000);
            // The server writes a large text frame; the client reads it all.
            let mut frame = BytesMut::new();
            put_header(&mut frame, 0x81, false, text.len());
            frame.extend_from_slice(text.as_bytes());
            io.write_all(&frame).await.unwrap();
            io.flush().await.unwrap();
            let mut wire = vec![0; 64 * 1024];
            let n = theirs.read(&mut wire).await.unwrap();
            assert!(n > 0);
            // The client sends a large masked (plain) frame; the server reads it.
            let mut incoming = BytesMut::new();
            put_header(&mut incoming, 0x81, true, text.len());
            incoming.extend_from_slice(text.as_bytes()); // mask 0000
            theirs.write_all(&incoming).await.unwrap();
            let mut read = vec![0; incoming.len()];
            io.read_exact(&mut read).await.unwrap();
            io
        };
        let io = tokio::time::timeout(std::time::Duration::from_secs(5), exchange)
            .await
            .expect("the large messages go through within 5 s");
        for (name, buf) in [
            ("raw_in", &io.raw_in),
            ("ready_in", &io.ready_in),
            ("raw_out", &io.raw_out),
            ("ready_out", &io.ready_out),
        ] {
            assert!(buf.capacity() <= RETAIN, "{name}: {}", buf.capacity());
        }
    }

    #[test]
    fn frames_are_rewritten_both_ways() {
        // Outgoing: a long text frame gets RSV1 and a deflated payload.
        let mut io = DeflateIo::new((), 1 << 20, MAX_WINDOW_BITS);
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
        let deflated = compress(text.as_bytes(), MAX_WINDOW_BITS).unwrap();
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

    /// Payload lengths in their three encodings, at each boundary.
    #[test]
    fn headers_encode_every_length_boundary() {
        for (len, expected) in [
            (125usize, vec![0x81, 125]),
            (126, vec![0x81, 126, 0, 126]),
            (0xFFFF, vec![0x81, 126, 0xFF, 0xFF]),
            (0x1_0000, vec![0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ] {
            let mut out = BytesMut::new();
            put_header(&mut out, 0x81, false, len);
            assert_eq!(&out[..], &expected[..], "{len}");
        }
    }

    /// Control frames are never inflated, RSV1 or not: a close frame with
    /// RSV1 goes on as it came, for tungstenite to refuse. A compressed
    /// message that does not inflate goes on as a text frame with RSV1
    /// and nothing in it, which tungstenite refuses (1002).
    #[test]
    fn control_frames_and_corrupt_messages_go_on_for_tungstenite_to_refuse() {
        let mut io = DeflateIo::new((), 1 << 20, MAX_WINDOW_BITS);
        let close = [0xC8u8, 0x82, 0, 0, 0, 0, 0x03, 0xE8];
        io.raw_in.extend_from_slice(&close);
        io.rewrite_incoming();
        assert_eq!(&io.ready_in[..], &close[..]);

        let mut io = DeflateIo::new((), 1 << 20, MAX_WINDOW_BITS);
        put_header(&mut io.raw_in, 0xC1, true, 4);
        io.raw_in.extend_from_slice(b"\xff\xff\xff\xff");
        io.rewrite_incoming();
        assert_eq!(&io.ready_in[..], &[0xC1, 0x80, 0, 0, 0, 0][..]);
    }

    /// A new compressed message while a fragmented one is open is not
    /// taken as its continuation: it goes on as it came, for tungstenite
    /// to refuse (1002), and the open message is dropped.
    #[test]
    fn a_new_message_inside_a_fragmented_one_is_left_for_tungstenite_to_refuse() {
        let mut io = DeflateIo::new((), 1 << 20, MAX_WINDOW_BITS);
        let deflated = compress("y".repeat(500).as_bytes(), MAX_WINDOW_BITS).unwrap();
        // Text, RSV1, not final; then text, RSV1, final (not a continuation).
        for b0 in [0x41u8, 0xC1] {
            put_header(&mut io.raw_in, b0, true, deflated.len());
            io.raw_in.extend_from_slice(&deflated);
        }
        io.rewrite_incoming();
        let h = parse_header(&io.ready_in).unwrap();
        assert!(
            h.fin && h.rsv1 && h.opcode == 1,
            "the second frame, as it came"
        );
        assert_eq!(&io.ready_in[h.header_len..], &deflated[..]);
        assert!(io.assembling.is_none());
    }

    /// An uncompressed message in fragments, on a compressed connection:
    /// its continuation frames are not taken for compressed ones, and the
    /// frames go on as they came.
    #[test]
    fn an_uncompressed_fragmented_message_goes_on_as_it_came() {
        let mut io = DeflateIo::new((), 1 << 20, MAX_WINDOW_BITS);
        let mut wire = BytesMut::new();
        put_header(&mut wire, 0x01, true, 2); // text, not final
        wire.extend_from_slice(b"ab");
        put_header(&mut wire, 0x80, true, 2); // continuation, final
        wire.extend_from_slice(b"cd");
        io.raw_in.extend_from_slice(&wire);
        io.rewrite_incoming();
        assert_eq!(&io.ready_in[..], &wire[..]);
        assert!(io.assembling.is_none());
    }

    /// A frame is refused (1009, by the header handed to tungstenite) as
    /// soon as its header announces more than the limit, before its
    /// payload is read; a frame of exactly the limit waits for its payload.
    #[test]
    fn a_frame_over_the_limit_is_refused_by_its_header() {
        const LIMIT: usize = 1_000;
        for (len, refused) in [(LIMIT + 1, true), (1 << 40, true), (LIMIT, false)] {
            for first in [0x81u8, 0xC1] {
                let mut io = DeflateIo::new((), LIMIT, MAX_WINDOW_BITS);
                put_header(&mut io.raw_in, first, true, len);
                io.rewrite_incoming();
                let what = format!("{first:#x}, {len} bytes");
                if refused {
                    let h = parse_header(&io.ready_in).expect(&what);
                    assert_eq!(h.payload_len, LIMIT + 1, "{what}");
                } else {
                    assert!(io.ready_in.is_empty(), "{what}");
                }
            }
        }
    }

    /// Compressed fragments are refused once together they are over the
    /// limit: a message that never ends is not buffered without bound.
    #[test]
    fn compressed_fragments_over_the_limit_are_refused() {
        const LIMIT: usize = 1_000;
        let mut io = DeflateIo::new((), LIMIT, MAX_WINDOW_BITS);
        // RSV1 text, not final, then continuations, never final: 300
        // bytes each (what they hold does not matter before the end).
        let mut first = 0x41u8;
        for _ in 0..3 {
            put_header(&mut io.raw_in, first, true, 300);
            io.raw_in.extend_from_slice(&[0u8; 300]);
            first = 0x00;
        }
        io.rewrite_incoming();
        assert!(io.ready_in.is_empty(), "900 bytes: under the limit");
        put_header(&mut io.raw_in, 0x00, true, 100);
        io.raw_in.extend_from_slice(&[0u8; 100]);
        io.rewrite_incoming();
        assert!(io.ready_in.is_empty(), "1,000 bytes: the limit");
        put_header(&mut io.raw_in, 0x00, true, 1);
        io.raw_in.extend_from_slice(&[0u8; 1]);
        io.rewrite_incoming();
        let h = parse_header(&io.ready_in).expect("1,001 bytes: refused");
        assert_eq!(h.payload_len, LIMIT + 1);
    }

    /// Letters from a linear congruential generator: deflate shrinks them
    /// by about a third, never to nothing.
    fn letters(n: usize) -> Vec<u8> {
        let mut seed = 7u32;
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b'a' + (seed >> 16) as u8 % 26
            })
            .collect()
    }

    /// Only whole text and binary messages of at least `MIN_COMPRESS`
    /// bytes are compressed: a close frame with a long reason goes as it
    /// is (a compressed control frame is a protocol error), and so does a
    /// message one byte shorter.
    #[test]
    fn only_messages_of_min_compress_bytes_are_compressed() {
        let frame = |first: u8, payload: &[u8]| {
            let mut io = DeflateIo::new((), 1 << 20, MAX_WINDOW_BITS);
            put_header(&mut io.raw_out, first, false, payload.len());
            io.raw_out.extend_from_slice(payload);
            io.rewrite_outgoing();
            parse_header(&io.ready_out).unwrap()
        };
        let x = vec![b'x'; MIN_COMPRESS];
        assert!(frame(0x81, &x).rsv1, "text of MIN_COMPRESS bytes");
        assert!(frame(0x82, &x).rsv1, "binary of MIN_COMPRESS bytes");
        assert!(!frame(0x81, &x[1..]).rsv1, "one byte shorter");
        let mut close = vec![0x0B, 0xB8]; // 3000
        close.extend_from_slice(&[b'r'; 120]);
        for first in [0x88u8, 0x89, 0x8A] {
            let h = frame(first, &close);
            assert!(!h.rsv1 && h.payload_len == close.len(), "{first:#x}");
        }
    }

    /// A writer waits once `HIGH_WATER` bytes wait to be written: a client
    /// that reads nothing does not make the server buffer without bound.
    #[tokio::test]
    async fn writes_wait_past_the_high_water_mark() {
        use futures_util::FutureExt;
        use tokio::io::AsyncWriteExt;
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut io = DeflateIo::new(ours, 1 << 20, MAX_WINDOW_BITS);
        let text = letters(150_000);
        let mut frame = BytesMut::new();
        put_header(&mut frame, 0x81, false, text.len());
        frame.extend_from_slice(&text);
        let first = io.write(&frame).now_or_never().expect("taken at once");
        assert_eq!(first.unwrap(), frame.len());
        assert!(io.ready_out.len() >= HIGH_WATER, "{}", io.ready_out.len());
        assert!(io.write(&frame).now_or_never().is_none(), "past the mark");
    }

    /// `flush` writes out all that waits; `shutdown` too, then ends the
    /// stream, so the peer reads everything and then its end.
    #[tokio::test]
    async fn flush_and_shutdown_write_out_everything() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let step = std::time::Duration::from_secs(5);
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut io = DeflateIo::new(ours, 1 << 20, MAX_WINDOW_BITS);
        let text = letters(20_000);
        let mut frame = BytesMut::new();
        put_header(&mut frame, 0x81, false, text.len());
        frame.extend_from_slice(&text);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            theirs.read_to_end(&mut all).await.map(|_| all)
        });
        io.write_all(&frame).await.unwrap();
        assert!(!io.ready_out.is_empty(), "more than the pipe holds");
        tokio::time::timeout(step, io.flush())
            .await
            .unwrap()
            .unwrap();
        assert!(io.ready_out.is_empty(), "flushed");
        // A second message, left waiting for `shutdown` to write out.
        io.write_all(&frame).await.unwrap();
        tokio::time::timeout(step, io.shutdown())
            .await
            .unwrap()
            .unwrap();
        let all = tokio::time::timeout(step, reader)
            .await
            .expect("the end of the stream")
            .unwrap()
            .unwrap();
        drop(io);
        let mut wire = &all[..];
        for _ in 0..2 {
            let h = parse_header(wire).unwrap();
            assert!(h.rsv1);
            let payload = &wire[h.header_len..h.header_len + h.payload_len];
            assert_eq!(decompress(payload, 1 << 20).unwrap(), text);
            wire = &wire[h.header_len + h.payload_len..];
        }
        assert!(wire.is_empty());
    }
}
