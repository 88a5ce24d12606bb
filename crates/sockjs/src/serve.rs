//! [`serve`]: an accept loop for long-lived SockJS traffic, where
//! `axum::serve` has no header timeout, no idle timeout and no shutdown of
//! the sessions themselves.
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::Router;
//! use sockjs::{Session, Shutdown, SockJsRouter};
//!
//! # async fn run() -> std::io::Result<()> {
//! let shutdown = Shutdown::new();
//! let echo = SockJsRouter::new(|session: Session| async move {
//!     let (tx, mut rx) = session.split();
//!     while let Some(message) = rx.recv().await {
//!         let _ = tx.send(message).await;
//!     }
//! })
//! .shutdown(shutdown.clone())
//! .into_router();
//! let app: Router = Router::new().nest("/echo", echo);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! sockjs::serve(listener, app)
//!     .header_read_timeout(Duration::from_secs(5))
//!     .shutdown(shutdown)
//!     .with_graceful_shutdown(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await
//! # }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower_service::Service;

use crate::conn::{Activity, BoxStream, Replay, Watched, H2_PREFACE};
use crate::shutdown::Shutdown;

/// Default of [`Serve::header_read_timeout`].
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`Serve::idle_timeout`].
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Default of [`Serve::shutdown_deadline`].
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// The least time connections get to finish once the sessions are closed.
const DRAIN_AT_LEAST: Duration = Duration::from_secs(1);
/// First and longest pause after a failed `accept` (out of file
/// descriptors, say): the loop waits instead of spinning.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Acceptor = Arc<dyn Fn(TcpStream) -> BoxFuture<io::Result<BoxStream>> + Send + Sync>;

/// Serves `app` on `listener` the way long-lived SockJS traffic needs;
/// await the returned [`Serve`] (after its setters) to run it.
///
/// Unlike `axum::serve`, it
///
/// - sets `TCP_NODELAY` on every accepted socket (SockJS frames are small
///   and should leave at once, not after Nagle's delay);
/// - gives handlers `ConnectInfo<SocketAddr>` (what
///   [`Config::max_sessions_per_address`](crate::Config::max_sessions_per_address)
///   and [`Session::remote_addr`](crate::Session::remote_addr) read);
/// - cuts off a client that sends its request head too slowly
///   ([`header_read_timeout`](Serve::header_read_timeout)), and closes a
///   connection with no request in flight for
///   [`idle_timeout`](Serve::idle_timeout); streaming responses and
///   WebSockets are requests in flight, so they are never cut;
/// - pauses after a failed `accept` (out of file descriptors) instead of
///   spinning, and can cap the connections it holds
///   ([`max_connections`](Serve::max_connections));
/// - on shutdown ([`with_graceful_shutdown`](Serve::with_graceful_shutdown))
///   closes every session of a [`Shutdown`] while still serving (polling
///   clients come back for their close frame), then asks the connections to
///   finish, and drops those still open at the
///   [`shutdown_deadline`](Serve::shutdown_deadline).
///
/// It speaks HTTP/1.1 and HTTP/2 (h2c with prior knowledge, and over TLS
/// when the acceptor negotiates it), WebSockets over HTTP/2 included, and
/// takes TLS through [`accept_with`](Serve::accept_with).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = axum::Router::new().nest("/echo", sockjs::router(|_session: sockjs::Session| async {}));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// sockjs::serve(listener, app).await
/// # }
/// ```
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        listener,
        app,
        header_read_timeout: Some(HEADER_READ_TIMEOUT),
        idle_timeout: Some(IDLE_TIMEOUT),
        max_connections: None,
        shutdown: None,
        shutdown_deadline: SHUTDOWN_DEADLINE,
        signal: None,
        acceptor: None,
    }
}

/// The server of [`serve`], configured by its setters; awaiting it runs it
/// until the shutdown is over (or forever, without
/// [`with_graceful_shutdown`](Self::with_graceful_shutdown)).
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Router,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_connections: Option<usize>,
    shutdown: Option<Shutdown>,
    shutdown_deadline: Duration,
    signal: Option<BoxFuture<()>>,
    acceptor: Option<Acceptor>,
}

impl Serve {
    /// How long a client may take to send a request head, from its first
    /// byte (or from the connection's start, for the first request: a
    /// client that connects and stays silent is cut off too). On HTTP/1
    /// that is every request; on HTTP/2 the connection's first one (the
    /// preface and the first headers). The TLS handshake of
    /// [`accept_with`](Self::accept_with) has the same bound. `None` turns it
    /// off. Default: 10 s.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// use std::time::Duration;
    /// sockjs::serve(listener, app).header_read_timeout(Duration::from_secs(5)).await
    /// # }
    /// ```
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_read_timeout = timeout.into();
        self
    }

    /// How long a connection may stay open with no request in flight before
    /// it is closed (gracefully: a request that races the close is still
    /// answered). A streaming response or a WebSocket is a request in
    /// flight as long as it lasts, however quiet, so it is never cut; an
    /// HTTP/2 connection that carried a WebSocket is never idle again. Keep
    /// it above the keep-alive timeouts of the proxies in front of the
    /// server, so that they, not the server, close idle connections. `None`
    /// turns it off. Default: 90 s.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// use std::time::Duration;
    /// sockjs::serve(listener, app).idle_timeout(Duration::from_secs(120)).await
    /// # }
    /// ```
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// The most connections held at once (a WebSocket session is one); at
    /// the cap the server stops accepting, so new clients wait in the
    /// listen backlog until a connection closes. Default: no cap (the file
    /// descriptor limit is the cap; running out of descriptors pauses the
    /// accept loop instead of spinning it).
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// sockjs::serve(listener, app).max_connections(50_000).await
    /// # }
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// The sessions to close when the shutdown signal comes: the handle
    /// given to every service ([`SockJsRouter::shutdown`](crate::SockJsRouter::shutdown)).
    /// Its [`graceful`](Shutdown::graceful) runs with the
    /// [`shutdown_deadline`](Self::shutdown_deadline) while the server still
    /// serves. Default: none, only connections are closed.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    /// use sockjs::{Session, Shutdown, SockJsRouter};
    ///
    /// let shutdown = Shutdown::new();
    /// let echo = SockJsRouter::new(|_session: Session| async {}).shutdown(shutdown.clone());
    /// let app = axum::Router::new().nest("/echo", echo.into_router());
    /// sockjs::serve(listener, app)
    ///     .shutdown(shutdown)
    ///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
    ///     .await
    /// # }
    /// ```
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// How long the shutdown may take, from the signal: sessions still open
    /// at the deadline are cut off, and connections still open then (or a
    /// second after the sessions are gone, whichever is later) are dropped.
    /// Default: 10 s.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// use std::time::Duration;
    /// sockjs::serve(listener, app)
    ///     .shutdown_deadline(Duration::from_secs(30))
    ///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
    ///     .await
    /// # }
    /// ```
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// Shuts down when `signal` resolves (Ctrl-C, SIGTERM, ...): the
    /// [`shutdown`](Self::shutdown) sessions are closed, the listener is
    /// dropped, connections are asked to finish, and the server's future
    /// returns. Default: it never shuts down.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// sockjs::serve(listener, app)
    ///     .with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; })
    ///     .await
    /// # }
    /// ```
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// Shuts down gracefully at the first Ctrl-C or, on Unix, SIGTERM (what
    /// `kill`, systemd and container runtimes send): the usual
    /// [`with_graceful_shutdown`](Self::with_graceful_shutdown) signal of a
    /// server process.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// let shutdown = sockjs::Shutdown::new();
    /// sockjs::serve(listener, app)
    ///     .shutdown(shutdown)
    ///     .shutdown_on_signal()
    ///     .await
    /// # }
    /// ```
    pub fn shutdown_on_signal(self) -> Self {
        self.with_graceful_shutdown(shutdown_signal())
    }

    /// Serves HTTPS with rustls (feature `tls`): each accepted socket
    /// does the TLS handshake first, bounded by the
    /// [`header_read_timeout`](Self::header_read_timeout). A `config`
    /// without ALPN protocols is given `h2` and `http/1.1`, so browsers use
    /// HTTP/2 (they never speak it over cleartext), WebSockets included.
    /// Built on [`accept_with`](Self::accept_with).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    /// use tokio_rustls::rustls::ServerConfig;
    ///
    /// # async fn run(
    /// #     listener: tokio::net::TcpListener,
    /// #     app: axum::Router,
    /// #     chain: Vec<CertificateDer<'static>>,
    /// #     key: PrivateKeyDer<'static>,
    /// # ) -> std::io::Result<()> {
    /// let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    /// let config = ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()
    ///     .expect("TLS 1.2 and 1.3")
    ///     .with_no_client_auth()
    ///     .with_single_cert(chain, key)
    ///     .expect("a certificate and its key");
    /// sockjs::serve(listener, app).tls(Arc::new(config)).await
    /// # }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(self, config: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        let config = if config.alpn_protocols.is_empty() {
            let mut with_alpn = (*config).clone();
            with_alpn.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Arc::new(with_alpn)
        } else {
            config
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        self.accept_with(move |tcp| acceptor.accept(tcp))
    }

    /// Wraps each accepted socket before HTTP is spoken on it: the TLS
    /// hook. `accept` gets the `TcpStream` (`TCP_NODELAY` already set) and
    /// returns any `AsyncRead + AsyncWrite` stream, a `tokio_rustls` server
    /// stream for instance; an error drops the connection. It runs on the
    /// connection's own task, bounded by the
    /// [`header_read_timeout`](Self::header_read_timeout). Offer `h2` by
    /// ALPN for HTTP/2: the server detects it by the client's preface.
    ///
    /// ```no_run
    /// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    /// // A stand-in for `tokio_rustls::TlsAcceptor::accept`: any stream will do.
    /// sockjs::serve(listener, app)
    ///     .accept_with(|tcp: tokio::net::TcpStream| async move {
    ///         Ok::<_, std::io::Error>(tokio::io::BufStream::new(tcp))
    ///     })
    ///     .await
    /// # }
    /// ```
    pub fn accept_with<F, Fut, S>(mut self, accept: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.acceptor = Some(Arc::new(move |tcp| {
            let accepted = accept(tcp);
            Box::pin(async move { accepted.await.map(|s| Box::new(s) as BoxStream) })
        }));
        self
    }
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("shutdown", &self.shutdown)
            .field("shutdown_deadline", &self.shutdown_deadline)
            .finish_non_exhaustive()
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = BoxFuture<io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// What every connection task reads.
struct Settings {
    app: Router,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    acceptor: Option<Acceptor>,
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

/// Where the server is in its life, as every connection task sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Serving,
    /// Finish the requests in flight, take no more.
    Draining,
    /// Drop the connection now.
    Stopped,
}

impl Serve {
    async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            app,
            header_read_timeout,
            idle_timeout,
            max_connections,
            shutdown,
            shutdown_deadline,
            signal,
            acceptor,
        } = self;
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        // WebSockets over HTTP/2 (RFC 8441).
        http2.enable_connect_protocol();
        let settings = Arc::new(Settings {
            app,
            header_read_timeout,
            idle_timeout,
            acceptor,
            http1: http1::Builder::new(),
            http2,
        });
        let (phase, phases) = watch::channel(Phase::Serving);
        // Each connection task holds a sender; `recv` ends when all are gone.
        let (alive, mut gone) = mpsc::channel::<()>(1);
        let cap = max_connections.map(|n| Arc::new(Semaphore::new(n)));

        // The signal, then the sessions' shutdown while the loop below keeps
        // serving; resolves to the moment the signal came.
        let stop = async move {
            match signal {
                Some(signal) => signal.await,
                None => std::future::pending().await,
            }
            let started = Instant::now();
            tracing::info!("sockjs::serve shutting down");
            if let Some(shutdown) = shutdown {
                let report = shutdown.graceful(shutdown_deadline).await;
                tracing::info!(
                    sessions = report.sessions,
                    forced = report.forced,
                    "sockjs::serve: sessions closed"
                );
            }
            started
        };
        tokio::pin!(stop);

        let mut backoff = BACKOFF_FIRST;
        let started = loop {
            let permit = match &cap {
                Some(cap) => tokio::select! {
                    permit = cap.clone().acquire_owned() => permit.ok(),
                    started = &mut stop => break started,
                },
                None => None,
            };
            let (tcp, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => {
                        backoff = BACKOFF_FIRST;
                        accepted
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, pause = ?backoff, "sockjs::serve: accept failed");
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            started = &mut stop => break started,
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                },
                started = &mut stop => break started,
            };
            let _ = tcp.set_nodelay(true);
            let settings = settings.clone();
            let phases = phases.clone();
            let alive = alive.clone();
            tokio::spawn(async move {
                connection(tcp, remote, permit, settings, phases).await;
                drop(alive);
            });
        };

        drop(listener);
        drop(alive);
        let _ = phase.send(Phase::Draining);
        let drain = shutdown_deadline
            .saturating_sub(started.elapsed())
            .max(DRAIN_AT_LEAST);
        if tokio::time::timeout(drain, gone.recv()).await.is_err() {
            tracing::warn!("sockjs::serve: connections still open at the deadline, dropped");
            let _ = phase.send(Phase::Stopped);
            // Each task drops its connection at once; a moment for them to run.
            let _ = tokio::time::timeout(Duration::from_millis(200), gone.recv()).await;
        }
        Ok(())
    }
}

/// Serves one accepted connection until it ends, is idle too long, or the
/// server stops.
async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    permit: Option<OwnedSemaphorePermit>,
    settings: Arc<Settings>,
    mut phases: watch::Receiver<Phase>,
) {
    let stream: BoxStream = match &settings.acceptor {
        None => Box::new(tcp),
        Some(accept) => {
            let handshake = accept(tcp);
            let bounded = async {
                match settings.header_read_timeout {
                    Some(limit) => tokio::time::timeout(limit, handshake)
                        .await
                        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                    None => handshake.await,
                }
            };
            let stopped = phases.wait_for(|p| *p == Phase::Stopped);
            tokio::select! {
                accepted = bounded => match accepted {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::debug!(%remote, error = %e, "sockjs::serve: accept hook failed");
                        return;
                    }
                },
                _ = stopped => return,
            }
        }
    };
    let activity = Arc::new(Activity::new());
    let io = Watched::new(stream, activity.clone(), permit);
    let service = Tracked {
        app: settings.app.clone(),
        remote,
        activity: activity.clone(),
    };
    let conn = Conn::Sniffing(Sniff {
        io: Some(io),
        service: Some(service),
        settings: settings.clone(),
        head: [0; H2_PREFACE.len()],
        filled: 0,
        stopping: false,
    });
    tokio::pin!(conn);
    let mut closing = false;
    if *phases.borrow_and_update() != Phase::Serving {
        conn.as_mut().graceful_shutdown();
        closing = true;
    }
    loop {
        let next = activity.next_check(&settings);
        tokio::select! {
            () = activity.changed.notified() => {}
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%remote, error = %e, "sockjs::serve: connection ended");
                }
                return;
            }
            () = sleep_until(next) => match activity.verdict(&settings) {
                Verdict::Keep => {}
                Verdict::SlowHead => {
                    tracing::debug!(%remote, "sockjs::serve: request head too slow, connection dropped");
                    return;
                }
                Verdict::Idle => {
                    if !closing {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            },
            changed = phases.changed() => {
                let phase = if changed.is_ok() { *phases.borrow_and_update() } else { Phase::Stopped };
                match phase {
                    Phase::Serving => {}
                    Phase::Draining => {
                        if !closing {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                        }
                    }
                    Phase::Stopped => return,
                }
            }
        }
    }
}

type Io = TokioIo<Replay>;

/// One connection: its first bytes read to tell HTTP/1 from HTTP/2, then
/// served by hyper's connection of that version.
///
/// Not hyper-util's `auto` connection, for memory: it replays the bytes it
/// sniffed as a first read of their own (24 bytes), and hyper's HTTP/1 read
/// buffer, asked for 8 KiB more with 24 bytes in it, doubles to 16 KiB
/// (`Buffered::poll_read_from_io`, hyper 1.12 `src/proto/h1/io.rs:241`) and
/// keeps that for the connection's life: ~8 KiB more per idle streaming
/// session. [`Replay`] reads on behind the sniffed bytes instead.
enum Conn {
    Sniffing(Sniff),
    Http1(Pin<Box<http1::UpgradeableConnection<Io, Tracked>>>),
    Http2(Pin<Box<http2::Connection<Io, Tracked, TokioExecutor>>>),
}

/// Reading the first bytes of a connection, up to the HTTP/2 preface's
/// length or the first byte that differs from it.
struct Sniff {
    io: Option<Watched>,
    service: Option<Tracked>,
    settings: Arc<Settings>,
    head: [u8; H2_PREFACE.len()],
    filled: usize,
    /// A graceful shutdown came before the first request: end now.
    stopping: bool,
}

impl Conn {
    /// Ends the connection once its requests in flight are answered (at
    /// once if none came yet).
    fn graceful_shutdown(self: Pin<&mut Self>) {
        match self.get_mut() {
            Conn::Sniffing(sniff) => sniff.stopping = true,
            Conn::Http1(conn) => conn.as_mut().graceful_shutdown(),
            Conn::Http2(conn) => conn.as_mut().graceful_shutdown(),
        }
    }
}

impl Future for Conn {
    type Output = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                Conn::Sniffing(sniff) => {
                    if sniff.stopping {
                        return Poll::Ready(Ok(()));
                    }
                    let Some(io) = sniff.io.as_mut() else {
                        return Poll::Ready(Ok(()));
                    };
                    let mut http2 = true;
                    while sniff.filled < H2_PREFACE.len() {
                        let mut buf = ReadBuf::new(&mut sniff.head[sniff.filled..]);
                        match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                            Poll::Ready(Ok(())) => {}
                        }
                        let n = buf.filled().len();
                        let from = sniff.filled;
                        sniff.filled += n;
                        if n == 0
                            || sniff.head[from..sniff.filled] != H2_PREFACE[from..sniff.filled]
                        {
                            // HTTP/1 (or an end of file, which HTTP/1 reports).
                            http2 = false;
                            break;
                        }
                    }
                    let (Some(io), Some(service)) = (sniff.io.take(), sniff.service.take()) else {
                        return Poll::Ready(Ok(()));
                    };
                    let io = TokioIo::new(Replay::new(io, sniff.head, sniff.filled));
                    *this = if http2 {
                        Conn::Http2(Box::pin(sniff.settings.http2.serve_connection(io, service)))
                    } else {
                        Conn::Http1(Box::pin(
                            sniff
                                .settings
                                .http1
                                .serve_connection(io, service)
                                .with_upgrades(),
                        ))
                    };
                }
                Conn::Http1(conn) => return conn.as_mut().poll(cx).map_err(Into::into),
                Conn::Http2(conn) => return conn.as_mut().poll(cx).map_err(Into::into),
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

enum Verdict {
    Keep,
    SlowHead,
    Idle,
}

impl Activity {
    /// How long a request head may take: the first one includes the wait
    /// for the connection's first byte.
    fn head_limit(&self, settings: &Settings) -> Option<Duration> {
        settings.header_read_timeout
    }

    /// How long the connection may be idle.
    fn idle_limit(&self, settings: &Settings) -> Option<Duration> {
        if self.upgraded.load(Ordering::Relaxed) {
            None
        } else if self.served.load(Ordering::Relaxed) {
            settings.idle_timeout
        } else {
            // Before its first request, a connection is a request head in
            // waiting.
            match (settings.header_read_timeout, settings.idle_timeout) {
                (Some(h), Some(i)) => Some(h.min(i)),
                (h, i) => h.or(i),
            }
        }
    }

    /// When to look again, unless [`changed`](Self::changed) wakes the
    /// task first: never while a request is in flight.
    fn next_check(&self, settings: &Settings) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let times = self.times();
        match times.head_since {
            Some(since) => self.head_limit(settings).map(|limit| since + limit),
            None => self
                .idle_limit(settings)
                .map(|limit| times.idle_since + limit),
        }
    }

    fn verdict(&self, settings: &Settings) -> Verdict {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Keep;
        }
        let now = Instant::now();
        let times = self.times();
        if let (Some(since), Some(limit)) = (times.head_since, self.head_limit(settings)) {
            if now >= since + limit {
                return Verdict::SlowHead;
            }
        }
        if times.head_since.is_none() {
            if let Some(limit) = self.idle_limit(settings) {
                if now >= times.idle_since + limit {
                    return Verdict::Idle;
                }
            }
        }
        Verdict::Keep
    }
}

/// The app as one connection's hyper service: `ConnectInfo` in every
/// request, each response counted in flight until its body is over.
#[derive(Clone)]
struct Tracked {
    app: Router,
    remote: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<InFlight>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<InFlight>, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.request(request.version());
        let busy = Busy(self.activity.clone());
        let connect = request.method() == Method::CONNECT;
        let mut request = request.map(Body::new);
        request
            .extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(self.remote));
        let mut app = self.app.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut app, cx)).await?;
            let response = app.call(request).await?;
            let status = response.status();
            if status == StatusCode::SWITCHING_PROTOCOLS || (connect && status == StatusCode::OK) {
                busy.0.upgraded.store(true, Ordering::Relaxed);
            }
            Ok(response.map(|body| InFlight { body, _busy: busy }))
        })
    }
}

/// Counts one request in flight until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

/// A response body that keeps its request in flight until hyper is done
/// with it.
struct InFlight {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for InFlight {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Resolves at the first Ctrl-C or SIGTERM (SIGTERM on Unix only; a
/// signal that cannot be listened to never resolves): what
/// [`Serve::shutdown_on_signal`] waits for, for an app that does something
/// of its own first.
///
/// ```no_run
/// # async fn run(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
/// sockjs::serve(listener, app)
///     .with_graceful_shutdown(async {
///         sockjs::shutdown_signal().await;
///         println!("shutting down");
///     })
///     .await
/// # }
/// ```
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    fn watched(stream: DuplexStream) -> Watched {
        Watched::new(Box::new(stream), Arc::new(Activity::new()), None)
    }

    /// A connection served by [`Conn`] over an in-memory stream; the
    /// client's end is returned.
    fn served() -> DuplexStream {
        served_on().0
    }

    /// [`served`], with the task serving it.
    fn served_on() -> (DuplexStream, tokio::task::JoinHandle<()>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.enable_connect_protocol();
        let settings = Arc::new(Settings {
            app: Router::new()
                .route("/", get(|| async { "hi" }))
                .route("/empty", get(|| async { StatusCode::NO_CONTENT })),
            header_read_timeout: None,
            idle_timeout: None,
            acceptor: None,
            http1: http1::Builder::new(),
            http2,
        });
        let io = watched(server);
        let service = Tracked {
            app: settings.app.clone(),
            remote: SocketAddr::from(([127, 0, 0, 1], 1)),
            activity: io.activity().clone(),
        };
        let task = tokio::spawn(async move {
            let _ = Conn::Sniffing(Sniff {
                io: Some(io),
                service: Some(service),
                settings,
                head: [0; H2_PREFACE.len()],
                filled: 0,
                stopping: false,
            })
            .await;
        });
        (client, task)
    }

    async fn read_some(client: &mut DuplexStream, at_least: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0; 1024];
        while got.len() < at_least {
            let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
                .await
                .expect("an answer within 5 s")
                .expect("read");
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[tokio::test]
    async fn http1_sent_a_byte_at_a_time_is_answered() {
        let mut client = served();
        for byte in b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" {
            client.write_all(&[*byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        let answer = read_some(&mut client, 17).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    /// Over HTTP/2 an empty answer ends its stream with its headers (no
    /// empty DATA frame after them).
    #[tokio::test]
    async fn an_empty_h2_answer_ends_with_its_headers() {
        let client = served();
        let (mut h2, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, http_body_util::Empty<Bytes>>(TokioIo::new(client))
            .await
            .unwrap();
        tokio::spawn(conn);
        for _ in 0..20 {
            h2.ready().await.unwrap();
            let request = Request::get("http://example/empty")
                .body(http_body_util::Empty::new())
                .unwrap();
            let response = tokio::time::timeout(Duration::from_secs(5), h2.send_request(request))
                .await
                .expect("an answer within 5 s")
                .unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            assert!(http_body::Body::is_end_stream(response.body()));
        }
    }

    #[tokio::test]
    async fn a_short_http1_request_is_answered() {
        // Shorter than the HTTP/2 preface, and its first bytes are the
        // preface's ("P"): sniffing must not wait for 24 bytes.
        let mut client = served();
        client.write_all(b"PUT / HTTP/1.1\r\n\r\n").await.unwrap();
        let answer = read_some(&mut client, 12).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 "),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }

    // Two workers: a sniffing loop that spins on the end of file must not
    // stop the timeout from firing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_gone_in_the_middle_of_the_preface_ends_the_connection() {
        let (mut client, task) = served_on();
        client.write_all(b"PRI * HT").await.unwrap();
        drop(client);
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("the connection ends at the end of file")
            .unwrap();
    }

    #[tokio::test]
    async fn an_http2_preface_in_pieces_is_served_as_http2() {
        let mut client = served();
        let (first, rest) = H2_PREFACE.split_at(9);
        client.write_all(first).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.write_all(rest).await.unwrap();
        // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
        client
            .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
            .await
            .unwrap();
        let answer = read_some(&mut client, 9).await;
        // The server's first frame is its SETTINGS (type 4 on stream 0).
        assert_eq!(answer[3], 4, "{answer:?}");
        assert_eq!(&answer[5..9], &[0, 0, 0, 0], "{answer:?}");
    }

    #[tokio::test]
    async fn a_shutdown_before_the_first_byte_ends_the_connection() {
        let (_client, server) = tokio::io::duplex(1024);
        let settings = Arc::new(Settings {
            app: Router::new(),
            header_read_timeout: None,
            idle_timeout: None,
            acceptor: None,
            http1: http1::Builder::new(),
            http2: http2::Builder::new(TokioExecutor::new()),
        });
        let io = watched(server);
        let service = Tracked {
            app: settings.app.clone(),
            remote: SocketAddr::from(([127, 0, 0, 1], 1)),
            activity: io.activity().clone(),
        };
        let conn = Conn::Sniffing(Sniff {
            io: Some(io),
            service: Some(service),
            settings,
            head: [0; H2_PREFACE.len()],
            filled: 0,
            stopping: false,
        });
        tokio::pin!(conn);
        let polled = poll_once(conn.as_mut()).await;
        assert!(polled.is_none(), "no byte came: still sniffing");
        conn.as_mut().graceful_shutdown();
        let ended = tokio::time::timeout(Duration::from_secs(1), conn).await;
        assert!(matches!(ended, Ok(Ok(()))));
    }

    #[tokio::test]
    async fn debug_shows_the_settings() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let text = format!(
            "{:?}",
            serve(listener, Router::new())
                .idle_timeout(None)
                .max_connections(7)
                .shutdown_deadline(Duration::from_secs(3))
        );
        assert!(text.starts_with("Serve { listener: "), "{text}");
        assert!(text.contains(&address.to_string()), "{text}");
        assert!(
            text.ends_with(
                "header_read_timeout: Some(10s), idle_timeout: None, max_connections: Some(7), \
                 shutdown: None, shutdown_deadline: 3s, .. }"
            ),
            "{text}"
        );
    }

    // The first poll installs the handlers; from then on a SIGTERM ends
    // the wait instead of this test process.
    #[cfg(unix)]
    #[tokio::test]
    async fn shutdown_signal_waits_for_sigterm() {
        let signal = shutdown_signal();
        tokio::pin!(signal);
        assert!(
            poll_once(signal.as_mut()).await.is_none(),
            "no signal was sent yet"
        );
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(5), signal)
            .await
            .expect("SIGTERM ends the wait");
    }

    fn bounds(head: Duration, idle: Duration) -> Settings {
        Settings {
            app: Router::new(),
            header_read_timeout: Some(head),
            idle_timeout: Some(idle),
            acceptor: None,
            http1: http1::Builder::new(),
            http2: http2::Builder::new(TokioExecutor::new()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn verdicts_come_at_the_bounds_and_never_in_flight() {
        let (head, idle) = (Duration::from_secs(10), Duration::from_secs(60));
        let ms = Duration::from_millis(1);
        let settings = bounds(head, idle);
        let judge = |a: &Activity| match a.verdict(&settings) {
            Verdict::Keep => "keep",
            Verdict::SlowHead => "slow head",
            Verdict::Idle => "idle",
        };
        let a = Activity::new();
        // Before the first request, a connection is a head in waiting: the
        // shorter bound.
        assert_eq!(judge(&a), "keep");
        assert_eq!(a.next_check(&settings), Some(Instant::now() + head));
        tokio::time::advance(head).await;
        assert_eq!(judge(&a), "idle");
        // A head is timed from its first byte.
        a.read();
        assert_eq!(judge(&a), "keep");
        assert_eq!(a.next_check(&settings), Some(Instant::now() + head));
        tokio::time::advance(head - ms).await;
        assert_eq!(judge(&a), "keep");
        tokio::time::advance(ms).await;
        assert_eq!(judge(&a), "slow head");
        // A request in flight is never judged, however long it takes.
        a.request(http::Version::HTTP_11);
        tokio::time::advance(idle * 2).await;
        assert_eq!(judge(&a), "keep");
        assert_eq!(a.next_check(&settings), None);
        // Answered, the connection is idle from then on.
        a.response_done();
        assert_eq!(judge(&a), "keep");
        assert_eq!(a.next_check(&settings), Some(Instant::now() + idle));
        tokio::time::advance(idle - ms).await;
        assert_eq!(judge(&a), "keep");
        tokio::time::advance(ms).await;
        assert_eq!(judge(&a), "idle");
    }

    /// Polls `fut` once.
    async fn poll_once<F: Future + Unpin>(mut fut: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut fut).poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
        })
        .await
    }
}
