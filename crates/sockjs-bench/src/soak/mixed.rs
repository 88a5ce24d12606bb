//! The mixed phase: `--clients` sessions at a time on every transport, each
//! following a random [`Plan`], until `--run-s` has passed; then no session
//! may be left over, and the server's RSS must have stayed within the
//! [`memory`] bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::faulty::{self, FaultTally, ToxicCounts};
use super::memory::{self, Bound, Sample, Verdict};
use super::plan::Plan;
use super::rng::Rng;
use super::session::{self, Env};
use super::tally::Tally;
use super::{server, Report, Transport};
use crate::faults::{self, Proxy};
use crate::net::Net;
use crate::{procfs, Args, Ctx};

/// RSS sampling period.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Clients that may be stalled (not reading while sending) at once.
const STALLS_AT_ONCE: usize = 4;

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Report, String> {
    let a = &ctx.args;
    let pid = a.server_pid.ok_or("the soak needs --server-pid")?;
    let run_for = Duration::from_secs(a.run_s);
    let t0 = Instant::now();
    let until = t0 + run_for;
    let next_id = Arc::new(AtomicU64::new(0));

    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample(ctx.clone(), pid, t0, done.clone()));
    let faults = match a.faults {
        0 => None,
        n => Some(start_faults(ctx.clone(), n, until, next_id.clone()).await?),
    };
    let slots = start_slots(&ctx, until, &next_id);

    let tally = join_slots(&ctx, slots).await;
    let (fault_tally, toxics) = match faults {
        Some(f) => {
            let (tally, toxics) = f.finish(&ctx).await;
            (Some(tally), toxics)
        }
        None => (None, Vec::new()),
    };
    let ran = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    let (samples, open_samples) = sampler.await.map_err(|e| format!("sampler: {e}"))?;

    let leftover_ms = leftovers(&ctx).await;
    let rss_end = rss_after(&ctx, pid, samples.first().map(|s| s.rss_kib)).await;
    let bound = Bound {
        percent: a.rss_bound_percent,
        mib: a.rss_bound_mib,
    };
    let verdict = judge_memory(&ctx, &samples, run_for, bound);
    let outcome = Outcome {
        ran,
        tally,
        fault_tally,
        toxics,
        peak_open: open_samples.iter().map(|s| s.1).max().unwrap_or(0),
        samples,
        open_samples,
        leftover_ms,
        rss_end,
        bound,
        verdict,
    };
    Ok(Report {
        json: outcome.json(a),
        md: outcome.md(a),
    })
}

/// `--clients` slots, each running one random session after another until
/// `until`.
fn start_slots(
    ctx: &Arc<Ctx>,
    until: Instant,
    next_id: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<Tally>> {
    let stalls = Arc::new(tokio::sync::Semaphore::new(STALLS_AT_ONCE));
    (0..ctx.args.clients)
        .map(|slot| {
            let ctx = ctx.clone();
            let next_id = next_id.clone();
            let stalls = stalls.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(ctx.args.seed ^ (slot as u64).wrapping_mul(0x9E37_79B9));
                let env = Env {
                    net: &ctx.net,
                    nonce: &ctx.nonce,
                    errors: &ctx.errors,
                    stalls: &stalls,
                };
                let mut tally = Tally::default();
                while Instant::now() < until {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let plan = Plan::random(&mut rng, ctx.args.disconnect_delay);
                    let outcome = session::run(&env, id, &plan, &mut rng).await;
                    tally.add(&outcome);
                }
                tally
            })
        })
        .collect()
}

/// The slots' tallies merged.
async fn join_slots(ctx: &Ctx, slots: Vec<tokio::task::JoinHandle<Tally>>) -> Tally {
    let mut tally = Tally::default();
    for slot in slots {
        // Each session is bounded (session::SESSION_LIMIT): so is the slot.
        match slot.await {
            Ok(t) => tally.merge(&t),
            Err(e) => ctx.errors.report(format!("session slot failed: {e}")),
        }
    }
    tally
}

/// Waits until the server holds no session. Sessions the clients left
/// (HTTP) time out after disconnect_delay; closed ones are forgotten
/// disconnect_delay after their last request. Returns how long it took,
/// `None` (and an error) when sessions were left over.
async fn leftovers(ctx: &Ctx) -> Option<u64> {
    let a = &ctx.args;
    let limit = a.disconnect_delay * 2 + a.heartbeat_delay + Duration::from_secs(10);
    match server::until_no_sessions(&ctx.net, limit).await {
        Ok(d) => Some(d.as_millis() as u64),
        Err(e) => {
            ctx.errors.report(e);
            None
        }
    }
}

/// The server's RSS once every session was gone.
struct RssEnd {
    kib: Option<u64>,
    /// Near the idle server's again ([`memory::settled`]).
    settled: bool,
    /// How long it was polled for.
    settle_ms: u64,
}

/// Memory handed back: polls until RSS is near the idle server's again
/// (`start`), for at most 10 s; an error when it is not.
async fn rss_after(ctx: &Ctx, pid: u32, rss_start: Option<u64>) -> RssEnd {
    let t_end = Instant::now();
    let mut rss_end = procfs::rss_kib(Some(pid));
    while let (Some(start), Some(now)) = (rss_start, rss_end) {
        if memory::settled(start, now) || t_end.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss_end = procfs::rss_kib(Some(pid));
    }
    let settle_ms = t_end.elapsed().as_millis() as u64;
    let settled = match (rss_start, rss_end) {
        (Some(start), Some(end)) => memory::settled(start, end),
        _ => false,
    };
    if !settled {
        ctx.errors.report(format!(
            "server RSS did not come back after the run: {} KiB, {} KiB before it (allowed: {} MiB more)",
            rss_end.unwrap_or(0),
            rss_start.unwrap_or(0),
            memory::AFTER_MIB
        ));
    }
    RssEnd {
        kib: rss_end,
        settled,
        settle_ms,
    }
}

/// The memory bound judged over the run's RSS samples; an error when it
/// was exceeded or could not be judged.
fn judge_memory(ctx: &Ctx, samples: &[Sample], run_for: Duration, bound: Bound) -> Option<Verdict> {
    let verdict = memory::judge(samples, run_for.as_secs_f64(), bound);
    match &verdict {
        Some(v) if !v.ok => ctx.errors.report(format!(
            "server RSS grew beyond the bound: smoothed peak {} KiB > {} KiB \
             (baseline {} KiB + max({}%, {} MiB))",
            v.smoothed_peak_kib, v.limit_kib, v.baseline_kib, bound.percent, bound.mib
        )),
        Some(_) => {}
        None => ctx
            .errors
            .report("too few RSS samples to judge the memory bound"),
    }
    verdict
}

/// What the mixed phase measured, for its report.
struct Outcome {
    ran: Duration,
    tally: Tally,
    fault_tally: Option<FaultTally>,
    toxics: Vec<(&'static str, u64)>,
    samples: Vec<Sample>,
    /// (seconds since the start, open sessions) from `/stats`.
    open_samples: Vec<(f64, u64)>,
    peak_open: u64,
    leftover_ms: Option<u64>,
    rss_end: RssEnd,
    bound: Bound,
    verdict: Option<Verdict>,
}

impl Outcome {
    fn json(&self, a: &Args) -> Value {
        let total = self.tally.total();
        let mut json = json!({
            "phase": "mixed",
            "seconds": self.ran.as_secs_f64(),
            "concurrent": a.clients,
            "seed": a.seed,
            "disconnect_delay_ms": a.disconnect_delay.as_millis() as u64,
            "heartbeat_delay_ms": a.heartbeat_delay.as_millis() as u64,
            "sessions": total.sessions,
            "messages_sent": total.sent,
            "messages_received": total.received,
            "lost_allowed": total.lost_allowed,
            "failed_sessions": total.failed,
            "transports": self.tally.to_json(),
            "peak_open_sessions": self.peak_open,
            "leftover_check_ms": self.leftover_ms,
            "rss_end_kib": self.rss_end.kib,
            "rss_end_ok": self.rss_end.settled,
            "rss_end_settle_ms": self.rss_end.settle_ms,
            "rss_after_mib": memory::AFTER_MIB,
            "rss_bound_percent": self.bound.percent,
            "rss_bound_mib": self.bound.mib,
            "rss_samples": self.samples.iter().map(|s| json!([s.at, s.rss_kib])).collect::<Vec<_>>(),
            "open_sessions_samples": self.open_samples.iter().map(|s| json!([s.0, s.1])).collect::<Vec<_>>(),
        });
        if let Some(v) = &self.verdict {
            if let (Value::Object(j), Value::Object(m)) = (&mut json, v.to_json()) {
                j.extend(m);
            }
        }
        if let Some(f) = &self.fault_tally {
            json["faults"] = f.to_json();
            json["faults"]["clients"] = a.faults.into();
            json["faults"]["toxics"] = self
                .toxics
                .iter()
                .map(|(name, n)| (name.to_string(), Value::from(*n)))
                .collect::<serde_json::Map<_, _>>()
                .into();
            json["fault_sessions"] = f.to_json()["sessions"].clone();
            json["faults_lost_after_ack"] = f.lost_after_ack().into();
            json["faults_duplicated_or_reordered"] = f.duplicated().into();
        }
        json
    }

    fn md(&self, a: &Args) -> String {
        let total = self.tally.total();
        let ran = self.ran;
        let mut md = format!(
            "### Mixed transports\n\n{:.0} s, {} sessions at a time ({} in all, {} per second), \
             seed {}; server with `--disconnect-delay-ms {}` `--heartbeat-delay-ms {}`. \
             Peak of open sessions (`/stats`): {}.\n\n",
            ran.as_secs_f64(),
            a.clients,
            total.sessions,
            (total.sessions as f64 / ran.as_secs_f64()).round(),
            a.seed,
            a.disconnect_delay.as_millis(),
            a.heartbeat_delay.as_millis(),
            self.peak_open
        );
        md.push_str(&self.tally.table());
        md.push_str(&format!(
            "\nAborted HTTP receivers followed by a new request: {}; it got \
             `c[1002,\"Connection interrupted\"]` {} times and a heartbeat {} times (the aborted \
             response had ended by itself), and {} messages still queued.\n",
            total.follow_up_interrupted + total.follow_up_heartbeat,
            total.follow_up_interrupted,
            total.follow_up_heartbeat,
            total.recovered
        ));
        if let Some(f) = &self.fault_tally {
            md.push_str(&f.md(&faulty::toxics_line(&self.toxics)));
        }
        md.push_str(&self.memory_md());
        md
    }

    /// The memory paragraph: RSS over the run, the bound, after the run,
    /// and what was left over.
    fn memory_md(&self) -> String {
        let mib = |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        let verdict = &self.verdict;
        format!(
            "\nServer RSS (MiB): start {}, baseline after warm-up {}, peak {} (rolling median {}), \
             last 10% {}; bound {} MiB (baseline + max({}%, {} MiB)): {}. \
             Once every session was gone: {} after {} ms (at most start + {} MiB: {}).\n\
             Left over: {}.\n",
            mib(verdict.as_ref().map(|v| v.start_kib)),
            mib(verdict.as_ref().map(|v| v.baseline_kib)),
            mib(verdict.as_ref().map(|v| v.peak_kib)),
            mib(verdict.as_ref().map(|v| v.smoothed_peak_kib)),
            mib(verdict.as_ref().map(|v| v.late_kib)),
            mib(verdict.as_ref().map(|v| v.limit_kib)),
            self.bound.percent,
            self.bound.mib,
            match verdict {
                Some(v) if v.ok => "kept",
                Some(_) => "**exceeded**",
                None => "not judged",
            },
            mib(self.rss_end.kib),
            self.rss_end.settle_ms,
            memory::AFTER_MIB,
            if self.rss_end.settled {
                "kept"
            } else {
                "**exceeded**"
            },
            match self.leftover_ms {
                Some(ms) => format!("none (`open_sessions` 0, {ms} ms after the last client)"),
                None => "**sessions left over**".into(),
            }
        )
    }
}

/// The fault proxy and the clients going through it.
struct Faults {
    proxy: Proxy,
    counts: ToxicCounts,
    slots: Vec<tokio::task::JoinHandle<FaultTally>>,
}

impl Faults {
    /// Waits for the fault clients; their tallies merged, and how many
    /// connections got each toxic. The proxy is stopped.
    async fn finish(self, ctx: &Ctx) -> (FaultTally, Vec<(&'static str, u64)>) {
        let mut tally = FaultTally::default();
        for slot in self.slots {
            match slot.await {
                Ok(t) => tally.merge(&t),
                Err(e) => ctx.errors.report(format!("fault slot failed: {e}")),
            }
        }
        let toxics = faulty::toxic_counts(&self.counts);
        drop(self.proxy);
        (tally, toxics)
    }
}

/// Starts the fault proxy in front of the server and `n` clients that run
/// fault sessions through it until `until`.
async fn start_faults(
    ctx: Arc<Ctx>,
    n: usize,
    until: Instant,
    next_id: Arc<AtomicU64>,
) -> Result<Faults, String> {
    let (pick, counts) = faulty::counted_toxics(ctx.args.seed ^ 0xFA17);
    let proxy = faults::start(ctx.args.addr, pick)
        .await
        .map_err(|e| format!("the fault proxy: {e}"))?;
    let proxied = Arc::new(Net::new(proxy.addr, 1));
    let slots = (0..n)
        .map(|slot| {
            let ctx = ctx.clone();
            let proxied = proxied.clone();
            let next_id = next_id.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(ctx.args.seed ^ 0xFA_0175 ^ (slot as u64) << 20);
                let mut tally = FaultTally::default();
                while Instant::now() < until {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let transport = rng.pick(&Transport::ALL);
                    let t = faulty::run(
                        &proxied,
                        &ctx.net,
                        &ctx.errors,
                        &ctx.nonce,
                        id,
                        transport,
                        &mut rng,
                    )
                    .await;
                    tally.merge(&t);
                }
                tally
            })
        })
        .collect();
    Ok(Faults {
        proxy,
        counts,
        slots,
    })
}

/// Samples the server's RSS and its open sessions (`GET /stats`) every
/// [`SAMPLE_EVERY`] until `done`.
async fn sample(
    ctx: Arc<Ctx>,
    pid: u32,
    t0: Instant,
    done: Arc<AtomicBool>,
) -> (Vec<Sample>, Vec<(f64, u64)>) {
    let mut samples = Vec::new();
    let mut open = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    while !done.load(Ordering::Relaxed) {
        tick.tick().await;
        let at = t0.elapsed().as_secs_f64();
        if let Some(rss_kib) = procfs::rss_kib(Some(pid)) {
            samples.push(Sample { at, rss_kib });
        }
        if let Ok(s) = server::stats(&ctx.net).await {
            open.push((at, s.open_sessions));
        }
    }
    (samples, open)
}
