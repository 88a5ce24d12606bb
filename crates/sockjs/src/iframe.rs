//! The iframe page itself: its markup, ETag and framing policy, built
//! once per service.

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use md5::{Digest, Md5};

use crate::headers;

/// The page and its ETag, computed once per service.
pub(crate) struct IframePage {
    body: String,
    etag: HeaderValue,
    /// `Content-Security-Policy` under a restricted origin policy: only
    /// the allowed origins may frame the page.
    frame_ancestors: Option<HeaderValue>,
}

impl IframePage {
    pub(crate) fn new(sockjs_url: &str, frame_ancestors: Option<String>) -> Self {
        // The URL is the operator's, but a stray quote or bracket in it must
        // still not change the page's markup.
        let sockjs_url = html_attribute(sockjs_url);
        let body = format!(
            r#"<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script src="{sockjs_url}"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe();
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>"#
        );
        let digest = Md5::digest(body.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header");
        IframePage {
            body,
            etag,
            frame_ancestors: frame_ancestors.and_then(|csp| HeaderValue::from_str(&csp).ok()),
        }
    }

    /// The page as the response to a `GET` or `HEAD` carrying
    /// `if_none_match`: `304` when it names the page's ETag.
    pub(crate) fn respond(&self, if_none_match: Option<&HeaderValue>) -> Response {
        let mut response = if if_none_match.is_some_and(|tag| *tag == self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=UTF-8"),
                )],
                self.body.clone(),
            )
                .into_response()
        };
        let out = response.headers_mut();
        headers::cache_for_a_year(out);
        out.insert(header::ETAG, self.etag.clone());
        out.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Some(csp) = &self.frame_ancestors {
            out.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
        }
        response
    }
}

/// `text` for a double-quoted HTML attribute: `&`, `"`, `<`, `>` as
/// character references, everything else as it is.
fn html_attribute(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '"', '<', '>']) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockjs_url_cannot_break_out_of_its_attribute() {
        let page = IframePage::new(r#"x.js"></script><script>alert(1)</script>"#, None);
        assert!(page.body.contains(
            r#"<script src="x.js&quot;&gt;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"></script>"#
        ));
        let plain = IframePage::new("https://cdn.example/sockjs.min.js?v=1", None);
        assert!(plain
            .body
            .contains(r#"<script src="https://cdn.example/sockjs.min.js?v=1"></script>"#));
    }
}
