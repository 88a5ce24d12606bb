//! PROTOCOL.md section 5: the iframe page.

use super::support::{cached_for_a_year, content_type, header, no_cookie, not_found};
use super::{Ctx, Failure, Outcome};
use crate::client::{Request, Response};

checks!("iframe",
    simple_url: "GET /iframe.html: the exact page, text/html, cacheable for a year, ETag, no Last-Modified, no cookie",
    versioned_urls: "GET /iframe-<version>.html serves the same page with the same ETag",
    queried_urls: "iframe URLs with a query string serve the same page",
    invalid_urls: "malformed iframe names answer 404",
    etag_304: "the ETag is stable and If-None-Match answers 304 without body or Content-Type",
);

/// The page, split around the configurable client URL.
const PAGE_BEFORE_URL: &str = "<!DOCTYPE html>
<html>
<head>
  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />
  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />
  <script src=\"";
const PAGE_AFTER_URL: &str = "\"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe();
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>";

async fn verify(ctx: &Ctx, path: &str) -> Result<Response, Failure> {
    let r = ctx.get(path).await?;
    let what = format!("GET {path}");
    ensure_eq!(r.status(), 200, "{what}: status");
    content_type(&r.head.headers, "text/html;charset=UTF-8", &what)?;
    cached_for_a_year(&r.head.headers, &what)?;
    ensure!(
        !header(&r.head.headers, "etag").is_empty(),
        "{what}: no ETag"
    );
    ensure_eq!(r.header("last-modified"), None, "{what}: Last-Modified");
    no_cookie(&r.head.headers, &what)?;
    let body = r.text();
    let page = body.trim_end();
    let url = page
        .strip_prefix(PAGE_BEFORE_URL)
        .and_then(|rest| rest.strip_suffix(PAGE_AFTER_URL))
        .ok_or_else(|| Failure(format!("{what}: not the iframe page: {body:?}")))?;
    ensure!(
        !url.contains('"') && (url.starts_with('/') || url.starts_with("http")),
        "{what}: the sockjs client URL {url:?} must be absolute (http...) or start with /"
    );
    Ok(r)
}

async fn simple_url(ctx: Ctx) -> Outcome {
    verify(&ctx, "/echo/iframe.html").await?;
    Ok(None)
}

async fn versioned_urls(ctx: Ctx) -> Outcome {
    let base = verify(&ctx, "/echo/iframe.html").await?;
    for suffix in [
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-0.1.2abc-dirty.2144.html",
    ] {
        let path = format!("/echo{suffix}");
        let r = verify(&ctx, &path).await?;
        ensure_eq!(r.header("etag"), base.header("etag"), "GET {path}: ETag");
    }
    Ok(None)
}

async fn queried_urls(ctx: Ctx) -> Outcome {
    for suffix in [
        "/iframe.html?t=1234",
        "/iframe-a.html?t=1234",
        "/iframe-0.1.2.html?t=123414",
        "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
    ] {
        verify(&ctx, &format!("/echo{suffix}")).await?;
    }
    Ok(None)
}

async fn invalid_urls(ctx: Ctx) -> Outcome {
    for suffix in [
        "/iframe.htm",
        "/iframe",
        "/IFRAME.HTML",
        "/IFRAME",
        "/iframe.HTML",
        "/iframe.xml",
        "/iframe-/.html",
    ] {
        let path = format!("/echo{suffix}");
        not_found(&ctx.get(&path).await?, &format!("GET {path}"))?;
    }
    Ok(None)
}

async fn etag_304(ctx: Ctx) -> Outcome {
    let r1 = ctx.get("/echo/iframe.html").await?;
    let r2 = ctx.get("/echo/iframe.html").await?;
    let etag = header(&r1.head.headers, "etag").to_string();
    ensure!(!etag.is_empty(), "GET /echo/iframe.html: no ETag");
    ensure_eq!(
        r2.header("etag"),
        Some(etag.as_str()),
        "ETag of a second GET"
    );
    let r = ctx
        .send_bodiless(Request::new("GET", "/echo/iframe.html").header("If-None-Match", &etag))
        .await?;
    let what = format!("GET /echo/iframe.html with If-None-Match: {etag}");
    ensure_eq!(r.status(), 304, "{what}: status");
    ensure_eq!(r.header("content-type"), None, "{what}: Content-Type");
    ensure_eq!(r.text(), "", "{what}: body");
    Ok(None)
}
