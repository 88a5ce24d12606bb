//! The transports: [`websocket`] (SockJS framing over a WebSocket) and
//! [`xhr`] (xhr-streaming and xhr-polling, which share their sending and
//! their frame reading). Each opens a session (up to its `o` frame), then
//! runs as the connection's task between the server and the
//! [`Connection`](crate::Connection)'s [channels](crate::channels)
//! ([`crate::driver`] starts it).

pub(crate) mod websocket;
pub(crate) mod xhr;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use crate::error::Error;
use crate::net::{Connector, Http, Jar};
use crate::url::ServiceUrl;
use sockjs_proto::Transport;

/// Where one session lives and what its requests carry.
pub(crate) struct Target {
    pub(crate) url: ServiceUrl,
    /// `/<server>/<session>`.
    pub(crate) session: String,
    /// The caller's extra headers, on every request.
    pub(crate) headers: HeaderMap,
    pub(crate) connector: Connector,
    pub(crate) http: Http,
    pub(crate) jar: Arc<Jar>,
}

impl Target {
    /// `http://.../<server>/<session>/<name>?query`.
    pub(crate) fn http_url(&self, name: &str) -> String {
        self.url.http(&format!("{}/{name}", self.session))
    }

    /// `ws://.../<server>/<session>/<name>?query`.
    pub(crate) fn ws_url(&self, name: &str) -> String {
        self.url.ws(&format!("{}/{name}", self.session))
    }
}

/// A session opened on one transport, ready to run.
/// Both boxed: they are hundreds of bytes apart (with all features), and
/// each connection opens one.
pub(crate) enum Opened {
    WebSocket(Box<websocket::Ws>),
    Xhr(Box<xhr::Xhr>),
}

impl Opened {
    pub(crate) fn transport(&self) -> Transport {
        match self {
            Opened::WebSocket(_) => Transport::WebSocket,
            Opened::Xhr(xhr) => xhr.transport(),
        }
    }
}

/// Opens a session on `transport`: returns once the server sent `o`.
pub(crate) async fn open(transport: Transport, target: Target) -> Result<Opened, Error> {
    match transport {
        Transport::WebSocket => websocket::open(&target)
            .await
            .map(|ws| Opened::WebSocket(Box::new(ws))),
        Transport::XhrStreaming | Transport::XhrPolling => xhr::open(target, transport)
            .await
            .map(|xhr| Opened::Xhr(Box::new(xhr))),
        other => Err(Error::InvalidOption(format!(
            "transport {other}: this client speaks websocket, xhr-streaming and xhr-polling"
        ))),
    }
}

/// `next`: what the server sends next; or, when it has sent nothing for
/// `silence`, the end of the connection ([`Error::Timeout`]).
pub(crate) async fn heard<T>(
    silence: Option<Duration>,
    next: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(silence) = silence else {
        return next.await;
    };
    tokio::time::timeout(silence, next)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Timeout(format!(
                "nothing from the server for {silence:?} (no message, no heartbeat)"
            )))
        })
}
