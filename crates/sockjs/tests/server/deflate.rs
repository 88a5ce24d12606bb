//! permessage-deflate over a real socket, with a client written here (the
//! test's own frame code and flate2): negotiation, compressed messages both
//! ways, uncompressed short frames, and a compression bomb refused.
#![cfg(feature = "deflate")]

use std::time::Duration;

use crate::fixture::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn handshake(
    addr: std::net::SocketAddr,
    path: &str,
    offer: Option<&str>,
) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let extensions = offer
        .map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    (tcp, String::from_utf8(head).unwrap().to_ascii_lowercase())
}

/// Reads one frame: (rsv1, opcode, payload).
async fn read_frame(tcp: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let read = async {
        let b0 = tcp.read_u8().await.unwrap();
        let b1 = tcp.read_u8().await.unwrap();
        let len = match b1 & 0x7F {
            126 => tcp.read_u16().await.unwrap() as usize,
            127 => tcp.read_u64().await.unwrap() as usize,
            n => n as usize,
        };
        let mut payload = vec![0; len];
        tcp.read_exact(&mut payload).await.unwrap();
        (b0 & 0x40 != 0, b0 & 0x0F, payload)
    };
    tokio::time::timeout(Duration::from_secs(3), read)
        .await
        .expect("a frame in time")
}

/// Sends one masked text frame, compressed (RSV1) or not.
async fn write_frame<W: tokio::io::AsyncWrite + Unpin>(
    tcp: &mut W,
    payload: &[u8],
    compressed: bool,
) {
    let mut frame = vec![if compressed { 0xC1 } else { 0x81 }];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [9, 8, 7, 6];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    tcp.write_all(&frame).await.unwrap();
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

/// The fixture's fast timers without heartbeats: these tests read frames
/// one by one and expect each exactly, so an `h` (every 200 ms in
/// `fast_config`) would fail them whenever the machine is slow.
fn config() -> sockjs::Config {
    fast_config().heartbeat_delay(Duration::from_secs(60))
}

const OFFER: &str = "permessage-deflate; client_max_window_bits";

#[tokio::test]
async fn messages_are_compressed_both_ways_when_offered() {
    let (app, _events) = app(config().websocket_compression(true));
    let addr = serve(app).await;
    let (mut tcp, head) = handshake(addr, "/echo/0/d/websocket", Some(OFFER)).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        "{head}"
    );
    // `o` is too short to be worth compressing.
    assert_eq!(read_frame(&mut tcp).await, (false, 1, b"o".to_vec()));
    let text = format!("[\"{}\"]", "compressible \u{2028} text ".repeat(200));
    let compressed = deflate(text.as_bytes());
    assert!(compressed.len() < text.len() / 10);
    write_frame(&mut tcp, &compressed, true).await;
    // Uncompressed messages are still fine.
    write_frame(&mut tcp, b"[\"plain\"]", false).await;
    let (rsv1, opcode, payload) = read_frame(&mut tcp).await;
    assert!(rsv1 && opcode == 1 && payload.len() < text.len() / 10);
    let echo = String::from_utf8(inflate(&payload)).unwrap();
    let expected = format!("a{text}").replace('\u{2028}', "\\u2028");
    assert_eq!(echo, expected);
    let (rsv1, _, payload) = read_frame(&mut tcp).await;
    assert_eq!((rsv1, payload), (false, b"a[\"plain\"]".to_vec()));
}

/// Large messages that arrive together, with more behind them in the same
/// read: the buffers grown past what an idle session keeps are given back
/// only once empty, and every message is echoed once, in order.
#[tokio::test]
async fn large_messages_back_to_back_in_one_write_are_all_echoed() {
    let (app, _events) = app(config().websocket_compression(true));
    let addr = serve(app).await;
    let (mut tcp, head) = handshake(addr, "/echo/0/big/websocket", Some(OFFER)).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert_eq!(read_frame(&mut tcp).await, (false, 1, b"o".to_vec()));
    // Letters from a linear congruential generator: deflate leaves them
    // larger than the 8 KiB a drained buffer keeps.
    let mut seed = 12_345u32;
    let mut noise = |n: usize| -> String {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from(b'a' + (seed >> 16) as u8 % 26)
            })
            .collect()
    };
    let texts: Vec<String> = vec![
        format!("[\"{}\"]", noise(30_000)),
        format!("[\"{}\"]", noise(16_000)),
        "[\"last\"]".to_owned(),
    ];
    // One write for all three frames, the first two compressed.
    let (mut client, mut buffered) = tokio::io::duplex(1 << 20);
    for (i, text) in texts.iter().enumerate() {
        if i < 2 {
            let compressed = deflate(text.as_bytes());
            assert!(compressed.len() > 8_192, "{}", compressed.len());
            write_frame(&mut client, &compressed, true).await;
        } else {
            write_frame(&mut client, text.as_bytes(), false).await;
        }
    }
    drop(client);
    let mut bytes = Vec::new();
    buffered.read_to_end(&mut bytes).await.unwrap();
    tcp.write_all(&bytes).await.unwrap();
    // Echoes may be batched into fewer frames; their order is kept.
    let mut got: Vec<String> = Vec::new();
    while got.len() < texts.len() {
        let (rsv1, opcode, payload) = read_frame(&mut tcp).await;
        assert_eq!(opcode, 1);
        let echo = String::from_utf8(if rsv1 { inflate(&payload) } else { payload }).unwrap();
        got.extend(messages_of(&echo));
    }
    let sent: Vec<String> = texts
        .iter()
        .flat_map(|t| messages_of(&format!("a{t}")))
        .collect();
    let lengths = |v: &[String]| v.iter().map(String::len).collect::<Vec<_>>();
    assert!(
        got == sent,
        "{:?} against {:?}",
        lengths(&got),
        lengths(&sent)
    );
}

#[tokio::test]
async fn no_offer_or_compression_off_means_plain_frames() {
    for (config, offer) in [
        (config().websocket_compression(true), None),
        (config(), Some(OFFER)),
    ] {
        let (app, _events) = app(config);
        let addr = serve(app).await;
        let (mut tcp, head) = handshake(addr, "/echo/0/p/websocket", offer).await;
        assert!(!head.contains("sec-websocket-extensions"), "{head}");
        assert_eq!(read_frame(&mut tcp).await, (false, 1, b"o".to_vec()));
        let text = format!("[\"{}\"]", "x".repeat(500));
        write_frame(&mut tcp, text.as_bytes(), false).await;
        let (rsv1, _, payload) = read_frame(&mut tcp).await;
        assert_eq!((rsv1, payload), (false, format!("a{text}").into_bytes()));
    }
}

/// A compressed message that inflates to exactly `max_message_size` bytes
/// is taken; one byte more is refused with 1009.
#[tokio::test]
async fn a_compressed_message_of_exactly_the_limit_is_taken() {
    const LIMIT: usize = 10_000;
    for (size, taken) in [(LIMIT, true), (LIMIT + 1, false)] {
        let (app, _events) = app(config().websocket_compression(true).max_message_size(LIMIT));
        let addr = serve(app).await;
        let (mut tcp, _) = handshake(addr, "/echo/0/lim/websocket", Some(OFFER)).await;
        assert_eq!(read_frame(&mut tcp).await.2, b"o");
        // `["xx…x"]`: `size` bytes.
        let text = format!("[\"{}\"]", "x".repeat(size - 4));
        assert_eq!(text.len(), size);
        write_frame(&mut tcp, &deflate(text.as_bytes()), true).await;
        let (rsv1, opcode, payload) = read_frame(&mut tcp).await;
        let payload = if rsv1 { inflate(&payload) } else { payload };
        let payload = String::from_utf8(payload).unwrap();
        if taken {
            assert_eq!((opcode, payload), (1, format!("a{text}")), "{size}");
        } else {
            assert_eq!(
                (opcode, payload.as_str()),
                (1, "c[1009,\"Message too big\"]"),
                "{size}"
            );
        }
    }
}

#[tokio::test]
async fn a_compression_bomb_is_refused_with_1009() {
    let (app, _events) = app(config()
        .websocket_compression(true)
        .max_message_size(10_000));
    let addr = serve(app).await;
    let (mut tcp, _) = handshake(addr, "/echo/0/b/websocket", Some(OFFER)).await;
    assert_eq!(read_frame(&mut tcp).await.2, b"o");
    // 100 bytes on the wire, a megabyte inflated.
    let bomb = deflate(&vec![b'x'; 1 << 20]);
    assert!(bomb.len() < 2000);
    write_frame(&mut tcp, &bomb, true).await;
    // Framed: the SockJS close frame with the same code comes first.
    assert_eq!(
        read_frame(&mut tcp).await,
        (false, 1, b"c[1009,\"Message too big\"]".to_vec())
    );
    let (_, opcode, payload) = read_frame(&mut tcp).await;
    assert_eq!(opcode, 8, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1009);
}

#[tokio::test]
async fn a_smaller_server_window_is_honoured_and_announced() {
    // The client asks for 2^10; the operator caps at 2^12: 10 wins.
    let (app, _events) = app(config()
        .websocket_compression(true)
        .websocket_compression_window(12));
    let addr = serve(app).await;
    let offer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits";
    let (mut tcp, head) = handshake(addr, "/echo/0/w/websocket", Some(offer)).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains(
            "sec-websocket-extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover; server_max_window_bits=10"
        ),
        "{head}"
    );
    assert_eq!(read_frame(&mut tcp).await, (false, 1, b"o".to_vec()));
    let text = format!("[\"{}\"]", "window ".repeat(1000));
    write_frame(&mut tcp, text.as_bytes(), false).await;
    let (rsv1, _, payload) = read_frame(&mut tcp).await;
    assert!(rsv1 && payload.len() < text.len() / 10);
    let echo = String::from_utf8(inflate(&payload)).unwrap();
    assert_eq!(echo, format!("a{text}"));

    // Without the client's parameter the operator's window is announced.
    let (mut tcp, head) = handshake(addr, "/echo/0/v/websocket", Some(OFFER)).await;
    assert!(head.contains("server_max_window_bits=12"), "{head}");
    assert_eq!(read_frame(&mut tcp).await, (false, 1, b"o".to_vec()));
}

/// The handler learns whether its session's WebSocket compresses
/// (`Session::is_compressed`): only when the server allows it and the
/// client offered it.
#[tokio::test]
async fn the_handler_knows_whether_its_session_compresses() {
    for (config, offer, expected) in [
        (config().websocket_compression(true), Some(OFFER), true),
        (config().websocket_compression(true), None, false),
        (config(), Some(OFFER), false),
    ] {
        let service = sockjs::SockJsRouter::new(|session: sockjs::Session| async move {
            let said = format!("compressed {}", session.is_compressed());
            let (tx, mut rx) = session.split();
            let _ = tx.send(said).await;
            while rx.recv().await.is_some() {}
        })
        .config(config)
        .into_router();
        let addr = serve(axum::Router::new().nest_service("/c", service)).await;
        let (mut tcp, head) = handshake(addr, "/c/0/c/websocket", offer).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert_eq!(read_frame(&mut tcp).await, (false, 1, b"o".to_vec()));
        // Short: sent uncompressed either way.
        let said = format!("a[\"compressed {expected}\"]");
        assert_eq!(read_frame(&mut tcp).await, (false, 1, said.into_bytes()));
    }
}
