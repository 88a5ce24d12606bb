//! `htmlfile`: a never-ending HTML page of `<script>` tags, for browsers
//! without streaming XHR. The page calls `parent.<callback>`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{header, HeaderValue};

use super::streaming::{reject, serve, Cors, Framing, Receiving};
use super::{SessionPath, Transport};
use crate::protocol::is_valid_callback;
use crate::rejection::Rejection;
use crate::service::Service;

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

/// The prelude page for `callback`, padded with spaces past 1 KiB so that
/// browsers start rendering it, then `\r\n\r\n`.
pub(crate) fn prelude(callback: &str) -> Bytes {
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

/// `GET /<server>/<session>/htmlfile?c=<callback>`.
pub(crate) async fn stream(
    State(service): State<Arc<Service>>,
    SessionPath(id): SessionPath,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let callback = match callback(parts.uri.query(), None) {
        Ok(callback) => callback,
        Err(rejection) => return reject(&service, &parts, rejection),
    };
    let receiving = Receiving {
        transport: Transport::HtmlFile,
        framing: Framing::HtmlFile,
        streaming: true,
        prelude: Some(prelude(&callback)),
        content_type: "text/html; charset=UTF-8",
        cors: Cors::No,
    };
    let mut response = serve(&service, &id, &mut parts, receiving).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_is_padded_past_1k() {
        let p = prelude("cb");
        let text = std::str::from_utf8(&p).unwrap();
        assert!(text.len() > 1024 + 4);
        assert!(text.contains("var c = parent.cb;\n"));
        assert!(text.ends_with(" \r\n\r\n"));
    }

    #[test]
    fn callbacks() {
        assert_eq!(callback(Some("c=x.y"), None).unwrap(), "x.y");
        assert_eq!(callback(Some("callback=a"), None).unwrap(), "a");
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
