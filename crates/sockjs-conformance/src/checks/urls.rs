//! PROTOCOL.md section 1: the URL space under a service's base.

use super::support::{content_type, method_not_allowed, no_cookie, not_found, tag};
use super::{Ctx, Outcome};
use crate::client::Request;

checks!("urls",
    greeting: "GET BASE and BASE/ answer 200 text/plain `Welcome to SockJS!\\n` with no cookie",
    not_found_paths: "paths outside the protocol's URL space answer 404",
    wrong_method_405: "a known path with a wrong method answers 405 with Allow, no body, no Content-Type",
    session_any_value: "any non-empty dot-free server and session segment starts a session",
    session_invalid_paths: "empty or dotted server/session segments answer 404 to GET and POST",
    server_id_ignored: "the server segment is ignored: /000/S and /999/S are the same session",
);

async fn greeting(ctx: Ctx) -> Outcome {
    for path in ["/echo", "/echo/"] {
        let r = ctx.get(path).await?;
        let what = format!("GET {path}");
        ensure_eq!(r.status(), 200, "{what}: status");
        content_type(&r.head.headers, "text/plain;charset=UTF-8", &what)?;
        ensure_eq!(r.text(), "Welcome to SockJS!\n", "{what}: body");
        no_cookie(&r.head.headers, &what)?;
    }
    Ok(None)
}

async fn not_found_paths(ctx: Ctx) -> Outcome {
    for suffix in [
        "/a",
        "/a.html",
        "//",
        "///",
        "/a/a",
        "/a/a/",
        "/a/",
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

async fn wrong_method_405(ctx: Ctx) -> Outcome {
    let cases = [
        ("POST", "/echo/0/0/websocket", true),
        ("POST", "/echo/0/0/websocket", false),
        ("GET", "/echo/0/0/xhr", false),
        ("GET", "/echo/0/0/xhr_send", false),
        ("GET", "/echo/0/0/xhr_streaming", false),
        ("POST", "/echo/0/0/eventsource", false),
        ("POST", "/echo/0/0/jsonp?c=x", false),
        ("GET", "/echo/0/0/jsonp_send", false),
        ("PUT", "/echo/info", false),
    ];
    for (method, path, upgrade) in cases {
        let mut req = Request::new(method, path);
        if upgrade {
            req = req
                .header("Upgrade", "WebSocket")
                .header("Connection", "Upgrade");
        }
        let what = format!(
            "{method} {path}{}",
            if upgrade { " (Upgrade headers)" } else { "" }
        );
        method_not_allowed(&ctx.send(req).await?, &what)?;
    }
    Ok(None)
}

async fn session_any_value(ctx: Ctx) -> Outcome {
    let r = tag();
    for part in [
        format!("/a/a{r}"),
        format!("/_/_{r}"),
        format!("/1/{r}"),
        format!("/abcdefgh_i-j%20/abcdefg_i-j%20{r}"),
    ] {
        ctx.xhr_expect(&format!("/echo{part}"), "o\n").await?;
    }
    Ok(None)
}

async fn session_invalid_paths(ctx: Ctx) -> Outcome {
    for suffix in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
        let path = format!("/echo{suffix}/xhr");
        not_found(&ctx.get(&path).await?, &format!("GET {path}"))?;
        not_found(&ctx.post(&path, "").await?, &format!("POST {path}"))?;
    }
    Ok(None)
}

async fn server_id_ignored(ctx: Ctx) -> Outcome {
    let sid = uuid::Uuid::new_v4();
    ctx.xhr_expect(&format!("/echo/000/{sid}"), "o\n").await?;
    ctx.xhr_send_ok(&format!("/echo/000/{sid}"), "[\"a\"]")
        .await?;
    ctx.xhr_expect(&format!("/echo/999/{sid}"), "a[\"a\"]\n")
        .await?;
    Ok(None)
}
