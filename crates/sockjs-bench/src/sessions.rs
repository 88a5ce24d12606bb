//! `sessions-ws`, `sessions-xhr-streaming`, `sessions-eventsource` and
//! `sessions-htmlfile`: open N sessions, hold them,
//! check that each still echoes, close them all; read the server's RSS and
//! CPU time between the phases.
//!
//! `sessions-mixed` (the sizing run of BENCHMARKS.md): N sessions, a
//! quarter on each of websocket, xhr-streaming, eventsource and htmlfile,
//! held idle for `--hold-s` seconds while every heartbeat is read; reports
//! the server's RSS per session, its CPU time per second and per heartbeat
//! while holding, and the kernel's TCP memory (`/proc/net/sockstat`, the
//! whole machine's: both ends of every loopback connection).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::echo::{open_ws, within};
use crate::frame::{self, clip, Frame};
use crate::http::{Sender, Stream, StreamKind};
use crate::net::Ws;
use crate::{procfs, Ctx};

/// Which transport holds the sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ws,
    /// A streaming HTTP transport (xhr_streaming, eventsource, htmlfile).
    Streaming(StreamKind),
    /// Session `i` on the `i mod 4`-th of [`MIXED`].
    Mixed,
}

/// The transports of [`Kind::Mixed`], in turn.
const MIXED: [Kind; 4] = [
    Kind::Ws,
    Kind::Streaming(StreamKind::XhrStreaming),
    Kind::Streaming(StreamKind::EventSource),
    Kind::Streaming(StreamKind::HtmlFile),
];

/// Sessions opened (or checked, or closed) at the same time.
const WORKERS: usize = 128;

#[derive(Debug)]
enum Held {
    Ws(Box<Ws>),
    Xhr(Box<Stream>),
}

pub(crate) async fn run(ctx: Arc<Ctx>, kind: Kind) -> Result<Value, String> {
    let n = ctx.args.sessions;
    let pid = ctx.args.server_pid;
    let workers = WORKERS.min(n).max(1);
    let rss_base = procfs::rss_kib(pid);
    let cpu0 = procfs::cpu_us(pid);
    let t0 = Instant::now();
    // Generous, but bounded: about 0.5 ms a session plus a minute.
    let deadline = t0 + Duration::from_secs(60) + Duration::from_micros(500 * n as u64);

    let opening: Vec<_> = (0..workers)
        .map(|w| tokio::spawn(open_group(ctx.clone(), kind, w, workers, n, deadline)))
        .collect();
    let mut groups = Vec::with_capacity(workers);
    for t in opening {
        groups.push(t.await.map_err(|e| format!("open task: {e}"))?);
    }
    let open_s = t0.elapsed().as_secs_f64();
    let cpu1 = procfs::cpu_us(pid);
    let opened: usize = groups.iter().map(Vec::len).sum();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = procfs::rss_kib(pid);

    let t1 = Instant::now();
    let check_deadline = t1 + Duration::from_secs(30) + Duration::from_micros(500 * n as u64);
    let checking: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(w, g)| tokio::spawn(check_group(ctx.clone(), w, g, check_deadline)))
        .collect();
    let mut groups = Vec::with_capacity(workers);
    let mut echoed = 0usize;
    for t in checking {
        let (g, ok) = t.await.map_err(|e| format!("check task: {e}"))?;
        echoed += ok;
        groups.push(g);
    }
    let check_s = t1.elapsed().as_secs_f64();

    let closing: Vec<_> = groups
        .into_iter()
        .map(|g| tokio::spawn(close_group(g)))
        .collect();
    for t in closing {
        let _ = t.await;
    }
    tokio::time::sleep(ctx.args.settle).await;
    let rss_closed = procfs::rss_kib(pid);

    let per = |a: Option<u64>, b: Option<u64>| -> Value {
        match (a, b) {
            (Some(a), Some(b)) if opened > 0 => json!((b as f64 - a as f64) / opened as f64),
            _ => Value::Null,
        }
    };
    Ok(json!({
        "scenario": ctx.args.scenario,
        "sessions": n,
        "opened": opened,
        "echoed": echoed,
        "open_s": open_s,
        "check_s": check_s,
        "rss_base_kib": rss_base,
        "rss_open_kib": rss_open,
        "rss_closed_kib": rss_closed,
        "rss_per_session_kib": per(rss_base, rss_open),
        "cpu_us_per_session": per(cpu0, cpu1),
    }))
}

async fn open_one(ctx: &Ctx, kind: Kind, i: usize) -> Result<Held, String> {
    let base = ctx.session_base(i);
    let kind = match kind {
        Kind::Mixed => MIXED[i % MIXED.len()],
        kind => kind,
    };
    Ok(match kind {
        Kind::Mixed => unreachable!("resolved above"),
        Kind::Ws => {
            let ws = open_ws(&ctx.net, &format!("{base}/websocket"), true).await?;
            Held::Ws(Box::new(ws))
        }
        Kind::Streaming(stream) => {
            let mut s = Stream::open(&ctx.net, &base, stream).await?;
            s.shrink();
            Held::Xhr(Box::new(s))
        }
    })
}

async fn open_group(
    ctx: Arc<Ctx>,
    kind: Kind,
    w: usize,
    workers: usize,
    n: usize,
    deadline: Instant,
) -> Vec<(usize, Held)> {
    let mut held = Vec::with_capacity(n / workers + 1);
    for i in (w..n).step_by(workers) {
        let per_session = (Instant::now() + Duration::from_secs(20)).min(deadline);
        match within(per_session, "session open", open_one(&ctx, kind, i)).await {
            Ok(h) => held.push((i, h)),
            Err(e) => ctx.errors.report(format!("session {i}: {e}")),
        }
    }
    held
}

/// Sends one message on every session of the group and awaits its echo.
async fn check_group(
    ctx: Arc<Ctx>,
    w: usize,
    mut group: Vec<(usize, Held)>,
    deadline: Instant,
) -> (Vec<(usize, Held)>, usize) {
    let mut sender = Sender::new();
    let mut ok = 0;
    let mut failed = Vec::new();
    for (idx, (i, held)) in group.iter_mut().enumerate() {
        let want = format!("s{i} still here");
        let body = format!("[\"{want}\"]");
        let check = async {
            let frame = match held {
                Held::Ws(ws) => {
                    ws.send(Message::text(body))
                        .await
                        .map_err(|e| format!("send: {e}"))?;
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) if t.as_str() != "h" => break t.to_string(),
                            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                            other => return Err(format!("receive: {other:?}")),
                        }
                    }
                }
                Held::Xhr(s) => {
                    let path = format!("{}/xhr_send", ctx.session_base(*i));
                    sender.send(&ctx.net, &path, body.as_bytes()).await?;
                    s.next_frame(&ctx.net).await?
                }
            };
            match frame::parse(&frame)? {
                Frame::Messages(ms) if ms.len() == 1 && ms[0] == want => Ok(()),
                _ => Err(format!(
                    "expected the echo of {want:?}, got {}",
                    clip(&frame)
                )),
            }
        };
        let per_session = (Instant::now() + Duration::from_secs(10)).min(deadline);
        match within(per_session, "the echo", check).await {
            Ok(()) => ok += 1,
            Err(e) => {
                ctx.errors.report(format!("session {i} (worker {w}): {e}"));
                failed.push(idx);
            }
        }
    }
    // A session whose check failed is in an unknown state: drop it now.
    for idx in failed.into_iter().rev() {
        group.swap_remove(idx);
    }
    (group, ok)
}

async fn close_group(group: Vec<(usize, Held)>) {
    for (_, held) in group {
        match held {
            Held::Ws(mut ws) => {
                let _ = tokio::time::timeout(Duration::from_millis(500), (*ws).close(None)).await;
            }
            Held::Xhr(s) => drop(s),
        }
    }
}

/// `sessions-mixed`: open, hold idle reading heartbeats, close.
pub(crate) async fn run_mixed(ctx: Arc<Ctx>) -> Result<Value, String> {
    let n = ctx.args.sessions;
    let pid = ctx.args.server_pid;
    let workers = WORKERS.min(n).max(1);
    let rss_base = procfs::rss_kib(pid);
    let tcp_base = procfs::sockstat_tcp();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(60) + Duration::from_micros(500 * n as u64);
    let opening: Vec<_> = (0..workers)
        .map(|w| {
            tokio::spawn(open_group(
                ctx.clone(),
                Kind::Mixed,
                w,
                workers,
                n,
                deadline,
            ))
        })
        .collect();
    let mut held = Vec::with_capacity(n);
    for t in opening {
        held.extend(t.await.map_err(|e| format!("open task: {e}"))?);
    }
    let open_s = t0.elapsed().as_secs_f64();
    let opened = held.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_open = procfs::rss_kib(pid);
    let tcp_open = procfs::sockstat_tcp();

    // Hold: every session reads its heartbeats until the end.
    let heartbeats = Arc::new(AtomicU64::new(0));
    let t1 = Instant::now();
    let hold = Duration::from_secs(ctx.args.hold_s);
    let end = t1 + hold;
    let cpu1 = procfs::cpu_us(pid);
    let readers: Vec<_> = held
        .into_iter()
        .map(|(i, h)| tokio::spawn(read_heartbeats(ctx.clone(), i, h, end, heartbeats.clone())))
        .collect();
    let mut rss_max = rss_open;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1).min(end - Instant::now())).await;
        rss_max = rss_max.max(procfs::rss_kib(pid));
    }
    let cpu2 = procfs::cpu_us(pid);
    let held_s = t1.elapsed().as_secs_f64();
    let beats = heartbeats.load(Ordering::Relaxed);
    let mut still = 0;
    for r in readers {
        if let Ok(Some(h)) = r.await {
            still += 1;
            drop(h);
        }
    }
    tokio::time::sleep(ctx.args.settle).await;
    let rss_closed = procfs::rss_kib(pid);

    let cpu_us = match (cpu1, cpu2) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
        _ => None,
    };
    Ok(json!({
        "scenario": ctx.args.scenario,
        "sessions": n,
        "opened": opened,
        "held_to_the_end": still,
        "open_s": open_s,
        "held_s": held_s,
        "rss_base_kib": rss_base,
        "rss_open_kib": rss_open,
        "rss_max_kib": rss_max,
        "rss_closed_kib": rss_closed,
        "rss_per_session_kib": match (rss_base, rss_open) {
            (Some(a), Some(b)) if opened > 0 => json!((b as f64 - a as f64) / opened as f64),
            _ => Value::Null,
        },
        "heartbeats": beats,
        "heartbeats_per_s": beats as f64 / held_s,
        "server_cpu_us_per_s": cpu_us.map(|c| c / held_s),
        "server_cpu_us_per_heartbeat": cpu_us.filter(|_| beats > 0).map(|c| c / beats as f64),
        "tcp_mem_pages_base": tcp_base.map(|t| t.mem_pages),
        "tcp_mem_pages_open": tcp_open.map(|t| t.mem_pages),
        "tcp_inuse_open": tcp_open.map(|t| t.inuse),
    }))
}

/// Reads heartbeats (and nothing else) on one held session until `end`;
/// the session back if it lasted.
async fn read_heartbeats(
    ctx: Arc<Ctx>,
    i: usize,
    mut held: Held,
    end: Instant,
    count: Arc<AtomicU64>,
) -> Option<Held> {
    let read = async {
        loop {
            let frame = match &mut held {
                Held::Ws(ws) => match ws.next().await {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => return format!("receive: {other:?}"),
                },
                Held::Xhr(s) => {
                    s.heartbeats = true;
                    match s.next_frame(&ctx.net).await {
                        Ok(frame) => frame,
                        Err(e) => return e,
                    }
                }
            };
            if frame != "h" {
                return format!("an idle session got {}", clip(&frame));
            }
            count.fetch_add(1, Ordering::Relaxed);
        }
    };
    match tokio::time::timeout_at(end, read).await {
        // Held to the end.
        Err(_) => Some(held),
        Ok(e) => {
            ctx.errors.report(format!("session {i}: {e}"));
            None
        }
    }
}
