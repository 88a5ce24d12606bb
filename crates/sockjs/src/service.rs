//! The shared state of one SockJS service: its options, its session store
//! and the application's handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tracing::{Instrument, Span};

use crate::config::Config;
use crate::iframe::IframePage;
use crate::session::core::Core;
use crate::session::store::{reap, Store};
use crate::session::{ConnectionInfo, Session};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The application's per-session handler, type-erased.
pub(crate) type BoxHandler = Arc<dyn Fn(Session) -> BoxFuture + Send + Sync>;

/// Wraps an async closure as a [`BoxHandler`].
pub(crate) fn box_handler<H, Fut>(handler: H) -> BoxHandler
where
    H: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |session| Box::pin(handler(session)))
}

/// Everything the transports of one service share, behind one `Arc`.
pub(crate) struct Service {
    pub(crate) config: Config,
    pub(crate) store: Arc<Store>,
    pub(crate) iframe: IframePage,
    handler: BoxHandler,
}

impl Service {
    pub(crate) fn new(config: Config, handler: BoxHandler) -> Self {
        Service {
            iframe: IframePage::new(&config.sockjs_url),
            config,
            store: Arc::default(),
            handler,
        }
    }

    /// Starts a session that is not in the store (WebSocket): runs the
    /// handler in `span` (see [`transport_span`]) and returns the session's core.
    pub(crate) fn start_unlisted(&self, info: ConnectionInfo, span: Span) -> Arc<Core> {
        let (session, core) =
            Session::new(info, self.config.queue_capacity, self.config.queue_full);
        tokio::spawn((self.handler)(session).instrument(span));
        core
    }

    /// The HTTP session `id`, created (handler started, reaper armed) when
    /// there is none. The flag says whether it is new, so the caller sends
    /// `o` first.
    pub(crate) fn session(
        &self,
        id: &str,
        info: impl FnOnce() -> ConnectionInfo,
    ) -> (Arc<Core>, bool) {
        let (core, created) = self.store.get_or_create(id, || {
            let (session, core) =
                Session::new(info(), self.config.queue_capacity, self.config.queue_full);
            (core, session)
        });
        let Some(session) = created else {
            return (core, false);
        };
        tokio::spawn(reap(
            self.store.clone(),
            id.into(),
            core.clone(),
            self.config.disconnect_delay,
        ));
        let span = transport_span(session.transport());
        tokio::spawn((self.handler)(session).instrument(span));
        tracing::debug!(session = %id, open = self.store.len(), "session opened");
        (core, true)
    }
}

/// The span a session's handler runs in: a child of the span current where
/// the opening request is handled (a `TraceLayer` request span, say), so the
/// handler's logs carry the request's context. Taken before the work moves
/// to another task (WebSocket upgrades).
pub(crate) fn transport_span(transport: crate::transport::Transport) -> Span {
    tracing::debug_span!("sockjs_session", transport = %transport)
}
