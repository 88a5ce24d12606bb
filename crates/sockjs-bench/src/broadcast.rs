//! `broadcast`: C websocket sessions on the broadcast service; session 0
//! also sends, keeping `--pipeline` (default 8) messages in flight, where a
//! message is in flight until every session has received it. Each session
//! checks that it gets every message, in order. Throughput is counted in
//! deliveries (messages × sessions). On a service whose room keeps history
//! (`--prefix /history_broadcast`) each message comes in its position
//! envelope, and each session also checks that positions follow each other.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::echo::{open_ws, within, SETUP};
use crate::frame::{self, clip, Frame};
use crate::net::Ws;
use crate::stats::{run_clients, Rec, Start, Window};
use crate::Ctx;

const RING: usize = 256;

#[derive(Debug)]
struct Shared {
    base: Instant,
    sent_at: Vec<AtomicU64>,
    remaining: Vec<AtomicU32>,
    permits: Semaphore,
    sent: AtomicU64,
    done: AtomicBool,
    sessions: u32,
}

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Value, String> {
    let n = ctx.args.clients;
    let depth = if ctx.args.pipeline == 0 {
        8
    } else {
        ctx.args.pipeline
    };
    if depth >= RING {
        return Err(format!("--pipeline must be below {RING}"));
    }
    let shared = Arc::new(Shared {
        base: Instant::now(),
        sent_at: (0..RING).map(|_| AtomicU64::new(0)).collect(),
        remaining: (0..RING).map(|_| AtomicU32::new(0)).collect(),
        permits: Semaphore::new(0),
        sent: AtomicU64::new(0),
        done: AtomicBool::new(false),
        sessions: n as u32,
    });
    let mut report = run_clients(ctx, n, move |i, ctx, start| {
        let shared = shared.clone();
        async move {
            let mut rec = Rec::default();
            if let Err(e) = session(i, &ctx, &start, &shared, depth, &mut rec).await {
                ctx.errors.report(format!("session {i}: {e}"));
            }
            rec
        }
    })
    .await?;
    report["pipeline"] = depth.into();
    report["unit"] = "deliveries".into();
    Ok(report)
}

async fn session(
    i: usize,
    ctx: &Ctx,
    start: &Start,
    shared: &Arc<Shared>,
    depth: usize,
    rec: &mut Rec,
) -> Result<(), String> {
    let path = format!("{}/websocket", ctx.session_base(i));
    let opened = within(
        Instant::now() + SETUP,
        "session setup",
        open_ws(ctx.net_for(i), &path, true),
    )
    .await;
    let w = start.ready().await;
    let ws = opened?;
    let (sink, mut stream) = ws.split();
    let sender = if i == 0 {
        Some(tokio::spawn(send(sink, shared.clone(), w, depth)))
    } else {
        drop(sink);
        None
    };
    let mut next_k = 0u64;
    let mut last_offset: Option<u64> = None;
    let result = async {
        loop {
            let now = Instant::now();
            if now >= w.to
                && shared.done.load(Ordering::SeqCst)
                && next_k >= shared.sent.load(Ordering::SeqCst)
            {
                return Ok(());
            }
            if now >= w.grace {
                let missing = shared.sent.load(Ordering::SeqCst).saturating_sub(next_k);
                return Err(format!("{missing} broadcast messages never came"));
            }
            let wake = if now < w.to {
                w.to
            } else {
                (now + Duration::from_millis(50)).min(w.grace)
            };
            let msg = match tokio::time::timeout_at(wake, stream.next()).await {
                Err(_) => continue,
                Ok(None) => return Err("connection closed by the server".to_string()),
                Ok(Some(Err(e))) => return Err(format!("receive: {e}")),
                Ok(Some(Ok(m))) => m,
            };
            let now = Instant::now();
            let text = match msg {
                Message::Text(t) => t,
                Message::Close(c) => return Err(format!("closed by the server: {c:?}")),
                Message::Binary(_) => return Err("unexpected binary message".into()),
                _ => continue,
            };
            let ms = match frame::parse(text.as_str())? {
                Frame::Messages(ms) => ms,
                Frame::Heartbeat => continue,
                Frame::Open => return Err("a second o frame".into()),
                Frame::Close { code, reason } => {
                    return Err(format!("session closed by the server: {code} {reason:?}"))
                }
            };
            for m in ms {
                let data = match envelope(&m) {
                    Some((offset, data)) => {
                        if last_offset.is_some_and(|last| offset != last + 1) {
                            return Err(format!(
                                "position {offset} after {last_offset:?}: {}",
                                clip(&m)
                            ));
                        }
                        last_offset = Some(offset);
                        data
                    }
                    None => &*m,
                };
                let k = data.strip_prefix('b').and_then(|k| k.parse::<u64>().ok());
                if k != Some(next_k) {
                    return Err(format!("expected b{next_k}, got {}", clip(&m)));
                }
                let slot = next_k as usize % RING;
                next_k += 1;
                let sent =
                    shared.base + Duration::from_nanos(shared.sent_at[slot].load(Ordering::SeqCst));
                rec.record(&w, sent, now);
                if shared.remaining[slot].fetch_sub(1, Ordering::SeqCst) == 1 {
                    shared.permits.add_permits(1);
                }
            }
        }
    }
    .await;
    if let Some(sender) = sender {
        match sender.await {
            Ok(Ok(mut sink)) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
            }
            Ok(Err(e)) => ctx.errors.report(format!("sender: {e}")),
            Err(e) => ctx.errors.report(format!("sender task: {e}")),
        }
    }
    result
}

/// A room message in the position envelope of a room with history,
/// `{"room":..,"pos":"<epoch>-<offset>","data":..}`: its offset and data.
/// Read by hand rather than through `serde_json::Value`: the load
/// generator is the limit of the broadcast scenario, and a parse per
/// delivery would measure it rather than the server. The data of this
/// scenario (`b<k>`) has nothing to escape.
fn envelope(m: &str) -> Option<(u64, &str)> {
    let field = |name: &str| {
        let at = m.find(name)? + name.len();
        let rest = m[at..].strip_prefix(":\"")?;
        rest.split_once('"').map(|(v, _)| v)
    };
    if !m.starts_with('{') {
        return None;
    }
    let offset = field("\"pos\"")?.rsplit_once('-')?.1.parse().ok()?;
    Some((offset, field("\"data\"")?))
}

/// The one sender: a new message whenever fewer than `depth` are in flight,
/// until the window closes.
async fn send(
    mut sink: SplitSink<Ws, Message>,
    shared: Arc<Shared>,
    w: Window,
    depth: usize,
) -> Result<SplitSink<Ws, Message>, String> {
    shared.permits.add_permits(depth);
    let mut k = 0u64;
    let result = async {
        loop {
            match tokio::time::timeout_at(w.to, shared.permits.acquire()).await {
                Ok(Ok(permit)) => permit.forget(),
                _ => return Ok(()),
            }
            let now = Instant::now();
            if now >= w.to {
                return Ok(());
            }
            let slot = k as usize % RING;
            shared.remaining[slot].store(shared.sessions, Ordering::SeqCst);
            let since = now.saturating_duration_since(shared.base).as_nanos() as u64;
            shared.sent_at[slot].store(since, Ordering::SeqCst);
            sink.send(Message::text(format!("[\"b{k}\"]")))
                .await
                .map_err(|e| format!("send: {e}"))?;
            k += 1;
            shared.sent.store(k, Ordering::SeqCst);
        }
    }
    .await;
    shared.done.store(true, Ordering::SeqCst);
    result.map(|()| sink)
}

#[cfg(test)]
mod tests {
    use super::envelope;

    #[test]
    fn envelopes_give_offset_and_data() {
        let m = r#"{"room":"all","pos":"5f3a9c-17","data":"b4"}"#;
        assert_eq!(envelope(m), Some((17, "b4")));
        assert_eq!(envelope("b4"), None);
        assert_eq!(envelope(r#"{"room":"all","data":"b4"}"#), None);
        assert_eq!(envelope(r#"{"pos":"5f-x","data":"b4"}"#), None);
    }
}
