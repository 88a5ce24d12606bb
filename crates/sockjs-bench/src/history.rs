//! `history-memory`: what a room keeps per message of its history, in
//! server RSS. One websocket session joins the history room of
//! `--prefix` (default `/history_broadcast`: every session is a member of
//! room `all`, which keeps its last 10,000 messages); it sends `--sessions`
//! N distinct messages of `--message-bytes` B bytes, reads every one back
//! (in its position envelope, positions following each other), and the
//! server's RSS is read before the first and after the last, the session
//! open both times. Per retained message: the growth divided by N (the
//! room keeps them all while N is within its bounds).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::echo::open_ws;
use crate::frame::{self, clip, Frame};
use crate::procfs;
use crate::Ctx;

/// Messages per websocket frame sent.
const BATCH: usize = 100;

/// Longest the whole exchange may take.
const LIMIT: Duration = Duration::from_secs(60);

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Value, String> {
    let n = ctx.args.sessions;
    let bytes = ctx.args.message_bytes;
    let pid = ctx.args.server_pid;
    let path = format!("{}/websocket", ctx.session_base(0));
    let mut ws = open_ws(ctx.net_for(0), &path, true).await?;
    // One message through first, so that the room exists and the session
    // has written a frame: neither is counted as history.
    let deadline = Instant::now() + LIMIT;
    let mut next = 0usize;
    let mut last_offset = None;
    ws.send(Message::text(
        json!([message(usize::MAX, bytes)]).to_string(),
    ))
    .await
    .map_err(|e| format!("send: {e}"))?;
    let mut warm = usize::MAX;
    receive(&mut ws, 1, &mut warm, &mut last_offset, deadline).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = procfs::rss_kib(pid);
    while next < n {
        let batch: Vec<String> = (next..(next + BATCH).min(n))
            .map(|k| message(k, bytes))
            .collect();
        ws.send(Message::text(json!(batch).to_string()))
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut k = next;
        receive(&mut ws, batch.len(), &mut k, &mut last_offset, deadline).await?;
        next += batch.len();
    }
    // jemalloc hands back what was only passing through within a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = procfs::rss_kib(pid);
    let _ = ws.close(None).await;
    let per_message = match (before, after) {
        (Some(b), Some(a)) => Some((a as f64 - b as f64) * 1024.0 / n as f64),
        _ => None,
    };
    Ok(json!({
        "scenario": "history-memory",
        "messages": n,
        "message_bytes": bytes,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_message_bytes": per_message,
        "errors": 0,
    }))
}

/// Message `k`: `k` and its length, padded with `x` to `bytes` (at least
/// the number).
fn message(k: usize, bytes: usize) -> String {
    let head = format!("{k}:");
    let pad = bytes.saturating_sub(head.len());
    format!("{head}{}", "x".repeat(pad))
}

/// Reads `count` room messages, each in its envelope: message `*k` onwards
/// (`usize::MAX`: the warm-up message), positions following each other.
async fn receive(
    ws: &mut crate::net::Ws,
    count: usize,
    k: &mut usize,
    last_offset: &mut Option<u64>,
    deadline: Instant,
) -> Result<(), String> {
    let mut got = 0;
    while got < count {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(format!("{got} of {count} messages within {LIMIT:?}")),
            Ok(None) => return Err("connection closed by the server".into()),
            Ok(Some(Err(e))) => return Err(format!("receive: {e}")),
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(text) = msg else { continue };
        let ms = match frame::parse(text.as_str())? {
            Frame::Messages(ms) => ms,
            Frame::Heartbeat => continue,
            other => return Err(format!("unexpected frame {other:?}")),
        };
        for m in ms {
            let v: Value = serde_json::from_str(&m)
                .map_err(|e| format!("not an envelope ({e}): {}", clip(&m)))?;
            let (Some(pos), Some(data)) = (v["pos"].as_str(), v["data"].as_str()) else {
                return Err(format!("not an envelope: {}", clip(&m)));
            };
            let offset: u64 = pos
                .rsplit_once('-')
                .and_then(|(_, o)| o.parse().ok())
                .ok_or_else(|| format!("bad position {pos}"))?;
            if last_offset.is_some_and(|last| offset != last + 1) {
                return Err(format!("position {offset} after {last_offset:?}"));
            }
            *last_offset = Some(offset);
            let expected = format!("{}:", *k);
            if !data.starts_with(&expected) {
                return Err(format!("expected message {expected}.., got {}", clip(data)));
            }
            if *k != usize::MAX {
                *k += 1;
            }
            got += 1;
        }
    }
    Ok(())
}
