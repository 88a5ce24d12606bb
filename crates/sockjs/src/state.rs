//! The shared state of one SockJS service: its options, its session store
//! and the application's handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use tracing::{Instrument, Span};

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::Extensions;

use crate::config::Config;
use crate::handshake::BoxHandshake;
use crate::iframe::IframePage;
use crate::lease::Lease;
use crate::limits::{Limits, Slot};
use crate::metrics::SessionMetrics;
use crate::protocol::Transport;
use crate::proxy::client_address;
use crate::rejection::Rejection;
use crate::rooms::Rooms;
use crate::session::budget::Bounds;
use crate::session::core::Core;
use crate::session::store::{reap, Store};
use crate::session::{ConnectionInfo, Session};
use crate::shutdown::Shutdown;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The application's per-session handler, type-erased.
pub(crate) type BoxHandler = Arc<dyn Fn(Session) -> BoxFuture + Send + Sync>;

/// Wraps an async closure as a [`BoxHandler`].
pub(crate) fn box_handler<H, Fut>(handler: H) -> BoxHandler
where
    H: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |session| {
        Box::pin(Lined {
            future: handler(session),
        })
    })
}

pin_project_lite::pin_project! {
    /// The application's future, on cache lines of its own: boxed as it is,
    /// a future of (say) 150 bytes lands wherever the allocator's 160-byte
    /// class puts it, across four lines as often as three; aligned, it
    /// takes three. Every message the handler answers reads and writes
    /// its state, out of the cache at thousands of sessions.
    #[repr(align(64))]
    struct Lined<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Lined<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// Everything the transports of one service share, behind one `Arc`.
pub(crate) struct ServiceState {
    pub(crate) config: Config,
    pub(crate) store: Arc<Store>,
    pub(crate) iframe: IframePage,
    pub(crate) shutdown: Shutdown,
    pub(crate) rooms: Rooms,
    metrics_service: metrics::SharedString,
    limits: Arc<Limits>,
    /// Every session's queue bounds, and the service's inbound pool.
    bounds: Bounds,
    handshake: Option<BoxHandshake>,
    handler: BoxHandler,
    /// Whether a request that needed the client's address found none
    /// (logged once).
    unaddressed: AtomicBool,
    /// Where the cluster's sessions live, when several nodes serve the
    /// service without sticky routing.
    #[cfg(feature = "cluster")]
    pub(crate) forwarder: Option<Arc<crate::cluster::Forwarder>>,
}

/// A request admitted to open a session: its place in the session counts,
/// and what the handshake hook attached.
pub(crate) struct Admitted {
    slot: Slot,
    extensions: Option<Extensions>,
    /// The client's address, when a setting needs it.
    address: Option<IpAddr>,
}

impl ServiceState {
    pub(crate) fn new(
        config: Config,
        handler: BoxHandler,
        shutdown: Shutdown,
        rooms: Rooms,
        handshake: Option<BoxHandshake>,
    ) -> Self {
        ServiceState {
            iframe: IframePage::new(&config.sockjs_url, config.origins.frame_ancestors()),
            metrics_service: metrics::SharedString::from_shared(config.metrics_service.clone()),
            limits: Limits::new(config.max_sessions, config.max_sessions_per_address),
            bounds: Bounds::new(&config),
            config,
            store: Arc::default(),
            shutdown,
            rooms,
            handshake,
            handler,
            unaddressed: AtomicBool::new(false),
            #[cfg(feature = "cluster")]
            forwarder: None,
        }
    }

    /// Runs the handler on `session` in its own task, within `span`.
    fn spawn_handler(&self, session: Session, span: Span) -> Started {
        let (handler, started) = self.handler(session, span);
        tokio::spawn(handler);
        Started(started.0)
    }

    /// The handler on `session`, within `span`, for the caller to poll (and
    /// spawn what is left of it when it stops polling).
    fn handler(&self, session: Session, span: Span) -> (Handler, Started) {
        let (signal, started) = oneshot::channel();
        let handler = FirstPoll {
            inner: (self.handler)(session),
            signal: Some(signal),
        };
        (handler.instrument(span), Started(started))
    }

    /// A new session of this service, in its every-session room.
    fn new_session(&self, info: ConnectionInfo) -> (Session, Arc<Core>) {
        let config = &self.config;
        let metrics = SessionMetrics::opened(&self.metrics_service, info.transport);
        let (session, core) = Session::new(
            info,
            self.bounds.clone(),
            config.queue_full,
            self.rooms.clone(),
            metrics,
        );
        core.enter_rooms();
        (session, core)
    }

    /// Decides whether the request may open a session: not while shutting
    /// down, not past the session limits, and only if the handshake hook
    /// accepts it. The answer to send otherwise.
    pub(crate) async fn admit(&self, parts: &mut Parts) -> Result<Admitted, Response> {
        self.admit_as(parts, false).await
    }

    /// [`admit`](Self::admit), for a session to be bound to its client's
    /// address when `bound`.
    async fn admit_as(&self, parts: &mut Parts, bound: bool) -> Result<Admitted, Response> {
        if self.shutdown.is_shutting_down() {
            return Err(Rejection::ShuttingDown.into_response());
        }
        let needs_address = bound || self.config.max_sessions_per_address.is_some();
        let address = needs_address
            .then(|| client_address(parts, self.config.trusted_proxies.as_ref()))
            .flatten();
        if needs_address && address.is_none() {
            if !self.unaddressed.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "a request came without the client's address, which max_sessions_per_address \
                     and bind_to_address need: serve the app with \
                     `into_make_service_with_connect_info::<SocketAddr>()`; \
                     refusing every new session with 500 until then"
                );
            }
            return Err(Rejection::ClientAddressUnknown.into_response());
        }
        let slot = self
            .limits
            .admit(address)
            .map_err(IntoResponse::into_response)?;
        let extensions = match &self.handshake {
            Some(hook) => Some(hook.run(parts).await.inspect_err(|refusal| {
                crate::metrics::rejected(refusal.status(), "handshake");
            })?),
            None => None,
        };
        Ok(Admitted {
            slot,
            extensions,
            address: address.filter(|_| bound),
        })
    }

    /// Whether a later request of the open session `core` comes from its
    /// client, as far as [`Config::bind_to_address`] and
    /// [`Config::bind_to_handshake`] tell (always, with both off). A
    /// stranger is answered as if the session did not exist.
    pub(crate) async fn recognizes(&self, core: &Core, parts: &mut Parts) -> bool {
        if self.config.bind_to_address {
            let here = client_address(parts, self.config.trusted_proxies.as_ref());
            if here.is_none() || here != core.owner() {
                tracing::debug!(owner = ?core.owner(), request = ?here, "session bound to another address");
                return false;
            }
        }
        if self.config.bind_to_handshake {
            if let Some(hook) = &self.handshake {
                if hook.run(parts).await.is_err() {
                    tracing::debug!("handshake hook refused a request of an open session");
                    return false;
                }
            }
        }
        true
    }

    /// Starts a session that is not in the store (WebSocket): returns the
    /// session's core, its handler in `span` (see [`transport_span`]) for
    /// the connection's task to poll, when the handler has started, and the
    /// session's lease (keep it until the connection is closed).
    pub(crate) fn start_unlisted(
        &self,
        mut info: ConnectionInfo,
        admitted: Admitted,
        span: Span,
    ) -> (Arc<Core>, Handler, Started, Lease) {
        if let Some(extensions) = admitted.extensions {
            info.extensions.extend(extensions);
        }
        let (session, core) = self.new_session(info);
        // WebSocket sessions are never looked up: one connection each, so
        // no directory entry.
        let lease = Lease::new(self.shutdown.register(&core), admitted.slot, &core);
        let (handler, started) = self.handler(session, span);
        (core, handler, started, lease)
    }

    /// The HTTP session `id`, created (after [`admit`](Self::admit);
    /// handler started, reaper armed) when there is none. For a new session
    /// it also says when the handler has started, so the caller sends `o`
    /// after that.
    pub(crate) async fn session(
        &self,
        id: &str,
        parts: &mut Parts,
        transport: Transport,
    ) -> Result<(Arc<Core>, Option<Started>), Response> {
        if let Some(core) = self.store.get(id) {
            return self.recognized(core, parts).await;
        }
        let admitted = self.admit_as(parts, self.config.bind_to_address).await?;
        let mut info = ConnectionInfo::of(parts, transport);
        let span = transport_span(&info, id);
        let (core, created) = self.store.get_or_create(id, || {
            if let Some(extensions) = admitted.extensions {
                info.extensions.extend(extensions);
            }
            let (session, core) = self.new_session(info);
            if let Some(address) = admitted.address {
                core.bind(address);
            }
            (core, session)
        });
        let Some(session) = created else {
            // Opened by a request that raced this one.
            return self.recognized(core, parts).await;
        };
        let lease = Lease::new(self.shutdown.register(&core), admitted.slot, &core);
        #[cfg(feature = "cluster")]
        let lease = match &self.forwarder {
            Some(forwarder) => lease.claiming(
                forwarder.directory.clone(),
                crate::cluster::directory_key(&parts.extensions, id),
            ),
            None => lease,
        };
        let reaper = reap(
            self.store.clone(),
            id.into(),
            core.clone(),
            self.config.disconnect_delay,
            lease,
        );
        tokio::spawn(reaper.instrument(span.clone()));
        span.in_scope(|| tracing::debug!(open = self.store.len(), "session opened"));
        let started = self.spawn_handler(session, span);
        Ok((core, Some(started)))
    }
}

impl ServiceState {
    /// `core`, if this request is its client's; else the answer a session
    /// that does not exist gets.
    async fn recognized(
        &self,
        core: Arc<Core>,
        parts: &mut Parts,
    ) -> Result<(Arc<Core>, Option<Started>), Response> {
        if self.recognizes(&core, parts).await {
            Ok((core, None))
        } else {
            Err(Rejection::SessionNotFound.into_response())
        }
    }
}

/// Resolves once a new session's handler has run up to its first `.await`.
///
/// The open frame `o` is sent only then: what the handler does before it
/// first waits (register the session in a room, say) is done before the
/// client can know the session is open, as with sockjs-node, whose
/// `connection` event runs before the client can answer.
pub(crate) struct Started(oneshot::Receiver<()>);

impl Started {
    /// Waits for the handler's first poll (or its end, or its panic).
    pub(crate) async fn wait(self) {
        let _ = self.0.await;
    }
}

/// A session's handler, not spawned: the connection's task of a WebSocket
/// session polls it (`endpoints::websocket::inline`).
pub(crate) type Handler = tracing::instrument::Instrumented<FirstPoll>;

/// The application's handler future, signalling after its first poll.
pub(crate) struct FirstPoll {
    inner: BoxFuture,
    signal: Option<oneshot::Sender<()>>,
}

impl Future for FirstPoll {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let result = this.inner.as_mut().poll(cx);
        if let Some(signal) = this.signal.take() {
            let _ = signal.send(());
        }
        result
    }
}

/// The span every event of a session is under (its handler, its WebSocket
/// loop, its reaper): the transport, the SockJS session id (in logs only;
/// the application never sees it) and the client's address. A child of the
/// span current where the opening request is handled (a `TraceLayer`
/// request span, say), so it carries the request's context. Taken before
/// the work moves to another task (WebSocket upgrades).
pub(crate) fn transport_span(info: &ConnectionInfo, session: &str) -> Span {
    tracing::debug_span!(
        "sockjs_session",
        transport = %info.transport,
        session,
        remote = ?info.remote_addr,
    )
}
