//! The connection storm: `--clients` websocket and `--clients`
//! xhr-streaming sessions opening at the same moment. Every one must open,
//! echo one message, and close; reported are the times to open (from the
//! common start to the `o` frame) and the server's RSS.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::ledger::{Ledger, Rule};
use super::link::{self, Event, Link};
use super::rng::Rng;
use super::session::read_until;
use super::{server, Report, Transport};
use crate::{procfs, Ctx};

const KINDS: [Transport; 2] = [Transport::WebSocket, Transport::XhrStreaming];

/// A client task, by its transport.
type Task = (Transport, tokio::task::JoinHandle<Option<Duration>>);

/// What the storm measured, for its report.
struct Outcome {
    /// Times to open (ms) of the clients that echoed, per kind.
    times: Vec<Vec<f64>>,
    /// Failed clients per kind.
    failed: Vec<u64>,
    /// From the start until every client had echoed.
    all_open: Duration,
    /// Open sessions by `/stats` then.
    open_sessions: Option<u64>,
    rss_before: Option<u64>,
    rss_peak: Option<u64>,
    rss_after: Option<u64>,
}

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Report, String> {
    let a = &ctx.args;
    let pid = a.server_pid;
    let total = a.clients * KINDS.len();
    let rss_before = procfs::rss_kib(pid);
    let done = Arc::new(AtomicBool::new(false));
    let peak = tokio::spawn(peak_rss(pid, done.clone()));
    let arrived = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let (release, released) = watch::channel(false);
    let t0 = Instant::now();
    let tasks = start_clients(&ctx, t0, &arrived, &all_in, &released);
    wait_all_in(&ctx, &arrived, &all_in, total, t0 + Duration::from_secs(60)).await;
    let all_open = t0.elapsed();
    let open_sessions = server::stats(&ctx.net).await.map(|s| s.open_sessions).ok();
    let _ = release.send(true);
    let (times, failed) = join_clients(&ctx, tasks).await;
    done.store(true, Ordering::Relaxed);
    let rss_peak = peak.await.ok();
    let limit = a.disconnect_delay * 2 + Duration::from_secs(10);
    match server::until_no_sessions(&ctx.net, limit).await {
        Ok(_) => {}
        Err(e) => ctx.errors.report(format!("after the storm: {e}")),
    }
    let rss_after = procfs::rss_kib(pid);
    Ok(Outcome {
        times,
        failed,
        all_open,
        open_sessions,
        rss_before,
        rss_peak,
        rss_after,
    }
    .report(a.clients))
}

/// The server's peak RSS, sampled every 20 ms until `done`.
async fn peak_rss(pid: Option<u32>, done: Arc<AtomicBool>) -> u64 {
    let mut peak = 0;
    while !done.load(Ordering::Relaxed) {
        peak = peak.max(procfs::rss_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    peak
}

/// `--clients` clients of each kind, all started at `t0`.
fn start_clients(
    ctx: &Arc<Ctx>,
    t0: Instant,
    arrived: &Arc<AtomicUsize>,
    all_in: &Arc<Notify>,
    released: &watch::Receiver<bool>,
) -> Vec<Task> {
    let per = ctx.args.clients;
    let mut rng = Rng::new(ctx.args.seed);
    let mut tasks = Vec::with_capacity(per * KINDS.len());
    for (k, transport) in KINDS.into_iter().enumerate() {
        for i in 0..per {
            let id = (k * per + i) as u64;
            tasks.push((
                transport,
                tokio::spawn(client(
                    ctx.clone(),
                    transport,
                    id,
                    rng.fork(),
                    t0,
                    arrived.clone(),
                    all_in.clone(),
                    released.clone(),
                )),
            ));
        }
    }
    tasks
}

/// Waits until all `total` clients have echoed, or `until` (an error then).
async fn wait_all_in(
    ctx: &Ctx,
    arrived: &AtomicUsize,
    all_in: &Notify,
    total: usize,
    until: Instant,
) {
    while arrived.load(Ordering::SeqCst) < total {
        let notified = all_in.notified();
        if arrived.load(Ordering::SeqCst) >= total {
            break;
        }
        if tokio::time::timeout_at(until, notified).await.is_err() {
            ctx.errors.report(format!(
                "storm: only {} of {total} clients done after 60 s",
                arrived.load(Ordering::SeqCst)
            ));
            break;
        }
    }
}

/// Waits (at most 30 s) for every client: the times to open per kind, and
/// the failures per kind.
async fn join_clients(ctx: &Ctx, tasks: Vec<Task>) -> (Vec<Vec<f64>>, Vec<u64>) {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); KINDS.len()];
    let mut failed = vec![0u64; KINDS.len()];
    let fence = Instant::now() + Duration::from_secs(30);
    for (transport, task) in tasks {
        let k = KINDS
            .iter()
            .position(|&t| t == transport)
            .expect("a storm kind");
        match tokio::time::timeout_at(fence, task).await {
            Ok(Ok(Some(open))) => times[k].push(open.as_secs_f64() * 1000.0),
            Ok(Ok(None)) => failed[k] += 1,
            Ok(Err(e)) => {
                failed[k] += 1;
                ctx.errors.report(format!("storm {transport} task: {e}"));
            }
            Err(_) => {
                failed[k] += 1;
                ctx.errors
                    .report(format!("storm {transport}: a client never ended"));
            }
        }
    }
    (times, failed)
}

impl Outcome {
    /// The JSON and markdown of the storm (`per` clients of each kind).
    fn report(mut self, per: usize) -> Report {
        let total = per * KINDS.len();
        let mut all: Vec<f64> = self.times.iter().flatten().copied().collect();
        let (p50, p99, max) = percentiles(&mut all);
        let mut md = String::from(
            "| clients | sessions echoed | open time p50 ms | p99 ms | max ms | failures |\n|---|--:|--:|--:|--:|--:|\n",
        );
        let mut rows = serde_json::Map::new();
        let mut row = |name: &str, t: &mut Vec<f64>, n: usize, failed: u64| {
            let (p50, p99, max) = percentiles(t);
            md.push_str(&format!(
                "| {n} {name} | {} | {p50:.1} | {p99:.1} | {max:.1} | {failed} |\n",
                t.len()
            ));
            rows.insert(
                name.into(),
                json!({"clients": n, "echoed": t.len(), "p50_ms": p50, "p99_ms": p99, "max_ms": max, "failed": failed}),
            );
        };
        for (k, t) in KINDS.iter().enumerate() {
            row(t.name(), &mut self.times[k], per, self.failed[k]);
        }
        row("all", &mut all, total, self.failed.iter().sum());
        let mib = |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        md.push_str(&format!(
            "\nAll {total} open and echoed {:.0} ms after the start ({} open by `/stats`). \
             Server RSS (MiB): before {}, peak {}, after every session was gone {}.\n",
            self.all_open.as_secs_f64() * 1000.0,
            self.open_sessions.map_or("?".into(), |n| n.to_string()),
            mib(self.rss_before),
            mib(self.rss_peak),
            mib(self.rss_after)
        ));
        Report {
            json: json!({
                "phase": "storm",
                "clients_per_transport": per,
                "all_open_ms": self.all_open.as_secs_f64() * 1000.0,
                "p50_ms": p50,
                "p99_ms": p99,
                "max_ms": max,
                "echoed": all.len(),
                "failed": self.failed.iter().sum::<u64>(),
                "open_sessions": self.open_sessions,
                "transports": rows,
                "rss_before_kib": self.rss_before,
                "rss_peak_kib": self.rss_peak,
                "rss_after_kib": self.rss_after,
            }),
            md,
        }
    }
}

/// p50, p99 and max of `v` (sorted in place); zeros when empty.
pub(crate) fn percentiles(v: &mut [f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.5), at(0.99), v[v.len() - 1])
}

/// Opens, echoes one message, waits for the others, closes. Returns the
/// time to open, `None` after a (reported) failure.
#[allow(clippy::too_many_arguments)]
async fn client(
    ctx: Arc<Ctx>,
    transport: Transport,
    id: u64,
    rng: Rng,
    t0: Instant,
    arrived: Arc<AtomicUsize>,
    all_in: Arc<Notify>,
    mut released: watch::Receiver<bool>,
) -> Option<Duration> {
    let net = &ctx.net;
    let mut ledger = Ledger::new(id);
    let mut opened = None;
    let first = async {
        let base = link::base("/echo", &ctx.nonce, id);
        let mut link = Link::open(net, transport, "/echo", &base, rng).await?;
        opened = Some(t0.elapsed());
        let m = ledger.next_messages(1);
        link.tx.send(net, &m).await?;
        let mut hb = 0;
        read_until(net, &mut link.rx, &mut ledger, &mut hb, 1).await?;
        ledger.finish(Rule::All).map_err(|v| v.to_string())?;
        Ok::<_, String>(link)
    };
    let first = tokio::time::timeout(Duration::from_secs(50), first).await;
    arrived.fetch_add(1, Ordering::SeqCst);
    all_in.notify_one();
    let result = match first {
        Ok(Ok(mut link)) => {
            let _ = released.wait_for(|r| *r).await;
            if transport.is_websocket() {
                close_ws(&ctx, &mut link).await
            } else {
                Ok(())
            }
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err("not open and echoed within 50 s".into()),
    };
    match result {
        Ok(()) => opened,
        Err(e) => {
            ctx.errors
                .report(format!("storm {transport} client {id}: {e}"));
            None
        }
    }
}

async fn close_ws(ctx: &Ctx, link: &mut Link) -> Result<(), String> {
    link.tx.close_ws().await?;
    loop {
        match link.rx.next(&ctx.net).await? {
            Event::Heartbeat => {}
            Event::WsClose(Some((1000, _))) => break,
            other => return Err(format!("after our close frame: {other:?}")),
        }
    }
    link.rx.expect_clean_eof(&ctx.net).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(super::percentiles(&mut v), (50.0, 99.0, 100.0));
        assert_eq!(super::percentiles(&mut []), (0.0, 0.0, 0.0));
    }
}
