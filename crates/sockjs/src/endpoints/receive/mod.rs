//! The five receiving transports, one handler driven by a table.
//!
//! `xhr`, `xhr_streaming`, `eventsource`, `htmlfile` and `jsonp` differ
//! only in data: the method, whether the response streams, how a frame is
//! wrapped, what is written first, the `Content-Type` and the CORS answer.
//! [`RECEIVING`] holds that data; [`receive`] serves every one of them
//! through the shared response [`body`].

mod body;

use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue, Method};

pub(crate) use body::reject;
use body::{serve, Cors, Framing, Receiving};

use crate::protocol::{is_valid_callback, Transport};
use crate::rejection::Rejection;
use crate::state::ServiceState;

/// Longest callback name `jsonp` accepts (`htmlfile`'s is not limited,
/// as in sockjs-node).
pub(crate) const MAX_CALLBACK: usize = 32;

/// How a receiving transport wraps its frames; the callback ones also
/// need `?c=<callback>`.
#[derive(Clone, Copy)]
pub(crate) enum Wrap {
    /// `<frame>\n`.
    Xhr,
    /// Server-Sent Events, one `data:` event per frame.
    EventSource,
    /// A never-ending HTML page of `<script>` tags calling
    /// `parent.<callback>`.
    HtmlFile,
    /// `/**/<callback>("<frame>");`, one frame per request.
    Jsonp,
}

/// One receiving transport, as data.
pub(crate) struct Spec {
    /// The transport, as sessions and metrics name it.
    pub(crate) transport: Transport,
    /// The last segment of its URL, `/<server>/<session>/<segment>`.
    pub(crate) segment: &'static str,
    /// `POST` for the xhr family (which also answers the CORS preflight),
    /// `GET` for the others.
    pub(crate) method: Method,
    /// Streams until `response_limit`, or ends after one frame.
    streaming: bool,
    wrap: Wrap,
    content_type: &'static str,
    cors: Cors,
}

/// The receiving transports.
pub(crate) const RECEIVING: [Spec; 5] = [
    Spec {
        transport: Transport::XhrPolling,
        segment: "xhr",
        method: Method::POST,
        streaming: false,
        wrap: Wrap::Xhr,
        content_type: "application/javascript; charset=UTF-8",
        cors: Cors::Xhr,
    },
    Spec {
        transport: Transport::XhrStreaming,
        segment: "xhr_streaming",
        method: Method::POST,
        streaming: true,
        wrap: Wrap::Xhr,
        content_type: "application/javascript; charset=UTF-8",
        cors: Cors::Xhr,
    },
    Spec {
        transport: Transport::EventSource,
        segment: "eventsource",
        method: Method::GET,
        streaming: true,
        wrap: Wrap::EventSource,
        content_type: "text/event-stream",
        cors: Cors::EventSource,
    },
    Spec {
        transport: Transport::HtmlFile,
        segment: "htmlfile",
        method: Method::GET,
        streaming: true,
        wrap: Wrap::HtmlFile,
        content_type: "text/html; charset=UTF-8",
        cors: Cors::No,
    },
    Spec {
        transport: Transport::JsonpPolling,
        segment: "jsonp",
        method: Method::GET,
        streaming: false,
        wrap: Wrap::Jsonp,
        content_type: "application/javascript; charset=UTF-8",
        cors: Cors::No,
    },
];

impl Spec {
    /// The framing and the prelude of a response to a request with this
    /// query string; a callback transport without a valid callback is
    /// refused.
    fn framing(&self, query: Option<&str>) -> Result<(Framing, Option<Bytes>), Rejection> {
        Ok(match self.wrap {
            Wrap::Xhr => (Framing::Xhr, self.streaming.then(xhr_streaming_prelude)),
            Wrap::EventSource => (Framing::EventSource, Some(Bytes::from_static(b"\r\n"))),
            Wrap::HtmlFile => {
                let callback = callback(query, None)?;
                (Framing::HtmlFile, Some(htmlfile_prelude(&callback)))
            }
            Wrap::Jsonp => {
                let callback = callback(query, Some(MAX_CALLBACK))?;
                (Framing::Jsonp(callback.into()), None)
            }
        })
    }

    /// The transports whose body a browser could take for a page or a
    /// script of another type are answered `X-Content-Type-Options:
    /// nosniff`.
    fn nosniff(&self) -> bool {
        matches!(self.wrap, Wrap::HtmlFile | Wrap::Jsonp)
    }
}

/// A receiving request on transport `spec` for session `id`.
pub(crate) async fn receive(
    spec: &'static Spec,
    service: &ServiceState,
    id: &str,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let (framing, prelude) = match spec.framing(parts.uri.query()) {
        Ok(framing) => framing,
        Err(rejection) => return reject(service, &parts, rejection),
    };
    let receiving = Receiving {
        transport: spec.transport,
        framing,
        streaming: spec.streaming,
        prelude,
        content_type: spec.content_type,
        cors: spec.cors,
    };
    let mut response = serve(service, id, &mut parts, receiving).await;
    if spec.nosniff() {
        response.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}

/// `xhr_streaming`'s prelude: 2048 `h` and a newline, so that browsers
/// start handing the response to the page.
fn xhr_streaming_prelude() -> Bytes {
    static PRELUDE: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    PRELUDE
        .get_or_init(|| {
            let mut p = vec![b'h'; 2048];
            p.push(b'\n');
            Bytes::from(p)
        })
        .clone()
}

const PAGE_HEAD: &str = r#"<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent."#;

const PAGE_TAIL: &str = r#";
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>"#;

/// `htmlfile`'s prelude: the page for `callback`, padded with spaces past
/// 1 KiB so that browsers start rendering it, then `\r\n\r\n`.
fn htmlfile_prelude(callback: &str) -> Bytes {
    let mut page = String::with_capacity(1100 + callback.len());
    page.push_str(PAGE_HEAD);
    page.push_str(callback);
    page.push_str(PAGE_TAIL);
    let padded_len = 1024 + 13;
    while page.len() < padded_len {
        page.push(' ');
    }
    page.push_str("\r\n\r\n");
    Bytes::from(page)
}

/// The callback of `?c=` (or `?callback=`), validated.
pub(crate) fn callback(query: Option<&str>, max_len: Option<usize>) -> Result<String, Rejection> {
    let query = query.unwrap_or("");
    let mut found = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "c" => {
                found = Some(value);
                break;
            }
            "callback" if found.is_none() => found = Some(value),
            _ => {}
        }
    }
    let name = found.ok_or(Rejection::CallbackRequired)?;
    if is_valid_callback(&name, max_len) {
        Ok(name.into_owned())
    } else {
        Err(Rejection::InvalidCallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_each_receiving_transport_once() {
        for transport in Transport::ALL {
            let entries = RECEIVING
                .iter()
                .filter(|s| s.transport == transport)
                .count();
            let receiving = !transport.is_websocket();
            assert_eq!(entries, usize::from(receiving), "{transport}");
        }
    }

    #[test]
    fn only_the_script_and_page_transports_say_nosniff() {
        let nosniff: Vec<&str> = RECEIVING
            .iter()
            .filter(|s| s.nosniff())
            .map(|s| s.segment)
            .collect();
        assert_eq!(nosniff, ["htmlfile", "jsonp"]);
    }

    #[test]
    fn htmlfile_prelude_is_padded_past_1k() {
        let p = htmlfile_prelude("cb");
        let text = std::str::from_utf8(&p).unwrap();
        // Padded to exactly 1024 + 13 bytes, then the blank line.
        assert_eq!(text.len(), 1024 + 13 + 4);
        assert!(text.contains("var c = parent.cb;\n"));
        assert!(text.ends_with(" \r\n\r\n"));
    }

    #[test]
    fn xhr_streaming_prelude_is_2k_of_h() {
        let p = xhr_streaming_prelude();
        assert_eq!(p.len(), 2049);
        assert!(p[..2048].iter().all(|&b| b == b'h'));
        assert_eq!(p[2048], b'\n');
    }

    #[test]
    fn callbacks() {
        assert_eq!(callback(Some("c=x.y"), None).unwrap(), "x.y");
        assert_eq!(callback(Some("callback=a"), None).unwrap(), "a");
        // The first `callback` counts, and `c` wins over it.
        assert_eq!(callback(Some("callback=a&callback=b"), None).unwrap(), "a");
        assert_eq!(callback(Some("callback=a&c=b"), None).unwrap(), "b");
        assert_eq!(
            callback(Some("d=1"), None),
            Err(Rejection::CallbackRequired)
        );
        assert_eq!(callback(None, None), Err(Rejection::CallbackRequired));
        assert_eq!(
            callback(Some("c=%20"), None),
            Err(Rejection::InvalidCallback)
        );
        assert_eq!(callback(Some("c="), None), Err(Rejection::InvalidCallback));
        assert_eq!(
            callback(Some("c=%ff"), None),
            Err(Rejection::InvalidCallback)
        );
        let long = format!("c={}", "a".repeat(33));
        assert_eq!(
            callback(Some(&long), Some(32)),
            Err(Rejection::InvalidCallback)
        );
    }
}
