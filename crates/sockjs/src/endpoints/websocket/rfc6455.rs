//! RFC 6455 WebSockets: the handshake answer, and the socket on top of
//! tungstenite.
//!
//! The upgrade is done here rather than through axum's `WebSocketUpgrade`
//! because the closing handshake needs the connection under the framing:
//! after the close frame the server shuts its side down and reads to the
//! end (see [`super::socket::close_cleanly`]), which axum's `WebSocket`
//! does not allow.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tungstenite::error::ProtocolError;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

use bytes::Bytes;

use super::socket::{Incoming, Io, Out, RecvError, Socket, INVALID_DATA, PROTOCOL_ERROR, TOO_BIG};
use crate::conn::{BoxStream, Held, Replay};
use crate::rejection::Rejection;
use crate::session::standard_reason;

/// Base read buffer of one socket. tungstenite's default (128 KiB) would
/// cost far more than everything else a session holds; it grows the buffer
/// to a frame's length once it has read the frame's header, so a small base
/// costs little on large messages. 2 KiB keeps an idle session under 8 KiB.
const READ_BUFFER: usize = 2_048;

/// Protocol versions answered: 13 (RFC 6455) and the drafts 7 and 8 whose
/// framing is the same, as sockjs-node does.
fn is_supported_version(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| matches!(v.as_bytes(), b"13" | b"8" | b"7"))
}

/// Whether an HTTP/2 request is an extended CONNECT for a WebSocket
/// (RFC 8441: `:method CONNECT`, `:protocol websocket`).
pub(crate) fn is_h2_connect(parts: &Parts) -> bool {
    #[cfg(feature = "http2")]
    {
        parts.method == http::Method::CONNECT
            && parts
                .extensions
                .get::<hyper::ext::Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
    }
    #[cfg(not(feature = "http2"))]
    {
        let _ = parts;
        false
    }
}

/// Answers the handshake (101 with `Sec-WebSocket-Accept` over HTTP/1.1,
/// 200 over HTTP/2) and, once hyper hands the stream over, runs `session`
/// on it. Messages over `max_message` bytes are refused by the socket
/// (close code 1009).
///
/// `deflate`: when permessage-deflate was negotiated, the
/// `Sec-WebSocket-Extensions` answer and the server's window (bits).
pub(crate) fn upgrade<F, Fut>(
    parts: &mut Parts,
    max_message: usize,
    deflate: Option<(HeaderValue, u8)>,
    session: F,
) -> Response
where
    F: FnOnce(Rfc6455Socket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if !is_supported_version(parts) {
        return Rejection::NotWebSocket.into_response();
    }
    let accept = if parts.version == http::Version::HTTP_2 {
        None
    } else {
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY) else {
            return Rejection::NotWebSocket.into_response();
        };
        let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) else {
            return Rejection::NotWebSocket.into_response();
        };
        Some(accept)
    };
    let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
        return Rejection::NotWebSocket.into_response();
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let (extensions, window_bits) = deflate.unzip();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let conn = Conn::new(Raw::new(upgraded), window_bits, max_message);
        let inner = WebSocket::from_raw_socket(
            Polled {
                conn,
                waker: Waker::noop().clone(),
            },
            Role::Server,
            Some(config),
        );
        // The session is a task of its own: this one's state (the
        // handshake's) is not carried through the session's life.
        tokio::spawn(session(Rfc6455Socket {
            inner,
            ended: false,
        }));
    });
    let mut response = match accept {
        // HTTP/2: a 2xx opens the stream (RFC 8441 section 5).
        None => StatusCode::OK.into_response(),
        Some(accept) => {
            let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
            let h = response.headers_mut();
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
            response
        }
    };
    if let Some(extensions) = extensions {
        response
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_EXTENSIONS, extensions);
    }
    response
}

/// The upgraded connection's bytes.
///
/// Under the serve helper ([`crate::serve`]), hyper hands back the helper's
/// own stream, and the bytes it had read past the request (a client may
/// send its first frames at once): the socket under that stream is read
/// and written as it is, without hyper's `Upgraded`, two adapters and the
/// helper's own two layers between each frame and the socket.
/// Under another server (`axum::serve`), or over HTTP/2, through `Upgraded`.
enum Raw {
    Direct {
        early: Bytes,
        io: BoxStream,
        _held: Option<Held>,
    },
    Upgraded(TokioIo<Upgraded>),
}

impl Raw {
    fn new(upgraded: Upgraded) -> Raw {
        match upgraded.downcast::<TokioIo<Replay>>() {
            Ok(parts) => {
                // The socket itself, unless the helper's stream still has
                // something of its own to give first.
                let (io, held) = match parts.io.into_inner().into_socket() {
                    Ok((socket, held)) => (socket, Some(held)),
                    Err(replay) => (Box::new(replay) as BoxStream, None),
                };
                Raw::Direct {
                    // A copy: `read_buf` shares hyper's whole read buffer
                    // (8 KiB or more), which the session would keep.
                    early: Bytes::copy_from_slice(&parts.read_buf),
                    io,
                    _held: held,
                }
            }
            Err(upgraded) => Raw::Upgraded(TokioIo::new(upgraded)),
        }
    }
}

impl AsyncRead for Raw {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Raw::Direct { early, io, .. } => {
                if early.is_empty() {
                    return Pin::new(io).poll_read(cx, buf);
                }
                let n = early.len().min(buf.remaining());
                buf.put_slice(&early.split_to(n));
                if early.is_empty() {
                    // Hands the copy's memory back.
                    *early = Bytes::new();
                }
                Poll::Ready(Ok(()))
            }
            Raw::Upgraded(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

macro_rules! either {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            Raw::Direct { io: $io, .. } => $call,
            Raw::Upgraded($io) => $call,
        }
    };
}

impl AsyncWrite for Raw {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        either!(self, io => Pin::new(io).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(self, io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        either!(self, io => Pin::new(io).poll_shutdown(cx))
    }
}

/// The connection under the framing: as it is, or rewriting frames for
/// permessage-deflate (boxed: an uncompressed session pays nothing for it).
enum Conn {
    Plain(Raw),
    #[cfg(feature = "deflate")]
    Deflate(Box<super::deflate::DeflateIo<Raw>>),
}

impl Conn {
    /// `window_bits`: the server's deflate window, when permessage-deflate
    /// was negotiated.
    fn new(io: Raw, window_bits: Option<u8>, max_message: usize) -> Conn {
        #[cfg(feature = "deflate")]
        if let Some(bits) = window_bits {
            return Conn::Deflate(Box::new(super::deflate::DeflateIo::new(
                io,
                max_message,
                bits,
            )));
        }
        let _ = (window_bits, max_message);
        Conn::Plain(io)
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            Conn::Plain($io) => $call,
            #[cfg(feature = "deflate")]
            Conn::Deflate($io) => $call,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        delegate!(self, io => Pin::new(io).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        delegate!(self, io => Pin::new(io).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        delegate!(self, io => Pin::new(io).poll_shutdown(cx))
    }
}

/// The connection as tungstenite reads and writes it: blocking `Read` and
/// `Write`, each call a poll of the connection with the waker of the
/// socket's last poll (`WouldBlock` for `Pending`).
///
/// tokio-tungstenite's adapter does the same with two shared wakers of its
/// own, each an allocation that every read or write registers the task's
/// waker in: two more cache lines per message at thousands of sessions.
/// Here the waker is the task's, kept while it stays the same (the session
/// loop polls the socket with one waker all its life).
struct Polled {
    conn: Conn,
    waker: Waker,
}

impl Polled {
    /// Makes `cx`'s waker the one woken when the connection is ready.
    fn set_waker(&mut self, cx: &Context<'_>) {
        if !self.waker.will_wake(cx.waker()) {
            self.waker.clone_from(cx.waker());
        }
    }

    fn poll<T>(
        &mut self,
        f: impl FnOnce(Pin<&mut Conn>, &mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> std::io::Result<T> {
        let mut cx = Context::from_waker(&self.waker);
        match f(Pin::new(&mut self.conn), &mut cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(ErrorKind::WouldBlock.into()),
        }
    }
}

impl Read for Polled {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut buf = ReadBuf::new(buf);
        self.poll(|conn, cx| conn.poll_read(cx, &mut buf))?;
        Ok(buf.filled().len())
    }
}

impl Write for Polled {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.poll(|conn, cx| conn.poll_write(cx, buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.poll(|conn, cx| conn.poll_flush(cx))
    }
}

/// Whether a tungstenite error is the connection's `Pending`.
fn would_block(e: &Error) -> bool {
    matches!(e, Error::Io(e) if e.kind() == ErrorKind::WouldBlock)
}

/// An upgraded RFC 6455 connection.
pub(crate) struct Rfc6455Socket {
    inner: WebSocket<Polled>,
    /// A read failed or found the connection closed: every later read
    /// finds it closed.
    ended: bool,
}

impl Socket for Rfc6455Socket {
    /// Hands the frame to tungstenite, which writes it (with anything it
    /// had queued before it, such as the reply to a ping) as far as the
    /// connection takes it now. The reply to the client's close frame was
    /// queued when that frame was read: nothing more to queue.
    fn start(&mut self, frame: Out<'_>) -> Result<(), String> {
        let message = match frame {
            Out::Text(text) => Message::text(text),
            Out::Ping => Message::Ping(Bytes::new()),
            Out::Close(Some((code, reason))) => Message::Close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            })),
            Out::Close(None) => return Ok(()),
        };
        match self.inner.write(message) {
            Ok(()) => Ok(()),
            // Queued: the flush writes it.
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A connection that tungstenite just closed counts as flushed.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.inner.get_mut().set_waker(cx);
        match self.inner.flush() {
            Ok(()) | Err(Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) if would_block(&e) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e.to_string())),
        }
    }

    fn can_ping(&self) -> bool {
        true
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, RecvError>> {
        if self.ended {
            return Poll::Ready(Ok(Incoming::Closed));
        }
        self.inner.get_mut().set_waker(cx);
        Poll::Ready(match self.inner.read() {
            Ok(Message::Text(text)) => Ok(Incoming::Text(text.as_str().to_owned())),
            Ok(Message::Close(_)) => Ok(Incoming::Closed),
            Ok(_) => Ok(Incoming::Nothing),
            Err(e) if would_block(&e) => return Poll::Pending,
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                self.ended = true;
                Ok(Incoming::Closed)
            }
            Err(e) => {
                self.ended = true;
                Err(refusal(e))
            }
        })
    }

    fn io(&mut self) -> &mut dyn Io {
        &mut self.inner.get_mut().conn
    }
}

/// What a tungstenite read error means for the connection: the RFC 6455
/// close code of a client's violation (tungstenite leaves the connection
/// open for our close frame after each of them), or an I/O failure.
fn refusal(e: Error) -> RecvError {
    match e {
        Error::Capacity(e) => {
            RecvError::violation(TOO_BIG, standard_reason(TOO_BIG), e.to_string())
        }
        Error::Utf8(e) => RecvError::violation(INVALID_DATA, "Invalid UTF-8", e),
        // The client's end of stream without a close frame.
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            RecvError::Failed(e.to_string())
        }
        Error::Protocol(p) => RecvError::violation(PROTOCOL_ERROR, "Protocol error", p.to_string()),
        e => RecvError::Failed(e.to_string()),
    }
}
