//! PROTOCOL.md section 6: the streaming transports (`xhr_streaming`,
//! `eventsource`, `htmlfile`) and their response_limit.

use super::support::{
    content_type, cors, error_500, next_frame, next_xhr_frame, not_cached, not_early, preflight,
};
use super::{Ctx, Failure, Outcome};
use crate::client::{json_string, Request, Streaming};

checks!("streaming",
    xhr_streaming_transport: "xhr_streaming: 200 application/javascript, CORS, not cached, 2048 `h` + `\\n` prelude, frames + `\\n`",
    xhr_streaming_cors_without_origin: "xhr_streaming without Origin answers `*` and no credentials",
    xhr_streaming_options: "OPTIONS on xhr_streaming is a preflight allowing OPTIONS, POST",
    xhr_streaming_response_limit: "xhr_streaming stays open until response_limit (4096) bytes of frames and ends with the frame that crosses it; the next request continues the session with what was queued",
    eventsource_transport: "eventsource: 200 text/event-stream, not cached, `\\r\\n` prelude, `data: <frame>\\r\\n\\r\\n`",
    eventsource_cors: "eventsource answers CORS headers (Origin echoed with credentials, else `*`)",
    eventsource_escaping: "eventsource frames carry JSON escapes for NUL, LF and CR",
    eventsource_percent: "eventsource percent-escapes `%` as `%25` inside frames",
    eventsource_response_limit: "eventsource stays open until response_limit (4096) bytes of frames and ends with the frame that crosses it",
    htmlfile_transport: "htmlfile: 200 text/html, not cached, the prelude page padded past 1024 bytes, `<script>\\np(<frame>);\\n</script>\\r\\n`",
    htmlfile_callback_name: "htmlfile takes its callback from `c` or `callback`",
    htmlfile_no_callback: "htmlfile without a callback answers 500 `\"callback\" parameter required`",
    htmlfile_invalid_callback: "htmlfile with a callback outside [a-zA-Z0-9_.-] answers 500 `invalid \"callback\" parameter`",
    htmlfile_response_limit: "htmlfile stays open until response_limit (4096) bytes of frames and ends with the frame that crosses it",
    htmlfile_frame_quoting: "htmlfile quotes the frame as a JavaScript string (quotes, backslashes)",
    xhr_streaming_heartbeat: "an idle xhr_streaming gets `h\\n` within heartbeat_delay",
    eventsource_heartbeat: "an idle eventsource gets `data: h\\r\\n\\r\\n` within heartbeat_delay",
    htmlfile_heartbeat: "an idle htmlfile gets `<script>\\np(\"h\");\\n</script>\\r\\n` within heartbeat_delay",
    eventsource_second_receiver: "a second eventsource gets `data: c[2010,\"Another connection still open\"]` and ends",
);

async fn xhr_streaming_transport(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let req = Request::new("POST", format!("{s}/xhr_streaming")).header("Origin", "test");
    let mut r = ctx.xhr_streaming_with(req).await?;
    let what = format!("POST {s}/xhr_streaming");
    content_type(r.headers(), "application/javascript;charset=UTF-8", &what)?;
    cors(r.headers(), Some("test"), &what)?;
    not_cached(r.headers(), &what)?;
    ensure_eq!(
        r.headers().get("content-length"),
        None,
        "{what}: Content-Length"
    );
    ensure_eq!(next_xhr_frame(&mut r).await?, "o\n", "{what}: first frame");
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    ensure_eq!(
        next_xhr_frame(&mut r).await?,
        "a[\"x\"]\n",
        "{what}: frame after xhr_send"
    );
    Ok(None)
}

async fn xhr_streaming_cors_without_origin(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx.xhr_streaming(&s).await?;
    cors(r.headers(), None, &format!("POST {s}/xhr_streaming"))?;
    Ok(None)
}

async fn xhr_streaming_options(ctx: Ctx) -> Outcome {
    preflight(&ctx, "/echo/abc/abc/xhr_streaming", "OPTIONS, POST").await?;
    Ok(None)
}

async fn xhr_streaming_response_limit(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = ctx.xhr_streaming(&s).await?;
    let what = format!("xhr_streaming on {s}");
    response_limit_bounds(&ctx, &s, &mut r, &XHR_STREAMING, &what).await?;
    ctx.xhr_send_ok(&s, "[\"queued\"]").await?;
    let mut next = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        next_xhr_frame(&mut next).await?,
        "a[\"queued\"]\n",
        "the next xhr_streaming on {s} (same session, queued message)"
    );
    Ok(None)
}

async fn open_eventsource(ctx: &Ctx, s: &str, origin: Option<&str>) -> Result<Streaming, Failure> {
    let mut req = Request::new("GET", format!("{s}/eventsource"));
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    let mut r = ctx.open(req).await?;
    let what = format!("GET {s}/eventsource");
    ensure_eq!(r.status(), 200, "{what}: status");
    ensure_eq!(
        String::from_utf8_lossy(&r.read_exact(2).await?).into_owned(),
        "\r\n",
        "{what}: prelude"
    );
    Ok(r)
}

async fn next_event(r: &mut Streaming) -> Result<String, Failure> {
    next_frame(r, "\r\n\r\n", "data: h\r\n\r\n").await
}

async fn eventsource_transport(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_eventsource(&ctx, &s, None).await?;
    let what = format!("GET {s}/eventsource");
    content_type(r.headers(), "text/event-stream", &what)?;
    not_cached(r.headers(), &what)?;
    ensure_eq!(
        r.headers().get("content-length"),
        None,
        "{what}: Content-Length"
    );
    ensure_eq!(
        next_event(&mut r).await?,
        "data: o\r\n\r\n",
        "{what}: first event"
    );
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    ensure_eq!(
        next_event(&mut r).await?,
        "data: a[\"x\"]\r\n\r\n",
        "{what}: event after xhr_send"
    );
    Ok(None)
}

async fn eventsource_cors(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = open_eventsource(&ctx, &s, Some("test")).await?;
    cors(
        r.headers(),
        Some("test"),
        &format!("GET {s}/eventsource (Origin test)"),
    )?;
    let s = ctx.session("echo");
    let r = open_eventsource(&ctx, &s, None).await?;
    cors(r.headers(), None, &format!("GET {s}/eventsource"))?;
    Ok(None)
}

async fn eventsource_escaping(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_eventsource(&ctx, &s, None).await?;
    ensure_eq!(
        next_event(&mut r).await?,
        "data: o\r\n\r\n",
        "GET {s}/eventsource"
    );
    ctx.xhr_send_ok(&s, r#"["  \u0000\n\r "]"#).await?;
    ensure_eq!(
        next_event(&mut r).await?,
        "data: a[\"  \\u0000\\n\\r \"]\r\n\r\n",
        "GET {s}/eventsource: message with NUL, LF, CR"
    );
    Ok(None)
}

async fn eventsource_percent(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_eventsource(&ctx, &s, None).await?;
    ensure_eq!(
        next_event(&mut r).await?,
        "data: o\r\n\r\n",
        "GET {s}/eventsource"
    );
    ctx.xhr_send_ok(&s, r#"["100%"]"#).await?;
    ensure_eq!(
        next_event(&mut r).await?,
        "data: a[\"100%25\"]\r\n\r\n",
        "GET {s}/eventsource: message `100%`"
    );
    Ok(None)
}

async fn eventsource_response_limit(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_eventsource(&ctx, &s, None).await?;
    let what = format!("GET {s}/eventsource");
    response_limit_bounds(&ctx, &s, &mut r, &EVENTSOURCE, &what).await?;
    Ok(None)
}

fn htmlfile_head(callback: &str) -> String {
    format!(
        "<!doctype html>
<html><head>
  <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />
  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.{callback};
    c.start();
    function p(d) {{c.message(d);}};
    window.onload = function() {{c.stop();}};
  </script>"
    )
}

/// Opens an htmlfile stream with `query` and checks status and prelude.
pub(super) async fn open_htmlfile(
    ctx: &Ctx,
    s: &str,
    query: &str,
    callback: &str,
) -> Result<Streaming, Failure> {
    let what = format!("GET {s}/htmlfile{query}");
    let mut r = ctx
        .open(Request::new("GET", format!("{s}/htmlfile{query}")))
        .await?;
    ensure_eq!(r.status(), 200, "{what}: status");
    let prelude = r.read_text_until("\r\n\r\n").await?;
    let head = htmlfile_head(callback);
    let padding = prelude.strip_prefix(&head).ok_or_else(|| {
        Failure(format!(
            "{what}: the prelude is not the htmlfile page: {prelude:?}"
        ))
    })?;
    ensure!(
        padding.bytes().all(|b| b.is_ascii_whitespace()),
        "{what}: the prelude has more than padding after the page: {padding:?}"
    );
    ensure!(
        prelude.len() > 1024,
        "{what}: the prelude is {} bytes, not past 1024",
        prelude.len()
    );
    Ok(r)
}

pub(super) async fn next_script(r: &mut Streaming) -> Result<String, Failure> {
    next_frame(r, "</script>\r\n", "<script>\np(\"h\");\n</script>\r\n").await
}

async fn htmlfile_transport(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_htmlfile(&ctx, &s, "?c=%63allback", "callback").await?;
    let what = format!("GET {s}/htmlfile");
    content_type(r.headers(), "text/html;charset=UTF-8", &what)?;
    not_cached(r.headers(), &what)?;
    ensure_eq!(
        r.headers().get("content-length"),
        None,
        "{what}: Content-Length"
    );
    ensure_eq!(
        next_script(&mut r).await?,
        "<script>\np(\"o\");\n</script>\r\n",
        "{what}: first frame"
    );
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    ensure_eq!(
        next_script(&mut r).await?,
        "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n",
        "{what}: frame after xhr_send"
    );
    Ok(None)
}

async fn htmlfile_callback_name(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_htmlfile(&ctx, &s, "?callback=cb_1.x-y", "cb_1.x-y").await?;
    ensure_eq!(
        next_script(&mut r).await?,
        "<script>\np(\"o\");\n</script>\r\n",
        "GET {s}/htmlfile?callback=cb_1.x-y: first frame"
    );
    Ok(None)
}

async fn htmlfile_no_callback(ctx: Ctx) -> Outcome {
    let r = ctx.get("/echo/a/a/htmlfile").await?;
    error_500(
        &r,
        "\"callback\" parameter required",
        "GET /echo/a/a/htmlfile",
    )?;
    Ok(None)
}

async fn htmlfile_invalid_callback(ctx: Ctx) -> Outcome {
    for cb in ["%20", "*", "abc(", "abc%28"] {
        let path = format!("/echo/a/a/htmlfile?c={cb}");
        error_500(
            &ctx.get(&path).await?,
            "invalid \"callback\" parameter",
            &format!("GET {path}"),
        )?;
    }
    Ok(None)
}

async fn htmlfile_response_limit(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_htmlfile(&ctx, &s, "?c=callback", "callback").await?;
    let what = format!("GET {s}/htmlfile");
    response_limit_bounds(&ctx, &s, &mut r, &HTMLFILE, &what).await?;
    Ok(None)
}

/// How a streaming transport writes one SockJS frame.
struct Wrapping {
    /// What ends a written frame.
    end: &'static str,
    /// The written form of a frame.
    wrap: fn(&str) -> String,
}

const XHR_STREAMING: Wrapping = Wrapping {
    end: "\n",
    wrap: |f| format!("{f}\n"),
};

const EVENTSOURCE: Wrapping = Wrapping {
    end: "\r\n\r\n",
    wrap: |f| format!("data: {f}\r\n\r\n"),
};

const HTMLFILE: Wrapping = Wrapping {
    end: "</script>\r\n",
    wrap: |f| format!("<script>\np({});\n</script>\r\n", json_string(f)),
};

/// The `/echo` service's response_limit: bytes of frames as the transport
/// writes them (the prelude not counted), heartbeats included.
const RESPONSE_LIMIT: usize = 4096;

/// The next written frame, heartbeats skipped; every byte read, the
/// heartbeats' too, is added to `written`.
async fn next_counted(
    r: &mut Streaming,
    w: &Wrapping,
    written: &mut usize,
) -> Result<String, Failure> {
    let heartbeat = (w.wrap)("h");
    loop {
        let frame = r.read_text_until(w.end).await?;
        *written += frame.len();
        if frame != heartbeat {
            return Ok(frame);
        }
    }
}

/// response_limit from both sides, on a stream whose prelude was read:
/// after `o`, an echo that brings the frames to 64 bytes under the limit
/// must leave the stream open (a lower bound: the next echo must come on
/// it), and the echo that crosses the limit must be the stream's last
/// frame (an upper bound: the body ends right after it).
async fn response_limit_bounds(
    ctx: &Ctx,
    s: &str,
    r: &mut Streaming,
    w: &Wrapping,
    what: &str,
) -> Result<(), Failure> {
    let mut written = 0;
    ensure_eq!(
        next_counted(r, w, &mut written).await?,
        (w.wrap)("o"),
        "{what}: first frame"
    );
    let overhead = (w.wrap)("a[\"\"]").len();
    let n = RESPONSE_LIMIT - 64 - written - overhead;
    let under = format!("a[\"{}\"]", "y".repeat(n));
    ctx.xhr_send_ok(s, &under[1..]).await?;
    ensure_eq!(
        next_counted(r, w, &mut written).await?,
        (w.wrap)(&under),
        "{what}: a message bringing the frames to {} bytes",
        RESPONSE_LIMIT - 64
    );
    ensure!(
        written < RESPONSE_LIMIT,
        "{what}: heartbeats brought the frames to {written} bytes before the lower bound could be checked"
    );
    let across = format!("a[\"{}\"]", "x".repeat(128));
    ctx.xhr_send_ok(s, &across[1..]).await?;
    ensure_eq!(
        next_counted(r, w, &mut written).await?,
        (w.wrap)(&across),
        "{what}: the frame after {} bytes, under response_limit ({RESPONSE_LIMIT}): the stream must still be open",
        RESPONSE_LIMIT - 64
    );
    // Bounded as a whole: heartbeats would keep a stream that never ends
    // busy past any single read's timeout.
    let past = format!(
        "{what}: after {written} bytes of frames, past response_limit ({RESPONSE_LIMIT}), the body must end"
    );
    tokio::time::timeout(ctx.target.timeout, r.expect_end())
        .await
        .map_err(|_| Failure(format!("{past}: still open after {:?}", ctx.target.timeout)))?
        .map_err(|e| Failure(format!("{past}: {e}")))?;
    Ok(())
}

async fn htmlfile_frame_quoting(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r = open_htmlfile(&ctx, &s, "?c=callback", "callback").await?;
    ensure_eq!(
        next_script(&mut r).await?,
        "<script>\np(\"o\");\n</script>\r\n",
        "GET {s}/htmlfile"
    );
    let message = "q\"b\\'";
    ctx.xhr_send_ok(&s, &format!("[{}]", json_string(message)))
        .await?;
    let frame = format!("a[{}]", json_string(message));
    ensure_eq!(
        next_script(&mut r).await?,
        format!("<script>\np({});\n</script>\r\n", json_string(&frame)),
        "GET {s}/htmlfile: frame with quotes and backslashes"
    );
    Ok(None)
}

async fn xhr_streaming_heartbeat(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let patient = ctx.patient(ctx.after(ctx.heartbeat_delay));
    let mut r = patient.xhr_streaming(&s).await?;
    ensure_eq!(
        r.read_text_until("\n").await?,
        "o\n",
        "xhr_streaming on {s}"
    );
    let opened = tokio::time::Instant::now();
    ensure_eq!(
        r.read_text_until("\n").await?,
        "h\n",
        "xhr_streaming on {s}: next frame when idle"
    );
    not_early(&ctx, opened, &format!("xhr_streaming on {s}"))?;
    Ok(None)
}

async fn eventsource_heartbeat(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let patient = ctx.patient(ctx.after(ctx.heartbeat_delay));
    let mut r = open_eventsource(&patient, &s, None).await?;
    ensure_eq!(
        r.read_text_until("\r\n\r\n").await?,
        "data: o\r\n\r\n",
        "GET {s}/eventsource"
    );
    let opened = tokio::time::Instant::now();
    ensure_eq!(
        r.read_text_until("\r\n\r\n").await?,
        "data: h\r\n\r\n",
        "GET {s}/eventsource: next event when idle"
    );
    not_early(&ctx, opened, &format!("eventsource on {s}"))?;
    Ok(None)
}

async fn htmlfile_heartbeat(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let patient = ctx.patient(ctx.after(ctx.heartbeat_delay));
    let mut r = open_htmlfile(&patient, &s, "?c=callback", "callback").await?;
    ensure_eq!(
        r.read_text_until("</script>\r\n").await?,
        "<script>\np(\"o\");\n</script>\r\n",
        "GET {s}/htmlfile"
    );
    let opened = tokio::time::Instant::now();
    ensure_eq!(
        r.read_text_until("</script>\r\n").await?,
        "<script>\np(\"h\");\n</script>\r\n",
        "GET {s}/htmlfile: next frame when idle"
    );
    not_early(&ctx, opened, &format!("htmlfile on {s}"))?;
    Ok(None)
}

async fn eventsource_second_receiver(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r1 = open_eventsource(&ctx, &s, None).await?;
    ensure_eq!(
        next_event(&mut r1).await?,
        "data: o\r\n\r\n",
        "GET {s}/eventsource"
    );
    let mut r2 = open_eventsource(&ctx, &s, None).await?;
    ensure_eq!(
        r2.read_text_until("\r\n\r\n").await?,
        "data: c[2010,\"Another connection still open\"]\r\n\r\n",
        "second GET {s}/eventsource"
    );
    r2.expect_end().await?;
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    ensure_eq!(
        next_event(&mut r1).await?,
        "data: a[\"x\"]\r\n\r\n",
        "first GET {s}/eventsource after the second was refused"
    );
    Ok(None)
}
