//! PROTOCOL.md section 6, bad payloads: what xhr_send and jsonp_send do with
//! empty, broken and non-array bodies, for every request content type.

use super::jsonp::jsonp_send_form;
use super::support::{error_500, next_xhr_frame};
use super::{Ctx, Failure, Outcome};
use crate::client::{Request, Streaming};

checks!("payload",
    xhr_send_bad: "xhr_send: empty → 500 `Payload expected.`, broken JSON → 500 `Broken JSON encoding.`, non-array → 500 `Payload expected.`, for every content type; nothing reaches the app",
    jsonp_send_bad_form: "jsonp_send form bodies: broken `d` → `Broken JSON encoding.`; empty, `d=`, no `d`, non-array → `Payload expected.`",
    jsonp_send_bad_text: "jsonp_send text/plain bodies: empty → `Payload expected.`, broken → `Broken JSON encoding.`, non-array → `Payload expected.`",
    post_without_content_length: "POSTs without Content-Length are answered (xhr opens, xhr_send says `Payload expected.`)",
);

const XHR_CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "T",
    "application/json",
    "application/xml",
    "",
    "application/json; charset=utf-8",
    "text/xml; charset=utf-8",
    "text/xml",
];

const BROKEN: &str = "Broken JSON encoding.";
const EXPECTED: &str = "Payload expected.";

/// Opens a session with an attached xhr_streaming receiver, so the session
/// cannot time out during a long series of sends and everything the
/// application echoes shows up on it.
async fn attached(ctx: &Ctx) -> Result<(String, Streaming), Failure> {
    let s = ctx.session("echo");
    let mut r = ctx.xhr_streaming(&s).await?;
    ensure_eq!(next_xhr_frame(&mut r).await?, "o\n", "xhr_streaming on {s}");
    Ok((s, r))
}

/// After the rejected payloads, a good one: the first thing the application
/// echoes must be it.
async fn only_good_one_arrives(ctx: &Ctx, s: &str, r: &mut Streaming, jsonp: bool) -> Outcome {
    if jsonp {
        let resp = jsonp_send_form(ctx, s, "d=%5B%22ok%22%5D").await?;
        ensure_eq!(
            resp.text(),
            "ok",
            "POST {s}/jsonp_send after the bad ones: body"
        );
    } else {
        ctx.xhr_send_ok(s, "[\"ok\"]").await?;
    }
    ensure_eq!(
        next_xhr_frame(r).await?,
        "a[\"ok\"]\n",
        "what the application got after the rejected payloads and one good one"
    );
    Ok(None)
}

async fn xhr_send_bad(ctx: Ctx) -> Outcome {
    let (s, mut stream) = attached(&ctx).await?;
    for ct in XHR_CONTENT_TYPES {
        for (body, needle) in [
            ("", EXPECTED),
            ("[\"x", BROKEN),
            ("[\"x\",", BROKEN),
            ("{}", EXPECTED),
            ("\"x\"", EXPECTED),
            ("null", EXPECTED),
            ("1", EXPECTED),
        ] {
            let r = ctx
                .send(
                    Request::new("POST", format!("{s}/xhr_send"))
                        .header("Content-Type", ct)
                        .body(body),
                )
                .await?;
            error_500(
                &r,
                needle,
                &format!("POST {s}/xhr_send {body:?} with Content-Type {ct:?}"),
            )?;
        }
    }
    only_good_one_arrives(&ctx, &s, &mut stream, false).await
}

async fn jsonp_send_bad_form(ctx: Ctx) -> Outcome {
    let (s, mut stream) = attached(&ctx).await?;
    for (body, needle) in [
        ("d=%5B%22x", BROKEN),
        ("", EXPECTED),
        ("d=", EXPECTED),
        ("p=p", EXPECTED),
        ("d=%7B%7D", EXPECTED),
        ("d=%22x%22", EXPECTED),
    ] {
        let r = jsonp_send_form(&ctx, &s, body).await?;
        error_500(&r, needle, &format!("POST {s}/jsonp_send form {body:?}"))?;
    }
    only_good_one_arrives(&ctx, &s, &mut stream, true).await
}

async fn jsonp_send_bad_text(ctx: Ctx) -> Outcome {
    let (s, mut stream) = attached(&ctx).await?;
    for (body, needle) in [("", EXPECTED), ("[\"x", BROKEN), ("{}", EXPECTED)] {
        let r = ctx
            .send(
                Request::new("POST", format!("{s}/jsonp_send"))
                    .header("Content-Type", "text/plain")
                    .body(body),
            )
            .await?;
        error_500(
            &r,
            needle,
            &format!("POST {s}/jsonp_send text/plain {body:?}"),
        )?;
    }
    only_good_one_arrives(&ctx, &s, &mut stream, true).await
}

async fn post_without_content_length(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    let r = ctx
        .send(Request::new("POST", format!("{s}/xhr")).without_content_length())
        .await?;
    ensure_eq!(
        r.status(),
        200,
        "POST {s}/xhr without Content-Length: status"
    );
    ensure_eq!(r.text(), "o\n", "POST {s}/xhr without Content-Length: body");
    let r = ctx
        .send(Request::new("POST", format!("{s}/xhr_send")).without_content_length())
        .await?;
    error_500(
        &r,
        EXPECTED,
        &format!("POST {s}/xhr_send without Content-Length"),
    )?;
    ctx.xhr_send_ok(&s, "[\"a\"]").await?;
    ctx.xhr_expect(&s, "a[\"a\"]\n").await?;
    Ok(None)
}
