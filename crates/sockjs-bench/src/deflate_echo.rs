//! `ws-deflate-echo` and `ws-plain-echo`: framed websocket echo of a
//! typical JSON chat event (about 190 bytes as a SockJS message), with and
//! without permessage-deflate, counting the bytes on the wire per echo
//! (frames both ways, headers included).
//!
//! tokio-tungstenite has no permessage-deflate, so this client speaks the
//! frames itself: it offers `permessage-deflate; client_max_window_bits`
//! like a browser, compresses each message on its own (valid whatever the
//! server negotiated) and keeps one inflater for the server's messages
//! (valid with or without the server's context takeover).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::echo::within;
use crate::frame::{self, clip, Frame};
use crate::stats::{run_clients, Rec, Start, Window};
use crate::Ctx;

/// Bytes on the wire over every client, for the report.
static WIRE_BYTES: AtomicU64 = AtomicU64::new(0);
static WIRE_MESSAGES: AtomicU64 = AtomicU64::new(0);

pub(crate) async fn run(ctx: Arc<Ctx>, deflate: bool) -> Result<Value, String> {
    let n = ctx.args.clients;
    let mut report =
        run_clients(ctx, n, move |i, ctx, start| client(i, ctx, start, deflate)).await?;
    let (bytes, messages) = (
        WIRE_BYTES.load(Ordering::Relaxed),
        WIRE_MESSAGES.load(Ordering::Relaxed),
    );
    if messages > 0 {
        report["wire_bytes_per_msg"] = (bytes as f64 / messages as f64).into();
    }
    Ok(report)
}

/// The application message: a chat event as an app would send it.
fn event(client: usize, seq: u64) -> String {
    format!(
        r#"{{"type":"message","room":"lobby","user":"user-{client}","seq":{seq},"text":"Hello everyone, the build is green again; deploying to staging in five minutes.","at":"2026-12-03T05:37:58.123Z"}}"#
    )
}

struct Conn {
    read: BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: tokio::net::tcp::OwnedWriteHalf,
    deflate: bool,
    compress: Compress,
    decompress: Decompress,
    wire: u64,
}

impl Conn {
    async fn open(ctx: &Ctx, path: &str, offer: bool) -> Result<Conn, String> {
        let tcp: TcpStream = ctx
            .net
            .connect()
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let extensions = if offer {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let (read, mut write) = tcp.into_split();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n",
            ctx.net.addr()
        );
        write
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let mut read = BufReader::new(read);
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(
                read.read_u8()
                    .await
                    .map_err(|e| format!("handshake: {e}"))?,
            );
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        if !head.starts_with("http/1.1 101") {
            return Err(format!("handshake: {}", clip(&head)));
        }
        let deflate = head.contains("permessage-deflate");
        if offer && !deflate {
            return Err("the server did not negotiate permessage-deflate".into());
        }
        Ok(Conn {
            read,
            write,
            deflate,
            compress: Compress::new(Compression::default(), false),
            decompress: Decompress::new(false),
            wire: 0,
        })
    }

    async fn send(&mut self, text: &str) -> Result<(), String> {
        let (first, payload) = if self.deflate {
            self.compress.reset();
            let mut out = Vec::with_capacity(text.len() + 64);
            self.compress
                .compress_vec(text.as_bytes(), &mut out, FlushCompress::Sync)
                .map_err(|e| e.to_string())?;
            out.truncate(out.len().saturating_sub(4));
            (0xC1u8, out)
        } else {
            (0x81u8, text.as_bytes().to_vec())
        };
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(first);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.wire += frame.len() as u64;
        self.write
            .write_all(&frame)
            .await
            .map_err(|e| format!("send: {e}"))
    }

    /// The next text message from the server, inflated when compressed.
    async fn recv(&mut self) -> Result<String, String> {
        let r = &mut self.read;
        let b0 = r.read_u8().await.map_err(|e| format!("receive: {e}"))?;
        let b1 = r.read_u8().await.map_err(|e| format!("receive: {e}"))?;
        let (len, header) = match b1 & 0x7F {
            126 => (r.read_u16().await.map_err(|e| e.to_string())? as usize, 4),
            127 => (r.read_u64().await.map_err(|e| e.to_string())? as usize, 10),
            n => (n as usize, 2),
        };
        let mut payload = vec![0; len];
        r.read_exact(&mut payload)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        self.wire += (header + len) as u64;
        if b0 & 0x0F != 1 {
            return Err(format!("unexpected frame opcode {}", b0 & 0x0F));
        }
        let bytes = if b0 & 0x40 != 0 {
            payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut out = Vec::with_capacity(len * 4 + 64);
            let start = self.decompress.total_in();
            while (self.decompress.total_in() - start) < payload.len() as u64 {
                let consumed = (self.decompress.total_in() - start) as usize;
                if out.len() == out.capacity() {
                    out.reserve(out.capacity());
                }
                self.decompress
                    .decompress_vec(&payload[consumed..], &mut out, FlushDecompress::Sync)
                    .map_err(|e| format!("inflate: {e}"))?;
            }
            out
        } else {
            payload
        };
        String::from_utf8(bytes).map_err(|_| "a text frame that is not UTF-8".to_string())
    }
}

async fn client(i: usize, ctx: Arc<Ctx>, start: Arc<Start>, deflate: bool) -> Rec {
    let mut rec = Rec::default();
    let result = async {
        let path = format!("{}/websocket", ctx.session_base(i));
        let setup = async {
            let mut conn = Conn::open(&ctx, &path, deflate).await?;
            match conn.recv().await?.as_str() {
                "o" => Ok(conn),
                other => Err(format!("expected the o frame, got {}", clip(other))),
            }
        };
        let r = within(Instant::now() + crate::echo::SETUP, "session setup", setup).await;
        let w: Window = start.ready().await;
        let mut conn = r?;
        let mut seq = 0u64;
        let mut out: VecDeque<(String, Instant)> = VecDeque::new();
        let (mut counted_bytes, mut counted) = (0u64, 0u64);
        while Instant::now() < w.to {
            let message = event(i, seq);
            seq += 1;
            let json = serde_json::to_string(&message).map_err(|e| e.to_string())?;
            let sent = Instant::now();
            let before = conn.wire;
            conn.send(&format!("[{json}]")).await?;
            out.push_back((message, sent));
            while !out.is_empty() {
                let text = tokio::time::timeout_at(w.grace, conn.recv())
                    .await
                    .map_err(|_| "the echo never came".to_string())??;
                let now = Instant::now();
                match frame::parse(&text)? {
                    Frame::Messages(ms) => {
                        for m in ms {
                            let (want, at) = out.pop_front().ok_or("an unexpected message")?;
                            if want != m {
                                return Err(format!("expected {} got {}", clip(&want), clip(&m)));
                            }
                            rec.record(&w, at, now);
                        }
                    }
                    Frame::Heartbeat => {}
                    other => return Err(format!("unexpected frame {other:?}")),
                }
            }
            if w.contains(sent) {
                counted_bytes += conn.wire - before;
                counted += 1;
            }
        }
        WIRE_BYTES.fetch_add(counted_bytes, Ordering::Relaxed);
        WIRE_MESSAGES.fetch_add(counted, Ordering::Relaxed);
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = result {
        ctx.errors.report(format!("client {i}: {e}"));
    }
    rec
}
