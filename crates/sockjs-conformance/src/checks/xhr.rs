//! PROTOCOL.md sections 3 and 6: xhr polling (`xhr`, `xhr_send`).

use super::support::{content_type, cors, not_cached, preflight};
use super::{Ctx, Outcome};
use crate::client::Request;

checks!("xhr",
    transport: "xhr: 200 application/javascript, CORS, not cached, `o\\n` then `a[...]\\n`",
    send_headers: "xhr_send: 204, empty body, text/plain;charset=UTF-8, CORS, not cached",
    cors_without_origin: "xhr and xhr_send without Origin answer `*` and no credentials",
    options: "OPTIONS on xhr and xhr_send is a preflight allowing OPTIONS, POST (no session needed)",
    request_headers_echoed: "a non-empty Access-Control-Request-Headers is echoed, an empty or absent one is not",
    send_content_types: "xhr_send accepts any request Content-Type",
    send_empty_array: "xhr_send of `[]` is accepted and delivers nothing",
);

async fn transport(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx
        .send(Request::new("POST", format!("{s}/xhr")).header("Origin", "test"))
        .await?;
    let what = format!("POST {s}/xhr");
    ensure_eq!(r.status(), 200, "{what}: status");
    ensure_eq!(r.text(), "o\n", "{what}: body");
    content_type(
        &r.head.headers,
        "application/javascript;charset=UTF-8",
        &what,
    )?;
    cors(&r.head.headers, Some("test"), &what)?;
    not_cached(&r.head.headers, &what)?;
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    ctx.xhr_expect(&s, "a[\"x\"]\n").await?;
    Ok(None)
}

async fn send_headers(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    let r = ctx
        .send_bodiless(
            Request::new("POST", format!("{s}/xhr_send"))
                .header("Origin", "test")
                .body("[\"x\"]"),
        )
        .await?;
    let what = format!("POST {s}/xhr_send");
    ensure_eq!(r.status(), 204, "{what}: status");
    content_type(&r.head.headers, "text/plain;charset=UTF-8", &what)?;
    cors(&r.head.headers, Some("test"), &what)?;
    not_cached(&r.head.headers, &what)?;
    ctx.xhr_expect(&s, "a[\"x\"]\n").await?;
    Ok(None)
}

async fn cors_without_origin(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx.post(&format!("{s}/xhr"), "").await?;
    cors(&r.head.headers, None, &format!("POST {s}/xhr"))?;
    let r = ctx.post(&format!("{s}/xhr_send"), "[\"x\"]").await?;
    cors(&r.head.headers, None, &format!("POST {s}/xhr_send"))?;
    Ok(None)
}

async fn options(ctx: Ctx) -> Outcome {
    for suffix in ["/xhr", "/xhr_send"] {
        preflight(&ctx, &format!("/echo/abc/abc{suffix}"), "OPTIONS, POST").await?;
    }
    Ok(None)
}

async fn request_headers_echoed(ctx: Ctx) -> Outcome {
    for (sent, expected) in [
        (Some("a, b, c"), Some("a, b, c")),
        (Some(""), None),
        (None, None),
    ] {
        let s = ctx.session("echo");
        let mut req = Request::new("OPTIONS", format!("{s}/xhr"))
            .header("Origin", "test")
            .header("Access-Control-Request-Method", "POST");
        if let Some(h) = sent {
            req = req.header("Access-Control-Request-Headers", h);
        }
        let r = ctx.send(req).await?;
        let what = format!("OPTIONS {s}/xhr with Access-Control-Request-Headers {sent:?}");
        ensure!(
            r.status() == 204 || r.status() == 200,
            "{what}: status: expected 204 or 200, got {}",
            r.status()
        );
        cors(&r.head.headers, Some("test"), &what)?;
        ensure_eq!(
            r.header("access-control-allow-headers")
                .filter(|v| !v.is_empty()),
            expected,
            "{what}: Access-Control-Allow-Headers"
        );
    }
    Ok(None)
}

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "T",
    "application/json",
    "application/xml",
    "",
    "application/json; charset=utf-8",
    "text/xml; charset=utf-8",
    "text/xml",
];

async fn send_content_types(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    for ct in CONTENT_TYPES {
        let r = ctx
            .send(
                Request::new("POST", format!("{s}/xhr_send"))
                    .header("Content-Type", ct)
                    .body("[\"a\"]"),
            )
            .await?;
        let what = format!("POST {s}/xhr_send with Content-Type {ct:?}");
        ensure_eq!(r.status(), 204, "{what}: status");
        ensure_eq!(r.text(), "", "{what}: body");
    }
    let all = vec!["\"a\""; CONTENT_TYPES.len()].join(",");
    ctx.xhr_expect(&s, &format!("a[{all}]\n")).await?;
    Ok(None)
}

async fn send_empty_array(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    ctx.xhr_send_ok(&s, "[]").await?;
    ctx.xhr_send_ok(&s, "[\"a\"]").await?;
    ctx.xhr_expect(&s, "a[\"a\"]\n").await?;
    Ok(None)
}
