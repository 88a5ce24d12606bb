//! PROTOCOL.md section 6, HTTP/1.0 and HTTP/1.1: how responses are delimited,
//! keep-alive, and streaming without chunking for HTTP/1.0 clients. Written
//! against raw bytes, since a high-level client would hide all of it.

use super::support::header;
use super::{Ctx, Failure, Outcome};
use crate::client::{Framing, Request};

checks!("http",
    http10_greeting: "HTTP/1.0 GET: no chunking; Content-Length (keep-alive allowed) or close-delimited",
    http10_streaming: "HTTP/1.0 xhr_streaming: no Transfer-Encoding, no Content-Length, ends by closing the connection",
    http11_greeting_keepalive: "HTTP/1.1 GET: Content-Length or chunked, and the connection stays open for a second request",
    http11_streaming_chunked: "HTTP/1.1 xhr_streaming: chunked, no Content-Length, ends with the last chunk",
    http11_polling_keepalive: "HTTP/1.1 xhr, xhr_send, xhr on one keep-alive connection",
    http10_eventsource_htmlfile: "HTTP/1.0 eventsource and htmlfile: no Transfer-Encoding, no Content-Length, end by closing",
);

const GREETING: &str = "Welcome to SockJS!\n";

async fn http10_greeting(ctx: Ctx) -> Outcome {
    let req = Request::new("GET", ctx.target.path("/echo"))
        .http10()
        .header("Connection", "Keep-Alive");
    let s = ctx.target.connect().await?.request(&req).await?;
    let what = "GET /echo HTTP/1.0";
    ensure_eq!(s.status(), 200, "{what}: status");
    ensure!(
        s.head.version == "1.0" || s.head.version == "1.1",
        "{what}: response version HTTP/{}",
        s.head.version
    );
    ensure_eq!(
        s.headers().get("transfer-encoding"),
        None,
        "{what}: Transfer-Encoding"
    );
    let connection = header(s.headers(), "connection").to_ascii_lowercase();
    let framing = s.framing();
    let (r, mut conn) = s.complete().await?;
    ensure_eq!(r.text(), GREETING, "{what}: body");
    match framing {
        Framing::Close => {
            ensure_eq!(
                connection.as_str(),
                "close",
                "{what}: Connection of a close-delimited answer"
            );
            Ok(Some("close-delimited".into()))
        }
        Framing::Length(_) if connection.is_empty() || connection == "close" => {
            conn.expect_closed().await?;
            Ok(Some("Content-Length, then close".into()))
        }
        Framing::Length(_) => {
            ensure_eq!(connection.as_str(), "keep-alive", "{what}: Connection");
            let s = conn.request(&req).await?;
            ensure_eq!(
                s.status(),
                200,
                "{what}: second request on the kept-alive connection"
            );
            Ok(Some("Content-Length, kept alive".into()))
        }
        other => Err(Failure(format!(
            "{what}: unexpected body framing {other:?}"
        ))),
    }
}

async fn streaming_close(ctx: &Ctx, http10: bool) -> Result<crate::client::Streaming, Failure> {
    let path = format!("{}/xhr_streaming", ctx.session("close"));
    let mut req = Request::new("POST", ctx.target.path(&path)).header("Connection", "Keep-Alive");
    if http10 {
        req = req.http10();
    }
    let what = format!("POST {path} HTTP/{}", req.version);
    let mut s = ctx.target.connect().await?.request(&req).await?;
    ensure_eq!(s.status(), 200, "{what}: status");
    ensure_eq!(
        s.headers().get("content-length"),
        None,
        "{what}: Content-Length"
    );
    if http10 {
        ensure_eq!(
            s.headers().get("transfer-encoding"),
            None,
            "{what}: Transfer-Encoding"
        );
    } else {
        ensure_eq!(
            header(s.headers(), "transfer-encoding").to_ascii_lowercase(),
            "chunked",
            "{what}: Transfer-Encoding"
        );
    }
    let prelude = s.read_exact(2049).await?;
    ensure!(
        prelude[0] == b'h' && prelude[2048] == b'\n',
        "{what}: prelude {:?}",
        String::from_utf8_lossy(&prelude)
    );
    ensure_eq!(s.read_text_until("\n").await?, "o\n", "{what}: first frame");
    ensure_eq!(
        s.read_text_until("\n").await?,
        "c[3000,\"Go away!\"]\n",
        "{what}: second frame"
    );
    s.expect_end()
        .await
        .map_err(|e| Failure(format!("{what}: {e}")))?;
    Ok(s)
}

async fn http10_streaming(ctx: Ctx) -> Outcome {
    let s = streaming_close(&ctx, true).await?;
    ensure_eq!(
        s.framing(),
        Framing::Close,
        "HTTP/1.0 xhr_streaming: body framing"
    );
    Ok(None)
}

async fn http11_greeting_keepalive(ctx: Ctx) -> Outcome {
    let req = Request::new("GET", ctx.target.path("/echo")).header("Connection", "Keep-Alive");
    let s = ctx.target.connect().await?.request(&req).await?;
    let what = "GET /echo HTTP/1.1";
    ensure_eq!(s.head.version.as_str(), "1.1", "{what}: response version");
    let connection = header(s.headers(), "connection").to_ascii_lowercase();
    ensure!(
        connection.is_empty() || connection == "keep-alive",
        "{what}: Connection {connection:?}: keep-alive is the default in HTTP/1.1"
    );
    let framing = s.framing();
    ensure!(
        matches!(framing, Framing::Length(19) | Framing::Chunked),
        "{what}: body framing {framing:?}: expected Content-Length: 19 or chunked"
    );
    let (r, conn) = s.complete().await?;
    ensure_eq!(r.text(), GREETING, "{what}: body");
    let (r, _) = conn.request(&req).await?.complete().await?;
    ensure_eq!(
        r.status(),
        200,
        "{what}: second request on the same connection: status"
    );
    ensure_eq!(
        r.text(),
        GREETING,
        "{what}: second request on the same connection: body"
    );
    Ok(None)
}

async fn http11_streaming_chunked(ctx: Ctx) -> Outcome {
    let s = streaming_close(&ctx, false).await?;
    ensure_eq!(
        s.framing(),
        Framing::Chunked,
        "HTTP/1.1 xhr_streaming: body framing"
    );
    Ok(Some(format!("chunk sizes {:?}", s.chunks)))
}

async fn http11_polling_keepalive(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut conn = ctx.target.connect().await?;
    let steps = [
        ("/xhr", "", 200, "o\n"),
        ("/xhr_send", "[\"a\"]", 204, ""),
        ("/xhr", "", 200, "a[\"a\"]\n"),
    ];
    for (i, (suffix, body, status, expected)) in steps.into_iter().enumerate() {
        let path = format!("{s}{suffix}");
        let req = Request::new("POST", ctx.target.path(&path)).body(body);
        let (r, next) = conn.request(&req).await?.complete().await?;
        let what = format!("request {} on one connection, POST {path}", i + 1);
        ensure_eq!(r.status(), status, "{what}: status");
        ensure_eq!(r.text(), expected, "{what}: body");
        ensure!(
            !header(&r.head.headers, "connection").eq_ignore_ascii_case("close"),
            "{what}: the server closes the connection (Connection: close)"
        );
        conn = next;
    }
    Ok(None)
}

async fn http10_eventsource_htmlfile(ctx: Ctx) -> Outcome {
    for (transport, last) in [
        ("eventsource", "data: c[3000,\"Go away!\"]\r\n\r\n"),
        (
            "htmlfile?c=x",
            "<script>\np(\"c[3000,\\\"Go away!\\\"]\");\n</script>\r\n",
        ),
    ] {
        let path = format!("{}/{transport}", ctx.session("close"));
        let req = Request::new("GET", ctx.target.path(&path)).http10();
        let what = format!("GET {path} HTTP/1.0");
        let mut s = ctx.target.connect().await?.request(&req).await?;
        ensure_eq!(s.status(), 200, "{what}: status");
        ensure_eq!(
            s.headers().get("transfer-encoding"),
            None,
            "{what}: Transfer-Encoding"
        );
        ensure_eq!(
            s.headers().get("content-length"),
            None,
            "{what}: Content-Length"
        );
        ensure_eq!(s.framing(), Framing::Close, "{what}: body framing");
        let body = String::from_utf8_lossy(&s.read_to_end().await?).into_owned();
        ensure!(
            body.ends_with(last),
            "{what}: the body does not end with the close frame {last:?}: {body:?}"
        );
    }
    Ok(None)
}
