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
    address_binding: "a session of an address-bound service (/bound_echo, trusting X-Forwarded-For from loopback) is 404 to requests from another client address, and goes on for its own",
    forwarded_for_untrusted: "X-Forwarded-For from a peer that is not a trusted proxy (/untrusted_proxy_echo) is ignored: a different header is still the session's own client",
    handshake_binding: "with the handshake hook re-run (/rebind_echo), a request of an open session without the credential is 404, not the hook's 401",
    jsessionid_attributes: "a service configured with JSESSIONID attributes (/rebind_echo) writes them: `path=/; Secure; HttpOnly; SameSite=None`",
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
    let messages = match crate::client::decode_frame(&decoded) {
        Ok(crate::client::Frame::Messages(m)) => m,
        other => {
            return Err(Failure(format!(
                "{what}: not an `a` frame: {decoded:?} ({other:?})"
            )))
        }
    };
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

/// `method` `path` with `body`, from the client at `client` as a trusted
/// proxy on loopback says (`X-Forwarded-For`).
fn from_client(method: &str, path: &str, client: &str, body: &str) -> Request {
    let mut req = Request::new(method, path).header("X-Forwarded-For", client);
    if method == "POST" {
        req = req.body(body);
    }
    if path.ends_with("/jsonp_send") {
        req = req.header("Content-Type", "application/x-www-form-urlencoded");
    }
    req
}

/// Every later request of session `s` (sends, receiving again), as
/// (method, path, body).
fn later_requests(s: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("POST", format!("{s}/xhr_send"), "[\"stolen\"]"),
        ("POST", format!("{s}/jsonp_send"), "d=%5B%22stolen%22%5D"),
        ("POST", format!("{s}/xhr"), ""),
        ("POST", format!("{s}/xhr_streaming"), ""),
        ("GET", format!("{s}/eventsource"), ""),
        ("GET", format!("{s}/htmlfile?c=cb"), ""),
        ("GET", format!("{s}/jsonp?c=cb"), ""),
    ]
}

async fn address_binding(ctx: Ctx) -> Outcome {
    let s = ctx.session("bound_echo");
    let (owner, stranger) = ("203.0.113.1", "203.0.113.2");
    let r = ctx
        .send(from_client("POST", &format!("{s}/xhr"), owner, ""))
        .await?;
    ensure_eq!(r.status(), 200, "POST {s}/xhr from {owner}: status");
    ensure_eq!(r.text(), "o\n", "POST {s}/xhr from {owner}: body");
    for (method, path, body) in later_requests(&s) {
        let r = ctx.send(from_client(method, &path, stranger, body)).await?;
        let what = format!("{method} {path} from {stranger}");
        ensure_eq!(r.status(), 404, "{what}: status");
        ensure_eq!(r.text(), "Session not found.", "{what}: body");
    }
    let path = format!("{s}/xhr_send");
    let r = ctx
        .send_bodiless(from_client("POST", &path, owner, "[\"mine\"]"))
        .await?;
    ensure_eq!(r.status(), 204, "POST {path} from {owner}: status");
    let r = ctx
        .send(from_client("POST", &format!("{s}/xhr"), owner, ""))
        .await?;
    ensure_eq!(r.text(), "a[\"mine\"]\n", "POST {s}/xhr from {owner}: body");
    Ok(None)
}

async fn forwarded_for_untrusted(ctx: Ctx) -> Outcome {
    let s = ctx.session("untrusted_proxy_echo");
    let r = ctx
        .send(from_client("POST", &format!("{s}/xhr"), "203.0.113.1", ""))
        .await?;
    ensure_eq!(r.text(), "o\n", "POST {s}/xhr: body");
    // The peer is the same (loopback, not trusted here): the header it
    // writes does not make it another client.
    let path = format!("{s}/xhr_send");
    let r = ctx
        .send_bodiless(from_client("POST", &path, "203.0.113.2", "[\"x\"]"))
        .await?;
    ensure_eq!(
        r.status(),
        204,
        "POST {path} from the same peer with another X-Forwarded-For: status"
    );
    ctx.xhr_expect(&s, "a[\"x\"]\n").await?;
    Ok(None)
}

async fn handshake_binding(ctx: Ctx) -> Outcome {
    let s = ctx.session("rebind_echo");
    let token = "?token=alice-token";
    let r = ctx.post(&format!("{s}/xhr{token}"), "").await?;
    ensure_eq!(r.status(), 200, "POST {s}/xhr{token}: status");
    ensure_eq!(r.text(), "o\n", "POST {s}/xhr{token}: body");
    let r = ctx.post(&format!("{s}/xhr{token}"), "").await?;
    ensure_eq!(
        r.text(),
        "a[\"hello alice\"]\n",
        "POST {s}/xhr{token}: body"
    );
    for (method, path, body) in later_requests(&s) {
        let mut req = Request::new(method, &path);
        if method == "POST" {
            req = req.body(body);
        }
        if path.ends_with("/jsonp_send") {
            req = req.header("Content-Type", "application/x-www-form-urlencoded");
        }
        let r = ctx.send(req).await?;
        let what = format!("{method} {path} without the token");
        ensure_eq!(r.status(), 404, "{what}: status");
        ensure_eq!(r.text(), "Session not found.", "{what}: body");
    }
    let path = format!("{s}/xhr_send{token}");
    let r = ctx
        .send_bodiless(Request::new("POST", &path).body("[\"mine\"]"))
        .await?;
    ensure_eq!(r.status(), 204, "POST {path}: status");
    let r = ctx.post(&format!("{s}/xhr{token}"), "").await?;
    ensure_eq!(r.text(), "a[\"mine\"]\n", "POST {s}/xhr{token}: body");
    Ok(None)
}

async fn jsessionid_attributes(ctx: Ctx) -> Outcome {
    let s = ctx.session("rebind_echo");
    let path = format!("{s}/xhr?token=alice-token");
    let r = ctx.post(&path, "").await?;
    ensure_eq!(r.status(), 200, "POST {path}: status");
    ensure_eq!(
        r.header("set-cookie"),
        Some("JSESSIONID=dummy; path=/; Secure; HttpOnly; SameSite=None"),
        "POST {path}: Set-Cookie"
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
