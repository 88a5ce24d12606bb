//! PROTOCOL.md section 2: JSON escaping by the server and decoding of
//! client escapes.

use std::fmt::Write as _;

use super::{Ctx, Failure, Outcome};
use crate::client::{decode_frame, Frame};

checks!("encoding",
    server_escapes_xhr: "xhr frames escape every character of [\\u200c-\\u200f\\u2028-\\u202f\\u2060-\\u206f\\ufff0-\\uffff] as lowercase \\uXXXX",
    server_escapes_websocket: "websocket frames escape the same characters",
    server_escapes_controls: "control characters \\x00-\\x1f never appear raw in a frame; \\u escapes use lowercase hex",
    decodes_every_escape: "every BMP character sent as a \\uXXXX escape arrives intact",
    decodes_surrogate_pairs: "surrogate pairs written as escapes (\\ud83d\\ude00) decode to one character",
    decodes_short_escapes: "the short escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t decode",
);

/// Characters the server must escape (beyond what JSON requires).
fn server_escapable() -> impl Iterator<Item = char> {
    [
        (0x200c, 0x200f),
        (0x2028, 0x202f),
        (0x2060, 0x206f),
        (0xfff0, 0xffff),
    ]
    .into_iter()
    .flat_map(|(a, b)| a..=b)
    .filter_map(char::from_u32)
}

fn escaped(chars: impl Iterator<Item = char>) -> String {
    chars.fold(String::new(), |mut s, c| {
        let _ = write!(s, "\\u{:04x}", c as u32);
        s
    })
}

async fn server_escapes_xhr(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    let raw: String = server_escapable().collect();
    ctx.xhr_send_ok(&s, &format!("[\"{raw}\"]")).await?;
    let expected = format!("a[\"{}\"]\n", escaped(server_escapable()));
    ctx.xhr_expect(&s, &expected).await?;
    Ok(None)
}

async fn server_escapes_websocket(ctx: Ctx) -> Outcome {
    let path = format!("{}/websocket", ctx.session("echo"));
    let mut ws = ctx.target.ws(&path).await?;
    ensure_eq!(ws.recv_text().await?, "o", "{path}: first message");
    let raw: String = server_escapable().collect();
    ws.send(&format!("[\"{raw}\"]")).await?;
    let expected = format!("a[\"{}\"]", escaped(server_escapable()));
    ensure_eq!(ws.recv_text().await?, expected, "{path}: echo");
    ws.close().await;
    Ok(None)
}

async fn server_escapes_controls(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    let controls: String = (0u8..0x20).map(char::from).collect();
    ctx.xhr_send_ok(&s, &format!("[\"{}\"]", escaped(controls.chars())))
        .await?;
    let r = ctx.post(&format!("{s}/xhr"), "").await?;
    let body = r.text();
    let frame = body
        .strip_suffix('\n')
        .ok_or_else(|| Failure(format!("POST {s}/xhr: no trailing newline in {body:?}")))?;
    ensure!(
        !frame.bytes().any(|b| b < 0x20),
        "POST {s}/xhr: raw control characters in {frame:?}"
    );
    let mut rest = frame;
    while let Some(i) = rest.find("\\u") {
        let hex = rest.get(i + 2..i + 6).unwrap_or_default();
        ensure!(
            hex.len() == 4
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "POST {s}/xhr: escape \\u{hex} is not lowercase hex in {frame:?}"
        );
        rest = &rest[i + 6..];
    }
    ensure_eq!(
        decode_frame(frame).map_err(Failure)?,
        Frame::Messages(vec![controls]),
        "POST {s}/xhr: decoded"
    );
    Ok(None)
}

/// Sends `escaped_json` (the inside of a JSON string) and expects it back
/// decoded to `expected`.
async fn round_trip(ctx: &Ctx, s: &str, escaped_json: &str, expected: &str) -> Result<(), Failure> {
    ctx.xhr_send_ok(s, &format!("[\"{escaped_json}\"]")).await?;
    let r = ctx.post(&format!("{s}/xhr"), "").await?;
    let body = r.text();
    let frame = decode_frame(body.trim_end_matches('\n')).map_err(Failure)?;
    if frame != Frame::Messages(vec![expected.to_string()]) {
        let got = match &frame {
            Frame::Messages(m) => m
                .iter()
                .map(|m| escaped(m.chars()))
                .collect::<Vec<_>>()
                .join(", "),
            other => format!("{other:?}"),
        };
        return Err(super::support::mismatch(
            format!(
                "POST {s}/xhr after sending {} escaped characters",
                escaped_json.len() / 6
            ),
            &escaped(expected.chars()),
            &got,
        ));
    }
    Ok(())
}

async fn decodes_every_escape(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    let all: Vec<char> = (0u32..=0xffff).filter_map(char::from_u32).collect();
    for batch in all.chunks(4096) {
        let expected: String = batch.iter().collect();
        round_trip(&ctx, &s, &escaped(batch.iter().copied()), &expected).await?;
    }
    Ok(None)
}

async fn decodes_surrogate_pairs(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    round_trip(
        &ctx,
        &s,
        "\\ud83d\\ude00\\ud800\\udc00\\udbff\\udfff",
        "\u{1f600}\u{10000}\u{10ffff}",
    )
    .await?;
    Ok(None)
}

async fn decodes_short_escapes(ctx: Ctx) -> Outcome {
    let s = ctx.session("echo");
    ctx.xhr_expect(&s, "o\n").await?;
    round_trip(
        &ctx,
        &s,
        "\\\" \\\\ \\/ \\b \\f \\n \\r \\t",
        "\" \\ / \u{8} \u{c} \n \r \t",
    )
    .await?;
    Ok(None)
}
