//! PROTOCOL.md section 4: `/info`.

use serde_json::Value;

use super::support::{content_type, cors, no_cookie, not_cached, preflight};
use super::{Ctx, Failure, Outcome};
use crate::client::Request;

checks!("info",
    basic: "GET /info: 200 application/json, not cached, CORS, no cookie, the four fields",
    without_origin: "GET /info without Origin answers `Access-Control-Allow-Origin: *` and no credentials",
    null_origin: "GET /info with `Origin: null` echoes `null`",
    entropy_differs: "entropy is a u32 and differs between two calls",
    options: "OPTIONS /info is a CORS preflight allowing OPTIONS, GET, cacheable for a year",
    options_null_origin: "OPTIONS /info with `Origin: null` echoes `null`",
    websocket_disabled: "/info of a service without websockets says `\"websocket\": false`",
);

async fn info(ctx: &Ctx, service: &str, origin: Option<&str>) -> Result<Value, Failure> {
    let mut req = Request::new("GET", format!("/{service}/info"));
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    let r = ctx.send(req).await?;
    let what = format!("GET /{service}/info");
    ensure_eq!(r.status(), 200, "{what}: status");
    content_type(&r.head.headers, "application/json;charset=UTF-8", &what)?;
    not_cached(&r.head.headers, &what)?;
    no_cookie(&r.head.headers, &what)?;
    cors(&r.head.headers, origin, &what)?;
    serde_json::from_slice(&r.body)
        .map_err(|e| Failure(format!("{what}: body is not JSON ({e}): {:?}", r.text())))
}

fn entropy(v: &Value) -> Result<u64, Failure> {
    v.get("entropy")
        .and_then(Value::as_u64)
        .filter(|e| *e <= u64::from(u32::MAX))
        .ok_or_else(|| Failure(format!("entropy is not a u32: {:?}", v.get("entropy"))))
}

async fn basic(ctx: Ctx) -> Outcome {
    let v = info(&ctx, "echo", Some("test")).await?;
    ensure_eq!(
        v.get("websocket"),
        Some(&Value::Bool(true)),
        "/echo/info websocket"
    );
    ensure_eq!(
        v.get("cookie_needed"),
        Some(&Value::Bool(false)),
        "/echo/info cookie_needed"
    );
    ensure_eq!(
        v.get("origins"),
        Some(&serde_json::json!(["*:*"])),
        "/echo/info origins"
    );
    entropy(&v)?;
    Ok(None)
}

async fn without_origin(ctx: Ctx) -> Outcome {
    info(&ctx, "echo", None).await?;
    Ok(None)
}

async fn null_origin(ctx: Ctx) -> Outcome {
    info(&ctx, "echo", Some("null")).await?;
    Ok(None)
}

async fn entropy_differs(ctx: Ctx) -> Outcome {
    let a = entropy(&info(&ctx, "echo", None).await?)?;
    let b = entropy(&info(&ctx, "echo", None).await?)?;
    ensure!(a != b, "two calls to /info gave the same entropy {a}");
    Ok(None)
}

async fn options(ctx: Ctx) -> Outcome {
    preflight(&ctx, "/echo/info", "OPTIONS, GET").await?;
    Ok(None)
}

async fn options_null_origin(ctx: Ctx) -> Outcome {
    let r = ctx
        .send(
            Request::new("OPTIONS", "/echo/info")
                .header("Origin", "null")
                .header("Access-Control-Request-Method", "POST"),
        )
        .await?;
    ensure!(
        r.status() == 204 || r.status() == 200,
        "OPTIONS /echo/info: status: expected 204 or 200, got {}",
        r.status()
    );
    ensure_eq!(r.text(), "", "OPTIONS /echo/info: body");
    ensure_eq!(
        r.header("access-control-allow-origin"),
        Some("null"),
        "OPTIONS /echo/info (Origin null): Access-Control-Allow-Origin"
    );
    Ok(None)
}

async fn websocket_disabled(ctx: Ctx) -> Outcome {
    let v = info(&ctx, "disabled_websocket_echo", None).await?;
    ensure_eq!(
        v.get("websocket"),
        Some(&Value::Bool(false)),
        "/disabled_websocket_echo/info websocket"
    );
    Ok(None)
}
