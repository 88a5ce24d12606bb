//! `eventsource`: Server-Sent Events, one `data:` event per frame.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

use super::streaming::{serve, Cors, Framing, Receiving};
use super::{SessionPath, Transport};
use crate::service::Service;

/// `GET /<server>/<session>/eventsource`.
pub(crate) async fn stream(
    State(service): State<Arc<Service>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let receiving = Receiving {
        transport: Transport::EventSource,
        framing: Framing::EventSource,
        streaming: true,
        prelude: Some(Bytes::from_static(b"\r\n")),
        content_type: "text/event-stream",
        cors: Cors::EventSource,
    };
    serve(&service, &id, &mut parts, receiving).await
}
