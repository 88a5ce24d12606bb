//! PROTOCOL.md section 6: jsonp polling (`jsonp`, `jsonp_send`).

use super::support::{content_type, error_500, not_cached, not_early};
use super::{Ctx, Failure, Outcome};
use crate::client::{json_string, Request, Response};

checks!("jsonp",
    transport: "jsonp: 200 application/javascript, nosniff, not cached, `/**/cb(\"<frame>\");\\r\\n`",
    send_headers: "jsonp_send: 200 text/plain;charset=UTF-8, not cached, body `ok` with Content-Length 2",
    callback_name: "jsonp takes its callback from `c` or `callback`",
    no_callback: "jsonp without a callback answers 500 `\"callback\" parameter required`",
    invalid_callback: "jsonp with a callback outside [a-zA-Z0-9_.-] answers 500 `invalid \"callback\" parameter`",
    callback_too_long: "jsonp with a callback longer than 32 characters answers 500 `invalid \"callback\" parameter`",
    send_content_types: "jsonp_send accepts a form body `d=...` and a raw text/plain array",
    send_empty_array: "jsonp_send of `d=[]` is accepted and delivers nothing",
    close: "jsonp on a closed session keeps answering the close frame",
    frame_quoting: "jsonp quotes the frame as a JavaScript string (quotes, backslashes, `</script>`)",
    send_to_unknown_session: "jsonp_send to an unknown session answers 404",
    heartbeat: "an idle jsonp poll answers `/**/cb(\"h\");\\r\\n` after heartbeat_delay",
);

/// `GET <s>/jsonp?c=x` expecting 200 and exactly `expected`.
pub(super) async fn jsonp_expect(ctx: &Ctx, s: &str, expected: &str) -> Result<Response, Failure> {
    let r = ctx.get(&format!("{s}/jsonp?c=x")).await?;
    ensure_eq!(r.status(), 200, "GET {s}/jsonp?c=x: status");
    ensure_eq!(r.text(), expected, "GET {s}/jsonp?c=x: body");
    Ok(r)
}

/// `POST <s>/jsonp_send` with a form body.
pub(super) async fn jsonp_send_form(ctx: &Ctx, s: &str, body: &str) -> Result<Response, Failure> {
    ctx.send(
        Request::new("POST", format!("{s}/jsonp_send"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

async fn transport(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx.get(&format!("{s}/jsonp?c=%63allback")).await?;
    let what = format!("GET {s}/jsonp?c=%63allback");
    ensure_eq!(r.status(), 200, "{what}: status");
    content_type(
        &r.head.headers,
        "application/javascript;charset=UTF-8",
        &what,
    )?;
    ensure_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: X-Content-Type-Options"
    );
    not_cached(&r.head.headers, &what)?;
    ensure_eq!(r.text(), "/**/callback(\"o\");\r\n", "{what}: body");
    let r = jsonp_send_form(&ctx, &s, "d=%5B%22x%22%5D").await?;
    ensure_eq!(r.status(), 200, "POST {s}/jsonp_send: status");
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send: body");
    let r = ctx.get(&format!("{s}/jsonp?c=%63allback")).await?;
    ensure_eq!(
        r.text(),
        "/**/callback(\"a[\\\"x\\\"]\");\r\n",
        "{what}: second poll"
    );
    Ok(None)
}

async fn send_headers(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    jsonp_expect(&ctx, &s, "/**/x(\"o\");\r\n").await?;
    let r = jsonp_send_form(&ctx, &s, "d=%5B%22x%22%5D").await?;
    let what = format!("POST {s}/jsonp_send");
    ensure_eq!(r.status(), 200, "{what}: status");
    ensure_eq!(r.text(), "ok", "{what}: body");
    ensure_eq!(
        r.header("content-length"),
        Some("2"),
        "{what}: Content-Length"
    );
    content_type(&r.head.headers, "text/plain;charset=UTF-8", &what)?;
    not_cached(&r.head.headers, &what)?;
    Ok(None)
}

async fn callback_name(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx.get(&format!("{s}/jsonp?callback=cb_1.x-y")).await?;
    ensure_eq!(r.status(), 200, "GET {s}/jsonp?callback=cb_1.x-y: status");
    ensure_eq!(
        r.text(),
        "/**/cb_1.x-y(\"o\");\r\n",
        "GET {s}/jsonp?callback=cb_1.x-y: body"
    );
    Ok(None)
}

async fn no_callback(ctx: Ctx) -> Outcome {
    let r = ctx.get("/echo/a/a/jsonp").await?;
    error_500(&r, "\"callback\" parameter required", "GET /echo/a/a/jsonp")?;
    Ok(None)
}

async fn invalid_callback(ctx: Ctx) -> Outcome {
    for cb in ["%20", "*", "abc(", "abc%28"] {
        let path = format!("/echo/a/a/jsonp?c={cb}");
        error_500(
            &ctx.get(&path).await?,
            "invalid \"callback\" parameter",
            &format!("GET {path}"),
        )?;
    }
    Ok(None)
}

async fn callback_too_long(ctx: Ctx) -> Outcome {
    let ok = "a".repeat(32);
    let s = ctx.session("echo");
    let r = ctx.get(&format!("{s}/jsonp?c={ok}")).await?;
    ensure_eq!(
        r.status(),
        200,
        "GET {s}/jsonp with a 32-character callback: status"
    );
    let path = format!("/echo/a/a/jsonp?c={}", "a".repeat(33));
    error_500(
        &ctx.get(&path).await?,
        "invalid \"callback\" parameter",
        "GET jsonp with a 33-character callback",
    )?;
    Ok(None)
}

async fn send_content_types(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    jsonp_expect(&ctx, &s, "/**/x(\"o\");\r\n").await?;
    let r = jsonp_send_form(&ctx, &s, "d=%5B%22abc%22%5D").await?;
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send (form): body");
    let r = ctx
        .send(
            Request::new("POST", format!("{s}/jsonp_send"))
                .header("Content-Type", "text/plain")
                .body("[\"%61bc\"]"),
        )
        .await?;
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send (text/plain): body");
    jsonp_expect(&ctx, &s, "/**/x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n").await?;
    Ok(None)
}

async fn send_empty_array(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    jsonp_expect(&ctx, &s, "/**/x(\"o\");\r\n").await?;
    let r = jsonp_send_form(&ctx, &s, "d=%5B%5D").await?;
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send d=[]: body");
    let r = jsonp_send_form(&ctx, &s, "d=%5B%22x%22%5D").await?;
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send: body");
    jsonp_expect(&ctx, &s, "/**/x(\"a[\\\"x\\\"]\");\r\n").await?;
    Ok(None)
}

async fn close(ctx: Ctx) -> Outcome {
    let s = ctx.session("close");
    jsonp_expect(&ctx, &s, "/**/x(\"o\");\r\n").await?;
    jsonp_expect(&ctx, &s, "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n").await?;
    jsonp_expect(&ctx, &s, "/**/x(\"c[3000,\\\"Go away!\\\"]\");\r\n").await?;
    Ok(None)
}

async fn frame_quoting(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    jsonp_expect(&ctx, &s, "/**/x(\"o\");\r\n").await?;
    let message = "q\"b\\</script>'";
    let frame = format!("a[{}]", json_string(message));
    let r = jsonp_send_form(
        &ctx,
        &s,
        &format!("d={}", form_encode(&format!("[{}]", json_string(message)))),
    )
    .await?;
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send: body");
    jsonp_expect(&ctx, &s, &format!("/**/x({});\r\n", json_string(&frame))).await?;
    Ok(None)
}

/// `application/x-www-form-urlencoded` encoding of a value.
pub(super) fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn send_to_unknown_session(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = jsonp_send_form(&ctx, &s, "d=%5B%22x%22%5D").await?;
    ensure_eq!(
        r.status(),
        404,
        "POST {s}/jsonp_send (no such session): status"
    );
    Ok(None)
}

async fn heartbeat(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    jsonp_expect(&ctx, &s, "/**/x(\"o\");\r\n").await?;
    let opened = tokio::time::Instant::now();
    let patient = ctx.patient(ctx.after(ctx.heartbeat_delay));
    jsonp_expect(&patient, &s, "/**/x(\"h\");\r\n").await?;
    not_early(&ctx, opened, &format!("jsonp poll on {s}"))?;
    Ok(None)
}
