//! The bytes of one connection accepted by the serve helper
//! ([`crate::serve`]), as it hands them to hyper: [`Replay`] (the bytes it
//! sniffed to tell HTTP/1 from HTTP/2, put back in front) over [`Watched`]
//! (what the connection's timers learn of its reading, and its place under
//! `max_connections`).
//!
//! Here, below the endpoints, so that a WebSocket upgrade can take the
//! stream back from hyper as this very type (`hyper::upgrade::Upgraded::
//! downcast`) and read and write it without hyper's adapters in between.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::Version;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

/// A stream `Serve::accept_with` may hand over: TLS, or anything else
/// wrapped around the accepted `TcpStream`.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(crate) type BoxStream = Box<dyn Stream>;
/// The first bytes of every HTTP/2 connection (RFC 9113 §3.4), cleartext
/// (h2c with prior knowledge) or over TLS: what tells it from HTTP/1.
pub(crate) const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the idle and head timers of one connection look at.
pub(crate) struct Activity {
    /// Requests whose response (body included) is not over.
    pub(crate) in_flight: AtomicUsize,
    /// Whether a request was seen yet.
    pub(crate) served: AtomicBool,
    /// HTTP/2: request heads arrive whole, only the first is timed.
    pub(crate) http2: AtomicBool,
    /// A WebSocket: over HTTP/1 the socket is the upgraded connection's
    /// (nothing left to time); over HTTP/2 (extended CONNECT) its stream
    /// outlives its response, so the connection is never idle again.
    pub(crate) upgraded: AtomicBool,
    pub(crate) times: Mutex<Times>,
    /// Wakes the connection's task when a timer may have to start: nothing
    /// left in flight, or a request head begun.
    pub(crate) changed: Notify,
}

pub(crate) struct Times {
    /// Since when nothing is in flight (the connection's start at first).
    pub(crate) idle_since: Instant,
    /// The first byte read since the last request head was complete, while
    /// nothing is in flight: a request head in progress.
    pub(crate) head_since: Option<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            upgraded: AtomicBool::new(false),
            times: Mutex::new(Times {
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    pub(crate) fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.times.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes came in.
    pub(crate) fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) > 0
            || self.upgraded.load(Ordering::Relaxed)
            || (self.http2.load(Ordering::Relaxed) && self.served.load(Ordering::Relaxed))
        {
            return;
        }
        let mut times = self.times();
        if times.head_since.is_none() {
            times.head_since = Some(Instant::now());
            drop(times);
            self.changed.notify_one();
        }
    }

    /// A request head is complete.
    pub(crate) fn request(&self, version: Version) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Relaxed);
        if version == Version::HTTP_2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.times().head_since = None;
    }

    /// A response is over (sent, or dropped).
    pub(crate) fn response_done(&self) {
        let mut times = self.times();
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            times.idle_since = Instant::now();
            drop(times);
            self.changed.notify_one();
        }
    }
}

/// The accepted stream, telling its [`Activity`] when bytes come in. It
/// holds the connection's place under `max_connections` for as long as the
/// socket lives, upgraded to a WebSocket too.
pub(crate) struct Watched {
    inner: BoxStream,
    activity: Arc<Activity>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Watched {
    /// The accepted `inner`, reporting to `activity`, holding `permit`.
    pub(crate) fn new(
        inner: BoxStream,
        activity: Arc<Activity>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Watched {
            inner,
            activity,
            _permit: permit,
        }
    }

    /// What its timers look at.
    #[cfg(test)]
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

/// Writes pass through both layers to the stream under them (`inner`).
macro_rules! write_through {
    ($layer:ty) => {
        impl AsyncWrite for $layer {
            fn poll_write(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}

write_through!(Watched);

/// The accepted stream with the bytes the serve helper sniffed (up to the
/// length of [`H2_PREFACE`]) put back in front.
///
/// The first read returns them and, in the same call, reads on into the
/// rest of the caller's buffer, so that hyper gets the request head in one
/// read as it would have without the sniffing (see `serve::Conn` for why
/// that matters). An error of that reading on comes at the next read.
pub(crate) struct Replay {
    inner: Watched,
    head: [u8; H2_PREFACE.len()],
    at: u8,
    len: u8,
    error: Option<io::Error>,
}

impl Replay {
    /// `inner` with `head[..len]` in front of it.
    pub(crate) fn new(inner: Watched, head: [u8; H2_PREFACE.len()], len: usize) -> Self {
        Replay {
            inner,
            head,
            at: 0,
            len: len as u8,
            error: None,
        }
    }

    /// The socket under it, for a connection upgraded away from HTTP, once
    /// the sniffed bytes were all read and no error is pending (else
    /// `Err(self)`): the timers of [`Activity`] have nothing left to time
    /// on it, and reads need not pass through either layer. [`Held`] must
    /// live as long as the socket.
    pub(crate) fn into_socket(self) -> Result<(BoxStream, Held), Replay> {
        if self.at < self.len || self.error.is_some() {
            return Err(self);
        }
        let Watched { inner, _permit, .. } = self.inner;
        Ok((inner, Held { _permit }))
    }
}

/// What a socket taken out of [`Replay::into_socket`] keeps: its place
/// under `max_connections`.
pub(crate) struct Held {
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.len {
            let left = &this.head[usize::from(this.at)..usize::from(this.len)];
            let n = left.len().min(buf.remaining());
            buf.put_slice(&left[..n]);
            this.at += n as u8;
            if this.at == this.len && buf.remaining() > 0 {
                // Pending leaves the waker with the socket: a later read
                // finds what comes.
                if let Poll::Ready(Err(e)) = Pin::new(&mut this.inner).poll_read(cx, buf) {
                    this.error = Some(e);
                }
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

write_through!(Replay);

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    fn watched(stream: DuplexStream) -> Watched {
        Watched::new(Box::new(stream), Arc::new(Activity::new()), None)
    }

    #[tokio::test]
    async fn the_first_read_after_sniffing_also_brings_what_followed() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let request = b"POST /echo/000/abc/xhr_streaming HTTP/1.1\r\nHost: example\r\n\r\n";
        client.write_all(request).await.unwrap();
        let mut inner = watched(server);
        let mut head = [0; H2_PREFACE.len()];
        inner.read_exact(&mut head).await.unwrap();
        let mut replay = Replay::new(inner, head, head.len());
        // hyper reads into 8 KiB: the whole head must come in this one read,
        // or hyper's buffer grows to 16 KiB for the connection's life.
        let mut buf = vec![0; 8192];
        let n = replay.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &request[..]);
        // Then reads go to the stream.
        client.write_all(b"more").await.unwrap();
        let n = replay.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"more");
    }

    #[tokio::test]
    async fn the_socket_comes_out_once_the_sniffed_bytes_are_read() {
        let (mut client, server) = tokio::io::duplex(1024);
        let permits = Arc::new(tokio::sync::Semaphore::new(1));
        let permit = permits.clone().try_acquire_owned().unwrap();
        let inner = Watched::new(Box::new(server), Arc::new(Activity::new()), Some(permit));
        let mut replay = Replay::new(inner, *b"GET / HTTP/1.1\r\nHost: ex", 24);
        let mut buf = [0; 10];
        replay.read_exact(&mut buf).await.unwrap();
        // Sniffed bytes left: not yet.
        let mut replay = replay.into_socket().err().expect("14 bytes left");
        let mut rest = [0; 14];
        replay.read_exact(&mut rest).await.unwrap();
        let (mut socket, held) = replay.into_socket().ok().expect("all read");
        client.write_all(b"next").await.unwrap();
        let mut next = [0; 4];
        socket.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"next");
        // The connection's place is held as long as `held` lives.
        assert_eq!(permits.available_permits(), 0);
        drop(held);
        assert_eq!(permits.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_small_first_read_gets_the_rest_of_the_sniffed_bytes_next() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b" tail").await.unwrap();
        let mut replay = Replay::new(watched(server), *b"GET / HTTP/1.1\r\nHost: ex", 24);
        let mut buf = [0; 10];
        let n = replay.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP");
        let mut rest = vec![0; 64];
        let n = replay.read(&mut rest).await.unwrap();
        assert_eq!(&rest[..n], b"/1.1\r\nHost: ex tail");
    }
}
