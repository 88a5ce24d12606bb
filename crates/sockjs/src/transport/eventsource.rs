//! `eventsource`: Server-Sent Events, one `data:` event per frame.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

use super::streaming::{serve, Cors, Framing, Receiving};
use super::{SessionPath, Transport};
use crate::service::Service;

/// Appends `frame` with `%`, `\r`, `\n` and `\0` percent-escaped, so that
/// no frame can break the event framing.
pub(crate) fn escape_into(out: &mut String, frame: &str) {
    let mut start = 0;
    for (i, b) in frame.bytes().enumerate() {
        let escaped = match b {
            b'%' => "%25",
            b'\r' => "%0D",
            b'\n' => "%0A",
            b'\0' => "%00",
            _ => continue,
        };
        out.push_str(&frame[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&frame[start..]);
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn percent_escapes() {
        let mut out = String::new();
        super::escape_into(&mut out, "a%b\r\n\0c");
        assert_eq!(out, "a%25b%0D%0A%00c");
    }
}
