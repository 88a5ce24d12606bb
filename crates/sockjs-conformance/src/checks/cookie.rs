//! PROTOCOL.md section 3: the JSESSIONID cookie (the `cookie_needed_echo`
//! service has it on, `echo` has it off).

use super::jsonp::jsonp_send_form;
use super::support::{header, no_cookie};
use super::{Ctx, Failure, Outcome};
use crate::client::{Headers, Request};

checks!("cookie",
    info_cookie_needed: "/info says `cookie_needed: true` and sets no cookie; greeting and iframe set none",
    xhr: "xhr sets `JSESSIONID=dummy; path=/`, or echoes the request's JSESSIONID",
    xhr_send: "xhr_send sets the JSESSIONID cookie",
    xhr_streaming: "xhr_streaming sets the JSESSIONID cookie",
    eventsource: "eventsource sets the JSESSIONID cookie",
    htmlfile: "htmlfile sets the JSESSIONID cookie",
    jsonp: "jsonp and jsonp_send set the JSESSIONID cookie",
    off_by_default: "a service without the option sets no cookie on its transports",
);

const SERVICE: &str = "cookie_needed_echo";

fn verify_cookie(h: &Headers, value: &str, what: &str) -> Result<(), Failure> {
    let cookie = header(h, "set-cookie");
    let mut parts = cookie.split(';').map(str::trim);
    ensure_eq!(
        parts.next(),
        Some(format!("JSESSIONID={value}").as_str()),
        "{what}: Set-Cookie {cookie:?}"
    );
    ensure_eq!(
        parts.next().map(str::to_ascii_lowercase),
        Some("path=/".to_string()),
        "{what}: Set-Cookie {cookie:?}"
    );
    Ok(())
}

async fn info_cookie_needed(ctx: Ctx) -> Outcome {
    let r = ctx.get(&format!("/{SERVICE}/info")).await?;
    ensure_eq!(r.status(), 200, "GET /{SERVICE}/info: status");
    no_cookie(&r.head.headers, &format!("GET /{SERVICE}/info"))?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .map_err(|e| Failure(format!("GET /{SERVICE}/info: not JSON: {e}")))?;
    ensure_eq!(
        v.get("cookie_needed"),
        Some(&serde_json::Value::Bool(true)),
        "GET /{SERVICE}/info: cookie_needed"
    );
    for path in [format!("/{SERVICE}"), format!("/{SERVICE}/iframe.html")] {
        let r = ctx.get(&path).await?;
        ensure_eq!(r.status(), 200, "GET {path}: status");
        no_cookie(&r.head.headers, &format!("GET {path}"))?;
    }
    Ok(None)
}

async fn xhr(ctx: Ctx) -> Outcome {
    let s = ctx.session(SERVICE);
    let r = ctx.post(&format!("{s}/xhr"), "").await?;
    ensure_eq!(r.text(), "o\n", "POST {s}/xhr: body");
    verify_cookie(&r.head.headers, "dummy", &format!("POST {s}/xhr"))?;
    let s = ctx.session(SERVICE);
    let r = ctx
        .send(Request::new("POST", format!("{s}/xhr")).header("Cookie", "JSESSIONID=abcdef"))
        .await?;
    ensure_eq!(r.text(), "o\n", "POST {s}/xhr: body");
    verify_cookie(
        &r.head.headers,
        "abcdef",
        &format!("POST {s}/xhr with JSESSIONID=abcdef"),
    )?;
    let s = ctx.session(SERVICE);
    let r = ctx
        .send(Request::new("POST", format!("{s}/xhr")).header("Cookie", "a=1; JSESSIONID=xyz; b=2"))
        .await?;
    verify_cookie(
        &r.head.headers,
        "xyz",
        &format!("POST {s}/xhr with several cookies"),
    )?;
    Ok(None)
}

async fn xhr_send(ctx: Ctx) -> Outcome {
    let s = ctx.session(SERVICE);
    ctx.xhr_expect(&s, "o\n").await?;
    let r = ctx.post(&format!("{s}/xhr_send"), "[\"a\"]").await?;
    ensure_eq!(r.status(), 204, "POST {s}/xhr_send: status");
    verify_cookie(&r.head.headers, "dummy", &format!("POST {s}/xhr_send"))?;
    Ok(None)
}

async fn xhr_streaming(ctx: Ctx) -> Outcome {
    let s = ctx.session(SERVICE);
    let r = ctx.xhr_streaming(&s).await?;
    verify_cookie(r.headers(), "dummy", &format!("POST {s}/xhr_streaming"))?;
    Ok(None)
}

async fn eventsource(ctx: Ctx) -> Outcome {
    let s = ctx.session(SERVICE);
    let r = ctx
        .open(Request::new("GET", format!("{s}/eventsource")))
        .await?;
    ensure_eq!(r.status(), 200, "GET {s}/eventsource: status");
    verify_cookie(r.headers(), "dummy", &format!("GET {s}/eventsource"))?;
    Ok(None)
}

async fn htmlfile(ctx: Ctx) -> Outcome {
    let s = ctx.session(SERVICE);
    let r = ctx
        .open(Request::new("GET", format!("{s}/htmlfile?c=%63allback")))
        .await?;
    ensure_eq!(r.status(), 200, "GET {s}/htmlfile: status");
    verify_cookie(r.headers(), "dummy", &format!("GET {s}/htmlfile"))?;
    Ok(None)
}

async fn jsonp(ctx: Ctx) -> Outcome {
    let s = ctx.session(SERVICE);
    let r = ctx.get(&format!("{s}/jsonp?c=%63allback")).await?;
    ensure_eq!(r.status(), 200, "GET {s}/jsonp: status");
    ensure_eq!(r.text(), "/**/callback(\"o\");\r\n", "GET {s}/jsonp: body");
    verify_cookie(&r.head.headers, "dummy", &format!("GET {s}/jsonp"))?;
    let r = jsonp_send_form(&ctx, &s, "d=%5B%22x%22%5D").await?;
    ensure_eq!(r.status(), 200, "POST {s}/jsonp_send: status");
    ensure_eq!(r.text(), "ok", "POST {s}/jsonp_send: body");
    verify_cookie(&r.head.headers, "dummy", &format!("POST {s}/jsonp_send"))?;
    Ok(None)
}

async fn off_by_default(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx
        .send(Request::new("POST", format!("{s}/xhr")).header("Cookie", "JSESSIONID=abcdef"))
        .await?;
    no_cookie(&r.head.headers, &format!("POST {s}/xhr on /echo"))?;
    let s = ctx.session("echo");
    let r = ctx.get(&format!("{s}/jsonp?c=x")).await?;
    no_cookie(&r.head.headers, &format!("GET {s}/jsonp on /echo"))?;
    Ok(None)
}
