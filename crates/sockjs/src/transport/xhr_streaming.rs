//! `xhr_streaming`: one long POST response; 2 KiB of `h` first so that
//! browsers start handing the response to the page.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

use super::streaming::{serve, Cors, Framing, Receiving};
use super::{SessionPath, Transport};
use crate::service::Service;

/// 2048 `h` and a newline.
fn prelude() -> Bytes {
    static PRELUDE: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    PRELUDE
        .get_or_init(|| {
            let mut p = vec![b'h'; 2048];
            p.push(b'\n');
            Bytes::from(p)
        })
        .clone()
}

/// `POST /<server>/<session>/xhr_streaming`.
pub(crate) async fn stream(
    State(service): State<Arc<Service>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let receiving = Receiving {
        transport: Transport::XhrStreaming,
        framing: Framing::Xhr,
        streaming: true,
        prelude: Some(prelude()),
        content_type: "application/javascript; charset=UTF-8",
        cors: Cors::Xhr,
    };
    serve(&service, &id, &mut parts, receiving).await
}
