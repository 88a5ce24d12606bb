//! Hardening beyond the protocol (SECURITY.md): what a hostile peer or page
//! can send must not turn into script, markup or trust. sockjs-node 0.3.24
//! fails these by design, so `--against-node` skips the group.

use super::streaming::{next_script, open_htmlfile};
use super::{Ctx, Failure, Outcome};
use crate::client::{json_string, Request};

checks!("security",
    htmlfile_no_markup: "htmlfile frames write `<`, `>`, `&` as `\\u003c`, `\\u003e`, `\\u0026`: a message cannot end the page's script",
    html_nosniff: "htmlfile responses and the iframe page carry `X-Content-Type-Options: nosniff`",
    origin_not_from_host: "under an origin policy, an Origin equal to the request's Host (DNS rebinding) or of another scheme is refused with 403",
    slow_head_cut_off: "a client that sends part of a request head and then nothing (slowloris) is disconnected within 15 s",
);

async fn htmlfile_no_markup(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_htmlfile(&ctx, &s, "?c=callback", "callback").await?;
    let what = format!("GET {s}/htmlfile");
    ensure_eq!(
        next_script(&mut r).await?,
        "<script>\np(\"o\");\n</script>\r\n",
        "{what}: first frame"
    );
    let attack = "</script><script>alert(document.domain)</script><!--&amp;";
    ctx.xhr_send_ok(&s, &format!("[{}]", json_string(attack)))
        .await?;
    let frame = next_script(&mut r).await?;
    ensure_eq!(
        frame,
        "<script>\np(\"a[\\\"\\u003c/script\\u003e\\u003cscript\\u003ealert(document.domain)\
         \\u003c/script\\u003e\\u003c!--\\u0026amp;\\\"]\");\n</script>\r\n",
        "{what}: frame of a message with markup"
    );
    // Decoded as sockjs-client does (a JavaScript string, then JSON), the
    // message is the one that was sent.
    let inner = frame
        .strip_prefix("<script>\np(")
        .and_then(|f| f.strip_suffix(");\n</script>\r\n"))
        .ok_or_else(|| Failure(format!("{what}: not a script frame: {frame:?}")))?;
    let decoded: String =
        serde_json::from_str(inner).map_err(|e| Failure(format!("{what}: frame string: {e}")))?;
    let messages: Vec<String> = decoded
        .strip_prefix('a')
        .and_then(|m| serde_json::from_str(m).ok())
        .ok_or_else(|| Failure(format!("{what}: not an `a` frame: {decoded:?}")))?;
    ensure_eq!(messages, vec![attack.to_owned()], "{what}: decoded message");
    Ok(None)
}

async fn html_nosniff(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = open_htmlfile(&ctx, &s, "?c=callback", "callback").await?;
    ensure_eq!(
        r.headers().get("x-content-type-options"),
        Some("nosniff"),
        "GET {s}/htmlfile: X-Content-Type-Options"
    );
    drop(r);
    let r = ctx.get("/echo/iframe.html").await?;
    ensure_eq!(r.status(), 200, "GET /echo/iframe.html: status");
    ensure_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "GET /echo/iframe.html: X-Content-Type-Options"
    );
    Ok(None)
}

async fn origin_not_from_host(ctx: Ctx) -> Outcome {
    let own = format!("http://{}", ctx.target.host);
    let xhr = |origin: &str, host: Option<&str>| {
        let mut req = Request::new("POST", format!("{}/xhr", ctx.session("restricted_echo")))
            .header("Origin", origin);
        if let Some(host) = host {
            req = req.header("Host", host);
        }
        req
    };
    // The control: the server's own origin, which the test server lists.
    let r = ctx.send(xhr(&own, None)).await?;
    ensure_eq!(r.status(), 200, "xhr from {own} (listed): status");
    ensure_eq!(r.text(), "o\n", "xhr from {own} (listed): body");
    let ftp = format!("ftp://{}", ctx.target.host);
    for (origin, host) in [
        ("http://evil.example", Some("evil.example")),
        ("http://evil.example:8080", Some("evil.example:8080")),
        (ftp.as_str(), None),
    ] {
        let what = format!(
            "xhr with Origin {origin} and Host {}",
            host.unwrap_or(&ctx.target.host)
        );
        let r = ctx.send(xhr(origin, host)).await?;
        ensure_eq!(r.status(), 403, "{what}: status");
        ensure_eq!(r.text(), "Origin not allowed.", "{what}: body");
    }
    let path = format!("{}/websocket", ctx.session("restricted_echo"));
    let r = ctx
        .send(
            Request::new("GET", &path)
                .header("Host", "evil.example")
                .header("Upgrade", "websocket")
                .header("Connection", "Upgrade")
                .header("Sec-WebSocket-Version", "13")
                .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
                .header("Origin", "http://evil.example"),
        )
        .await?;
    ensure_eq!(
        r.status(),
        403,
        "websocket upgrade of {path} with Origin http://evil.example and Host evil.example: status"
    );
    Ok(None)
}

/// How long [`slow_head_cut_off`] waits: a server's header read timeout
/// (10 s by default in `sockjs::serve`) and some slack.
const SLOW_HEAD_BOUND: std::time::Duration = std::time::Duration::from_secs(15);

async fn slow_head_cut_off(ctx: Ctx) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::time::timeout(
        ctx.target.timeout,
        tokio::net::TcpStream::connect(ctx.target.addr),
    )
    .await
    .map_err(|_| Failure("connect: timed out".into()))?
    .map_err(|e| Failure(format!("connect: {e}")))?;
    let path = ctx.target.path("/echo/info");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: slowloris\r\n",
        ctx.target.host
    );
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| Failure(format!("write: {e}")))?;
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = SLOW_HEAD_BOUND.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => {
                return Err(Failure(format!(
                    "GET {path} with an unfinished head: the connection is still open after {} s",
                    SLOW_HEAD_BOUND.as_secs()
                )))
            }
            // The end (FIN or reset); an answer such as 408 may come first.
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
    }
    Ok(Some(format!(
        "cut off after {} ms",
        started.elapsed().as_millis()
    )))
}
