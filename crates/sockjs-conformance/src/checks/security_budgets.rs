//! Attacks on a session's memory and on the session table, each answered
//! as the project documents (issue 15, items 3 and 6): byte budgets with a
//! bounded wait for room, sends to closed sessions, the session id length.
//!
//! These go beyond the SockJS protocol: sockjs-node 0.3.24 takes unbounded
//! bytes, answers 204 to a send to a closed session, and takes ids of any
//! length, so it fails them.

use std::time::{Duration, Instant};

use super::{Ctx, Failure, Outcome};
use crate::client::{Request, Target};

checks!("security",
    inbound_byte_budget: "/ticker (a handler that never reads) while a receiver streams: 1 MB xhr_sends are taken until the session's byte budget is used up, then one gets `503 Incoming queue full.` within 10 s; no send goes unanswered",
    send_to_closed_session: "xhr_send and jsonp_send to a session closed but not yet forgotten (/close) answer 404 `Session not found.`, not 204",
    long_session_id: "session and server ids over 64 bytes get 404 on xhr, xhr_send, xhr_streaming, eventsource, jsonp and websocket; a 64-byte id opens a session",
);

/// The size of each message of [`inbound_byte_budget`]: under the 1 MiB
/// `max_message_size`.
const MESSAGE: usize = 1_000_000;

/// Sends before [`inbound_byte_budget`] concludes that there is no budget
/// (64 MB for a handler that reads nothing).
const MAX_SENDS: usize = 64;

/// The most a refused send may wait for its answer (the test server's
/// `inbound_timeout` is the default 5 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

async fn inbound_byte_budget(ctx: Ctx) -> Outcome {
    let s = ctx.session("ticker");
    // A receiver stays attached meanwhile, as a browser's would: the
    // session must not time out while sends wait.
    let receiver = ctx
        .open(Request::new("POST", format!("{s}/xhr_streaming")))
        .await?;
    ensure_eq!(receiver.status(), 200, "POST {s}/xhr_streaming status");
    let slow = Target {
        timeout: ANSWER_WITHIN + Duration::from_secs(2),
        ..ctx.target.clone()
    };
    let body = format!("[\"{}\"]", "x".repeat(MESSAGE));
    for i in 1..=MAX_SENDS {
        let started = Instant::now();
        let r = slow
            .send(Request::new("POST", format!("{s}/xhr_send")).body(body.clone()))
            .await
            .map_err(|e| Failure(format!("xhr_send {i} of 1 MB to /ticker: {e}")))?;
        let took = started.elapsed();
        match r.status() {
            204 => continue,
            503 => {
                ensure_eq!(
                    r.text(),
                    "Incoming queue full.",
                    "xhr_send {i} of 1 MB to /ticker: the 503's body"
                );
                ensure!(
                    took <= ANSWER_WITHIN,
                    "xhr_send {i} of 1 MB to /ticker: answered 503 after {took:?}, over {ANSWER_WITHIN:?}"
                );
                ensure!(
                    i > 1,
                    "the first 1 MB xhr_send to /ticker was refused: the budget takes no message"
                );
                return Ok(Some(format!(
                    "{} MB taken, send {i} refused after {:.1} s",
                    i - 1,
                    took.as_secs_f64()
                )));
            }
            status => {
                return Err(Failure(format!(
                    "xhr_send {i} of 1 MB to /ticker: expected 204, or 503 `Incoming queue full.` once the budget is used up, got {status} {:?}",
                    r.text()
                )))
            }
        }
    }
    Err(Failure(format!(
        "{MAX_SENDS} xhr_sends of 1 MB to /ticker, whose handler reads nothing, were all taken: no byte budget bounds the session"
    )))
}

async fn send_to_closed_session(ctx: Ctx) -> Outcome {
    let s = ctx.session("close");
    ctx.xhr_expect(&s, "o\n").await?;
    ctx.xhr_expect(&s, "c[3000,\"Go away!\"]\n").await?;
    for (transport, content_type, body) in [
        ("xhr_send", "text/plain", "[\"x\"]"),
        (
            "jsonp_send",
            "application/x-www-form-urlencoded",
            "d=%5B%22x%22%5D",
        ),
    ] {
        let r = ctx
            .send(
                Request::new("POST", format!("{s}/{transport}"))
                    .header("Content-Type", content_type)
                    .body(body),
            )
            .await?;
        let what = format!("POST {s}/{transport} after the session closed");
        ensure_eq!(r.status(), 404, "{what}: status");
        ensure_eq!(r.text(), "Session not found.", "{what}: body");
    }
    // Not forgotten yet: receivers still get the close frame.
    ctx.xhr_expect(&s, "c[3000,\"Go away!\"]\n").await?;
    Ok(None)
}

async fn long_session_id(ctx: Ctx) -> Outcome {
    let long = "a".repeat(65);
    let ok = "b".repeat(64);
    ctx.xhr_expect(&format!("/echo/000/{ok}"), "o\n").await?;
    let huge = "c".repeat(4000);
    let paths = [
        ("POST", format!("/echo/000/{long}/xhr")),
        ("POST", format!("/echo/000/{long}/xhr_send")),
        ("POST", format!("/echo/000/{long}/xhr_streaming")),
        ("GET", format!("/echo/000/{long}/eventsource")),
        ("GET", format!("/echo/000/{long}/jsonp?c=x")),
        ("GET", format!("/echo/000/{long}/websocket")),
        ("POST", format!("/echo/{long}/{ok}/xhr")),
        ("POST", format!("/echo/000/{huge}/xhr")),
    ];
    for (method, path) in paths {
        let body = if method == "POST" { "[\"x\"]" } else { "" };
        let mut req = Request::new(method, path.clone()).body(body);
        if path.ends_with("/websocket") {
            req = req
                .header("Upgrade", "websocket")
                .header("Connection", "Upgrade")
                .header("Sec-WebSocket-Version", "13")
                .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        let r = ctx.send(req).await?;
        let shown: String = path.chars().take(70).collect();
        ensure_eq!(
            r.status(),
            404,
            "{method} {shown}... (a {}-byte id)",
            if path.contains(&huge) { 4000 } else { 65 }
        );
    }
    Ok(None)
}
