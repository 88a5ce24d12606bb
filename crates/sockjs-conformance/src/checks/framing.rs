//! PROTOCOL.md sections 2 and 6 (session life), seen through xhr polling and
//! xhr streaming.

use std::time::Duration;

use super::support::{next_xhr_frame, not_early, spawn_request};
use super::{Ctx, Failure, Outcome};
use crate::client::Request;

checks!("session",
    open_send_receive: "a new session answers `o`, accepts xhr_send and echoes `a[\"a\"]`",
    send_to_unknown_session: "xhr_send to an unknown session answers 404",
    queued_in_one_frame: "messages queued while no receiver is attached come in one `a[...]` frame, in order",
    second_receiver_polling: "a second xhr poll while one waits gets `c[2010,\"Another connection still open\"]`; the first is unaffected",
    second_receiver_streaming: "a second xhr_streaming gets the 2010 close frame and ends; the first keeps working",
    close_repeated: "after an application close every receiving request gets `c[3000,\"Go away!\"]`",
    close_streaming: "xhr_streaming gets `o` then the close frame and ends; a later one gets the close frame and ends",
    close_until_expiry: "the close frame is served until disconnect_delay passes, then the id starts a new session",
    timeout_without_receiver: "a session with no receiver for disconnect_delay is gone (xhr_send answers 404)",
    heartbeat_polling: "an idle xhr poll answers `h` after heartbeat_delay",
    abort_polling: "an aborted xhr poll closes the session: the next poll gets `o` or `c[1002,...]`",
    abort_streaming: "an aborted xhr_streaming closes the session: the next gets `o` or `c[1002,...]`",
);

const ANOTHER: &str = "c[2010,\"Another connection still open\"]\n";
const GO_AWAY: &str = "c[3000,\"Go away!\"]\n";

async fn open_send_receive(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    ctx.xhr_send_ok(&s, "[\"a\"]").await?;
    ctx.xhr_expect(&s, "a[\"a\"]\n").await?;
    Ok(None)
}

async fn send_to_unknown_session(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx.post(&format!("{s}/xhr_send"), "[\"a\"]").await?;
    ensure_eq!(
        r.status(),
        404,
        "POST {s}/xhr_send (no such session): status"
    );
    Ok(None)
}

async fn queued_in_one_frame(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    ctx.xhr_send_ok(&s, "[\"a\"]").await?;
    ctx.xhr_send_ok(&s, "[\"b\",\"c\"]").await?;
    ctx.xhr_send_ok(&s, "[\"d\"]").await?;
    ctx.xhr_expect(&s, "a[\"a\",\"b\",\"c\",\"d\"]\n").await?;
    Ok(None)
}

/// Sends two xhr polls at once on a fresh session: whichever the server
/// takes second must answer 2010 at once; the other must stay attached.
/// Returns the session and the handle of the attached poll.
async fn two_polls(
    ctx: &Ctx,
) -> Result<
    (
        String,
        tokio::task::JoinHandle<Result<crate::client::Response, Failure>>,
    ),
    Failure,
> {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    let req = || Request::new("POST", format!("{s}/xhr")).body("");
    let mut a = spawn_request(ctx, req());
    let mut b = spawn_request(ctx, req());
    let limit = ctx.target.timeout;
    let (first, other) = tokio::select! {
        r = &mut a => (r, b),
        r = &mut b => (r, a),
        _ = tokio::time::sleep(limit) => {
            a.abort();
            b.abort();
            return Err(Failure(format!(
                "two concurrent polls on {s}: neither answered within {limit:?} (expected one to get the 2010 close frame)"
            )));
        }
    };
    let first = first.map_err(|e| Failure(format!("poll task: {e}")))??;
    ensure_eq!(first.status(), 200, "second poll on {s}: status");
    ensure_eq!(first.text(), ANOTHER, "second poll on {s}: body");
    Ok((s, other))
}

async fn second_receiver_polling(ctx: Ctx) -> Outcome {
    let (s, waiting) = two_polls(&ctx).await?;
    ensure!(
        !waiting.is_finished(),
        "the first poll on {s} ended when the second arrived"
    );
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    let r = tokio::time::timeout(ctx.target.timeout, waiting)
        .await
        .map_err(|_| Failure(format!("the waiting poll on {s} did not get the message")))?
        .map_err(|e| Failure(format!("poll task: {e}")))??;
    ensure_eq!(r.status(), 200, "the waiting poll on {s}: status");
    // A heartbeat may have answered the waiting poll before the message
    // came (it waited up to heartbeat_delay); the message must then be
    // the answer of a later poll, not lost.
    let mut body = r.text();
    let deadline = tokio::time::Instant::now() + ctx.after(ctx.heartbeat_delay);
    let mut heartbeats = 0;
    while body == "h\n" {
        heartbeats += 1;
        ensure!(
            tokio::time::Instant::now() < deadline,
            "polls on {s}: only heartbeats ({heartbeats}) for {:?} after xhr_send of [\"x\"]",
            ctx.after(ctx.heartbeat_delay)
        );
        let patient = ctx.patient(ctx.after(ctx.heartbeat_delay));
        let r = patient.post(&format!("{s}/xhr"), "").await?;
        ensure_eq!(r.status(), 200, "poll on {s} after a heartbeat: status");
        body = r.text();
    }
    ensure_eq!(
        body,
        "a[\"x\"]\n",
        "the waiting poll on {s} (or the next after its heartbeat)"
    );
    Ok(match heartbeats {
        0 => None,
        n => Some(format!("{n} heartbeat(s) before the message")),
    })
}

async fn second_receiver_streaming(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r1 = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        next_xhr_frame(&mut r1).await?,
        "o\n",
        "first xhr_streaming on {s}"
    );
    let mut r2 = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        r2.read_text_until("\n").await?,
        ANOTHER,
        "second xhr_streaming on {s}"
    );
    r2.expect_end().await?;
    ctx.xhr_send_ok(&s, "[\"x\"]").await?;
    ensure_eq!(
        next_xhr_frame(&mut r1).await?,
        "a[\"x\"]\n",
        "first xhr_streaming on {s} after the second was refused"
    );
    Ok(None)
}

async fn close_repeated(ctx: Ctx) -> Outcome {
    let s = ctx.session("close");
    ctx.xhr_expect(&s, "o\n").await?;
    ctx.xhr_expect(&s, GO_AWAY).await?;
    ctx.xhr_expect(&s, GO_AWAY).await?;
    ctx.xhr_expect(&s, GO_AWAY).await?;
    Ok(None)
}

async fn close_streaming(ctx: Ctx) -> Outcome {
    let s = ctx.session("close");
    let mut r1 = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        r1.read_text_until("\n").await?,
        "o\n",
        "xhr_streaming on {s}"
    );
    ensure_eq!(
        r1.read_text_until("\n").await?,
        GO_AWAY,
        "xhr_streaming on {s}"
    );
    let mut r2 = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        r2.read_text_until("\n").await?,
        GO_AWAY,
        "second xhr_streaming on {s}"
    );
    r1.expect_end().await?;
    r2.expect_end().await?;
    Ok(None)
}

async fn close_until_expiry(ctx: Ctx) -> Outcome {
    let s = ctx.session("close");
    ctx.xhr_expect(&s, "o\n").await?;
    ctx.xhr_expect(&s, GO_AWAY).await?;
    tokio::time::sleep(ctx.disconnect_delay / 3).await;
    ctx.xhr_expect(&s, GO_AWAY).await?;
    tokio::time::sleep(ctx.after(ctx.disconnect_delay)).await;
    ctx.xhr_expect(&s, "o\n")
        .await
        .map_err(|e| Failure(format!("after disconnect_delay: {e}")))?;
    Ok(None)
}

async fn timeout_without_receiver(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    tokio::time::sleep(ctx.after(ctx.disconnect_delay)).await;
    let r = ctx.post(&format!("{s}/xhr_send"), "[\"a\"]").await?;
    ensure_eq!(
        r.status(),
        404,
        "xhr_send to {s} after {:?} without a receiver: status",
        ctx.after(ctx.disconnect_delay)
    );
    Ok(None)
}

async fn heartbeat_polling(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    let opened = tokio::time::Instant::now();
    let patient = ctx.patient(ctx.after(ctx.heartbeat_delay));
    patient.xhr_expect(&s, "h\n").await?;
    not_early(&ctx, opened, &format!("xhr poll on {s}"))?;
    Ok(None)
}

/// Polls until the session shows it was closed by the abort; 2010 answers
/// (the server has not noticed the abort yet) are retried for a second.
async fn after_abort(ctx: &Ctx, s: &str, streaming: bool) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut refused = 0;
    loop {
        let (frame, mut rest) = if streaming {
            let mut r = ctx.xhr_streaming(s).await?;
            (r.read_text_until("\n").await?, Some(r))
        } else {
            let r = ctx.post(&format!("{s}/xhr"), "").await?;
            ensure_eq!(r.status(), 200, "POST {s}/xhr after the abort: status");
            (r.text(), None)
        };
        // Lenient: sockjs-node forgets the session at once, so the next
        // request opens a new one (`o`); the project's server keeps it,
        // closed with 1002, for disconnect_delay, and strict mode wants that.
        let interrupted = frame == "c[1002,\"Connection interrupted\"]\n";
        if interrupted || (frame == "o\n" && !ctx.strict) {
            drop(rest.take());
            let late = match refused {
                0 => String::new(),
                n => format!(" ({n} earlier request(s) still got 2010)"),
            };
            return Ok(Some(format!("after the abort: {}{late}", frame.trim_end())));
        }
        if frame != ANOTHER || tokio::time::Instant::now() > deadline {
            return Err(Failure(format!(
                "receiving request on {s} after aborting the attached one: expected {}\"c[1002,\\\"Connection interrupted\\\"]\\n\", got {frame:?}",
                if ctx.strict { "" } else { "\"o\\n\" or " }
            )));
        }
        refused += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn abort_polling(ctx: Ctx) -> Outcome {
    let (s, waiting) = two_polls(&ctx).await?;
    waiting.abort();
    let _ = waiting.await;
    after_abort(&ctx, &s, false).await
}

async fn abort_streaming(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let mut r1 = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        r1.read_text_until("\n").await?,
        "o\n",
        "xhr_streaming on {s}"
    );
    let mut r2 = ctx.xhr_streaming(&s).await?;
    ensure_eq!(
        r2.read_text_until("\n").await?,
        ANOTHER,
        "second xhr_streaming on {s}"
    );
    r2.expect_end().await?;
    drop(r1);
    after_abort(&ctx, &s, true).await
}
