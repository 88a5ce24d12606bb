//! How connections end, checked by repetition: a close is a race between
//! the server letting go of the connection and the client reading the last
//! bytes, so each check runs `Ctx::close_cycles` open→close cycles (200 by
//! default), half of them with a client that answers the close frame as
//! browsers do and half with one that does not. Every cycle must show every
//! message, the close frame intact, and the end of the connection as a FIN,
//! never a reset (which makes the client's kernel drop unread data). A
//! server may keep the connection open for a client that does not answer
//! (RFC 6455 7.1.1 has it wait for the client's close frame); the remark
//! counts those. `close_waits_for_the_reply` checks that wait
//! deterministically.
//!
//! `goodbye_*` need the `/goodbye` service, which the protocol definition
//! does not have: it sends `1` to `20`, then closes with 3000 `Go away!`
//! (the project's test server and its sockjs-node reference server both
//! serve it).

use super::support::next_frame;
use super::{Ctx, Failure, Outcome};
use crate::client::{decode_frame, Ending, Frame, Request, WireFrame, WireWs};

checks!("closing",
    raw_close_cycles: "raw /websocket on /close: every cycle gets the close frame 3000 `Go away!` and a clean end (no reset), whether the client answers the close frame or not",
    framed_close_cycles: "framed websocket on /close: every cycle gets `o`, `c[3000,\"Go away!\"]`, a close frame and a clean end",
    broken_json_cycles: "framed websocket: after broken JSON every cycle gets a close frame and a clean end",
    oversize_cycles: "framed websocket: a message over 1 MiB is echoed or refused with a close frame, and the connection ends cleanly either way",
    client_close_cycles: "framed websocket: when the client closes first, the server answers its close frame and the connection ends cleanly",
    goodbye_websocket_cycles: "/goodbye over framed and raw websockets: the 20 messages queued before the close all arrive, in order, before the close frame",
    goodbye_streaming_cycles: "/goodbye over xhr_streaming and eventsource: the 20 messages, then `c[3000,\"Go away!\"]`, then the end of the body and a clean end of the connection",
    close_waits_for_the_reply: "raw and framed websocket on /close (RFC 6455 7.1.1): 200 ms after the server's close frame the connection is still open; after the client's close frame it ends promptly (FIN)",
    unanswered_close_is_cut_off: "raw websocket on /close, client never answering the close frame: the server keeps the connection open for at least 200 ms, then ends it with a FIN (never a reset); the remark gives when (or that it was still open after 5 s)",
);

/// Opens `path` and reads up to the server's close frame, which must say
/// 3000 `Go away!` on the raw endpoint (framed, the SockJS `c[...]` frame
/// carries the code and the WebSocket's is the server's choice: sockjs-node
/// sends 1000; strict mode wants 3000 `Go away!` there too).
async fn up_to_close_frame(ctx: &Ctx, path: &str) -> Result<WireWs, Failure> {
    let mut ws = WireWs::connect(&ctx.target, path).await?;
    let raw = path.ends_with("/close/websocket");
    loop {
        match ws.next().await? {
            Some(WireFrame::Close(close)) if !raw && !ctx.strict => {
                ensure!(close.is_some(), "{path}: the close frame has no code");
                return Ok(ws);
            }
            Some(WireFrame::Close(close)) => {
                ensure_eq!(
                    close,
                    Some((3000, "Go away!".to_owned())),
                    "{path}: close frame"
                );
                return Ok(ws);
            }
            Some(WireFrame::Text(_) | WireFrame::Ping | WireFrame::Pong) => {}
            other => return Err(Failure(format!("{path}: {other:?} before the close frame"))),
        }
    }
}

/// Deterministic, not a race: a client that takes 200 ms to answer the
/// close frame must find the connection open (a non-blocking read would
/// block), and the end must follow its answer within a second.
async fn close_waits_for_the_reply(ctx: Ctx) -> Outcome {
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..10 {
        for path in [
            "/close/websocket".to_owned(),
            format!("{}/websocket", ctx.session("close")),
        ] {
            let mut ws = up_to_close_frame(&ctx, &path).await?;
            // The slow client of issue 16, on purpose.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            ensure!(
                !ws.ended_now()?,
                "{path} (round {i}): the connection ended before the client's close frame (RFC 6455 7.1.1: the server waits for it)"
            );
            ws.send_close(Some(3000)).await?;
            let took = ws
                .until_end(std::time::Duration::from_secs(1))
                .await
                .map_err(|e| Failure(format!("{path}: after the client's close frame: {e}")))?;
            slowest = slowest.max(took);
        }
    }
    Ok(Some(format!(
        "20 closes; the end came at most {} ms after the client's close frame",
        slowest.as_millis()
    )))
}

async fn unanswered_close_is_cut_off(ctx: Ctx) -> Outcome {
    // How long the check waits for the cut: sockjs-node has no close
    // timeout and keeps such a connection open; the project's test server
    // cuts it at its close_timeout (3 s), and strict mode wants the cut.
    let wait = std::time::Duration::from_secs(5);
    let mut took = Vec::new();
    for _ in 0..3 {
        let mut ws = up_to_close_frame(&ctx, "/close/websocket").await?;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ensure!(
            !ws.ended_now()?,
            "/close/websocket: ended within 200 ms of the close frame, before the client could answer"
        );
        match ws.until_end(wait).await {
            Ok(t) => took.push(format!("{} ms", t.as_millis() + 200)),
            // Lenient only: sockjs-node has no close timeout.
            Err(e) if e.0.starts_with("nothing from the server") && !ctx.strict => {
                took.push(format!("still open after {} s", wait.as_secs()));
            }
            Err(e) => return Err(Failure(format!("/close/websocket, no answer: {e}"))),
        }
    }
    Ok(Some(format!(
        "the unanswered close ended: {}",
        took.join(", ")
    )))
}

/// The messages `/goodbye` sends before it closes.
fn goodbye_messages() -> Vec<String> {
    (1..=20).map(|i| i.to_string()).collect()
}

/// Cycles run at once: each lane runs its share one after the other.
const LANES: usize = 4;

/// Runs `cycle(ctx, i, reply)` for `ctx.close_cycles` cycles, in [`LANES`]
/// lanes of consecutive cycles, the client answering close frames on even
/// cycles. Fails with the first failure, which names its cycle. `cycle`
/// says whether the server ended the connection after its close frame
/// (false: it kept it open, waiting for a reply that did not come), which
/// the remark counts.
async fn cycles<F, Fut>(ctx: &Ctx, what: &str, cycle: F) -> Outcome
where
    F: Fn(Ctx, usize, bool) -> Fut,
    Fut: std::future::Future<Output = Result<bool, Failure>>,
{
    let n = ctx.close_cycles;
    let lane = |first: usize| {
        let cycle = &cycle;
        async move {
            let mut kept_open = 0;
            for i in (first..n).step_by(LANES) {
                let reply = i % 2 == 0;
                let ended = cycle(ctx.clone(), i, reply).await.map_err(|e| {
                    let who = if reply { "answering" } else { "not answering" };
                    Failure(format!(
                        "{what}, cycle {i} of {n} (client {who} the close frame): {e}"
                    ))
                })?;
                kept_open += usize::from(!ended);
            }
            Ok::<usize, Failure>(kept_open)
        }
    };
    let lanes = futures_util::future::join_all((0..LANES).map(lane)).await;
    let mut kept_open = 0;
    for lane in lanes {
        kept_open += lane?;
    }
    Ok(Some(if kept_open == 0 {
        format!("{n} cycles, the server ended every connection")
    } else {
        format!("{n} cycles; {kept_open} times the server kept the connection open until the client gave up on it")
    }))
}

/// Checks an ending's close frame: exactly `expected` (code and reason)
/// when `exact`, else any close frame with a code.
fn check_close(
    end: &Ending,
    expected: (u16, &str),
    exact: bool,
    what: &str,
) -> Result<(), Failure> {
    if exact {
        ensure_eq!(
            end.close.as_ref().map(|(c, r)| (*c, r.as_str())),
            Some(expected),
            "{what}: close frame"
        );
    } else {
        ensure!(end.close.is_some(), "{what}: the close frame has no code");
    }
    Ok(())
}

/// 3000 `Go away!`: what `/close` and `/goodbye` close with.
const GO_AWAY: (u16, &str) = (3000, "Go away!");

async fn raw_close_cycles(ctx: Ctx) -> Outcome {
    cycles(&ctx, "/close/websocket", |ctx, _, reply| async move {
        let mut ws = WireWs::connect(&ctx.target, "/close/websocket").await?;
        let end = ws.until_closed(reply).await?;
        ensure_eq!(end.texts, Vec::<String>::new(), "messages");
        check_close(&end, GO_AWAY, true, "/close/websocket")?;
        Ok(end.server_ended)
    })
    .await
}

async fn framed_close_cycles(ctx: Ctx) -> Outcome {
    cycles(&ctx, "/close framed", |ctx, _, reply| async move {
        let path = format!("{}/websocket", ctx.session("close"));
        let mut ws = WireWs::connect(&ctx.target, &path).await?;
        let end = ws.until_closed(reply).await?;
        ensure_eq!(end.texts, ["o", "c[3000,\"Go away!\"]"], "{path}: messages");
        // Lenient: sockjs-node's WebSocket close frame of a framed session
        // is faye's default (1000, no reason); the SockJS frame carries the
        // code.
        check_close(&end, GO_AWAY, ctx.strict, &path)?;
        Ok(end.server_ended)
    })
    .await
}

async fn broken_json_cycles(ctx: Ctx) -> Outcome {
    cycles(&ctx, "broken JSON", |ctx, _, reply| async move {
        let path = format!("{}/websocket", ctx.session("echo"));
        let mut ws = WireWs::connect(&ctx.target, &path).await?;
        ensure_eq!(
            ws.next().await?,
            Some(WireFrame::Text("o".into())),
            "{path}: first frame"
        );
        ws.send_text("[\"a").await?;
        let end = ws.until_closed(reply).await?;
        ensure_eq!(
            end.texts,
            Vec::<String>::new(),
            "{path}: messages after broken JSON"
        );
        // Lenient: sockjs-node closes with faye's default code; the
        // project's server refuses broken framing with 3000.
        check_close(&end, (3000, "Broken framing."), ctx.strict, &path)?;
        Ok(end.server_ended)
    })
    .await
}

async fn oversize_cycles(ctx: Ctx) -> Outcome {
    let big = format!("[\"{}\"]", "x".repeat(1024 * 1024 + 1024));
    let echo = format!("a{big}");
    cycles(&ctx, "oversized message", |ctx, _, reply| {
        let (big, echo) = (big.clone(), echo.clone());
        async move {
            let path = format!("{}/websocket", ctx.session("echo"));
            let mut ws = WireWs::connect(&ctx.target, &path).await?;
            ensure_eq!(
                ws.next().await?,
                Some(WireFrame::Text("o".into())),
                "{path}: first frame"
            );
            ws.send_text(&big).await?;
            if ctx.strict {
                // The project's server refuses it: the SockJS close frame,
                // then the WebSocket's, both 1009 `Message too big`.
                let end = ws.until_closed(reply).await?;
                ensure_eq!(
                    end.texts,
                    ["c[1009,\"Message too big\"]"],
                    "{path}: messages after an oversized one"
                );
                check_close(&end, (1009, "Message too big"), true, &path)?;
                return Ok(end.server_ended);
            }
            // Lenient: sockjs-node has no size limit and echoes it.
            let mut first = ws.next().await?;
            // A SockJS close frame may carry the refusal's code first.
            if let Some(WireFrame::Text(t)) = &first {
                if t.starts_with("c[") {
                    first = ws.next().await?;
                }
            }
            match first {
                // No limit (sockjs-node): the client closes, cleanly.
                Some(WireFrame::Text(t)) if t == echo => {
                    ws.send_close(Some(1000)).await?;
                    // The server's close frame answers ours: no reply.
                    let end = ws.until_closed(false).await?;
                    check_close(&end, (1000, ""), false, &path)?;
                    Ok(end.server_ended)
                }
                Some(WireFrame::Close(close)) => {
                    ensure!(close.is_some(), "{path}: the close frame has no code");
                    if reply {
                        ws.send_close(close.map(|(code, _)| code)).await?;
                    }
                    match ws.next().await {
                        Ok(None) => Ok(true),
                        Ok(Some(frame)) => {
                            Err(Failure(format!("{path}: {frame:?} after the close frame")))
                        }
                        Err(e) => Err(Failure(format!("{path}: after the close frame: {e}"))),
                    }
                }
                other => Err(Failure(format!(
                    "{path}: expected the echo or a close frame, got {}",
                    match other {
                        Some(WireFrame::Text(t)) => format!("a text of {} bytes", t.len()),
                        other => format!("{other:?}"),
                    }
                ))),
            }
        }
    })
    .await
}

async fn client_close_cycles(ctx: Ctx) -> Outcome {
    cycles(&ctx, "client close", |ctx, i, _| async move {
        let path = format!("{}/websocket", ctx.session("echo"));
        let mut ws = WireWs::connect(&ctx.target, &path).await?;
        ensure_eq!(
            ws.next().await?,
            Some(WireFrame::Text("o".into())),
            "{path}: first frame"
        );
        ws.send_text(&format!("[\"{i}\"]")).await?;
        ws.send_close(Some(1000)).await?;
        // The echo may or may not come before the server's answer.
        let end = ws.until_closed(false).await?;
        ensure!(
            end.texts.iter().all(|t| *t == format!("a[\"{i}\"]")),
            "{path}: messages before the close answer: {:?}",
            end.texts
        );
        // Strict: the answer echoes the client's code (RFC 6455 5.5.1);
        // lenient, any code (faye answers with its own).
        check_close(&end, (1000, ""), ctx.strict, &path)?;
        ensure!(
            end.server_ended,
            "{path}: the server kept the connection open after answering the client's close frame"
        );
        Ok(true)
    })
    .await
}

/// Joins the messages of SockJS `a[...]` frames (read by the workspace's
/// decoder, `sockjs_proto::decode`), failing on any other frame.
fn messages_of(frames: &[String], what: &str) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for frame in frames {
        match decode_frame(frame).map_err(|e| Failure(format!("{what}: {e}")))? {
            Frame::Messages(batch) => out.extend(batch),
            other => {
                return Err(Failure(format!(
                    "{what}: expected an `a` frame, got {other:?}"
                )))
            }
        }
    }
    Ok(out)
}

async fn goodbye_websocket_cycles(ctx: Ctx) -> Outcome {
    cycles(&ctx, "/goodbye", |ctx, i, reply| async move {
        if i % 4 < 2 {
            let path = format!("{}/websocket", ctx.session("goodbye"));
            let mut ws = WireWs::connect(&ctx.target, &path).await?;
            let end = ws.until_closed(reply).await?;
            let n = end.texts.len();
            ensure!(
                n >= 2,
                "{path}: only {:?} before the close frame",
                end.texts
            );
            ensure_eq!(end.texts[0], "o", "{path}: first frame");
            ensure_eq!(
                end.texts[n - 1],
                "c[3000,\"Go away!\"]",
                "{path}: last frame"
            );
            let got = messages_of(&end.texts[1..n - 1], &path)?;
            ensure_eq!(got, goodbye_messages(), "{path}: messages");
            // Lenient: faye's default close frame on sockjs-node.
            check_close(&end, GO_AWAY, ctx.strict, &path)?;
            Ok(end.server_ended)
        } else {
            let mut ws = WireWs::connect(&ctx.target, "/goodbye/websocket").await?;
            let end = ws.until_closed(reply).await?;
            ensure_eq!(
                end.texts,
                goodbye_messages(),
                "/goodbye/websocket: messages"
            );
            check_close(&end, GO_AWAY, true, "/goodbye/websocket")?;
            Ok(end.server_ended)
        }
    })
    .await
}

/// How one streaming transport frames its body, for `/goodbye` cycles.
struct Stream {
    method: &'static str,
    transport: &'static str,
    prelude: usize,
    /// What starts a frame (`data: `) and what ends it.
    before: &'static str,
    after: &'static str,
}

const STREAMS: [Stream; 2] = [
    Stream {
        method: "POST",
        transport: "xhr_streaming",
        prelude: 2049,
        before: "",
        after: "\n",
    },
    Stream {
        method: "GET",
        transport: "eventsource",
        prelude: 2,
        before: "data: ",
        after: "\r\n\r\n",
    },
];

async fn goodbye_streaming_cycles(ctx: Ctx) -> Outcome {
    cycles(&ctx, "/goodbye streaming", |ctx, i, _| async move {
        let t = &STREAMS[i % STREAMS.len()];
        let s = ctx.session("goodbye");
        let req = Request::new(t.method, format!("{s}/{}", t.transport));
        let what = format!("{} {}", req.method, req.target);
        let mut r = ctx.open(req).await?;
        ensure_eq!(r.status(), 200, "{what}: status");
        r.read_exact(t.prelude).await?;
        let heartbeat = format!("{}h{}", t.before, t.after);
        let mut frames = Vec::new();
        loop {
            let frame = next_frame(&mut r, t.after, &heartbeat).await?;
            let frame = frame
                .strip_prefix(t.before)
                .and_then(|f| f.strip_suffix(t.after))
                .ok_or_else(|| Failure(format!("{what}: a malformed frame {frame:?}")))?
                .to_owned();
            if frame == "c[3000,\"Go away!\"]" {
                break;
            }
            frames.push(frame);
        }
        ensure_eq!(
            frames.first().map(String::as_str),
            Some("o"),
            "{what}: first frame"
        );
        ensure_eq!(
            messages_of(&frames[1..], &what)?,
            goodbye_messages(),
            "{what}: messages"
        );
        r.expect_end()
            .await
            .map_err(|e| Failure(format!("{what}: after the close frame: {e}")))?;
        r.conn()
            .expect_closed()
            .await
            .map_err(|e| Failure(format!("{what}: the connection after the response: {e}")))?;
        Ok(true)
    })
    .await
}
