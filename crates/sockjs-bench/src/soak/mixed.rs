//! The mixed phase: `--clients` sessions at a time on every transport, each
//! following a random [`Plan`], until `--run-s` has passed; then no session
//! may be left over, and the server's RSS must have stayed within the
//! [`memory`] bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::memory::{self, Bound, Sample};
use super::plan::Plan;
use super::rng::Rng;
use super::session::{self, Env};
use super::tally::Tally;
use super::{server, Report};
use crate::{procfs, Ctx};

/// RSS sampling period.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Report, String> {
    let a = &ctx.args;
    let pid = a.server_pid.ok_or("the soak needs --server-pid")?;
    let run_for = Duration::from_secs(a.run_s);
    let t0 = Instant::now();
    let until = t0 + run_for;
    let next_id = Arc::new(AtomicU64::new(0));

    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample(ctx.clone(), pid, t0, done.clone()));

    let slots: Vec<_> = (0..a.clients)
        .map(|slot| {
            let ctx = ctx.clone();
            let next_id = next_id.clone();
            tokio::spawn(async move {
                let mut rng = Rng::new(ctx.args.seed ^ (slot as u64).wrapping_mul(0x9E37_79B9));
                let env = Env {
                    net: &ctx.net,
                    nonce: &ctx.nonce,
                    errors: &ctx.errors,
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
        .collect();
    let mut tally = Tally::default();
    for slot in slots {
        // Each session is bounded (session::SESSION_LIMIT): so is the slot.
        match slot.await {
            Ok(t) => tally.merge(&t),
            Err(e) => ctx.errors.report(format!("session slot failed: {e}")),
        }
    }
    let ran = t0.elapsed();
    done.store(true, Ordering::Relaxed);
    let (samples, peak_open) = sampler.await.map_err(|e| format!("sampler: {e}"))?;

    // Sessions the clients left (HTTP) time out after disconnect_delay;
    // closed ones are forgotten disconnect_delay after their last request.
    let limit = a.disconnect_delay * 2 + a.heartbeat_delay + Duration::from_secs(10);
    let leftovers = server::until_no_sessions(&ctx.net, limit).await;
    let leftover_ms = match &leftovers {
        Ok(d) => Some(d.as_millis() as u64),
        Err(e) => {
            ctx.errors.report(e);
            None
        }
    };
    let rss_end = procfs::rss_kib(Some(pid));
    let bound = Bound {
        percent: a.rss_bound_percent,
        mib: a.rss_bound_mib,
    };
    let verdict = memory::judge(&samples, run_for.as_secs_f64(), bound);
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

    let total = tally.total();
    let mut json = json!({
        "phase": "mixed",
        "seconds": ran.as_secs_f64(),
        "concurrent": a.clients,
        "seed": a.seed,
        "disconnect_delay_ms": a.disconnect_delay.as_millis() as u64,
        "heartbeat_delay_ms": a.heartbeat_delay.as_millis() as u64,
        "transports": tally.to_json(),
        "peak_open_sessions": peak_open,
        "leftover_check_ms": leftover_ms,
        "rss_end_kib": rss_end,
        "rss_bound_percent": bound.percent,
        "rss_bound_mib": bound.mib,
        "rss_samples": samples.iter().map(|s| json!([s.at, s.rss_kib])).collect::<Vec<_>>(),
    });
    if let Some(v) = &verdict {
        if let (Value::Object(j), Value::Object(m)) = (&mut json, v.to_json()) {
            j.extend(m);
        }
    }
    let mib = |k: Option<u64>| k.map_or("—".into(), |k| format!("{:.1}", k as f64 / 1024.0));
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
        peak_open
    );
    md.push_str(&tally.table());
    md.push_str(&format!(
        "\nServer RSS (MiB): start {}, baseline after warm-up {}, peak {} (rolling median {}), \
         last 10% {}, after every session was gone {}; bound {} MiB (baseline + max({}%, {} MiB)): {}.\n\
         Left over: {}.\n",
        mib(verdict.as_ref().map(|v| v.start_kib)),
        mib(verdict.as_ref().map(|v| v.baseline_kib)),
        mib(verdict.as_ref().map(|v| v.peak_kib)),
        mib(verdict.as_ref().map(|v| v.smoothed_peak_kib)),
        mib(verdict.as_ref().map(|v| v.late_kib)),
        mib(rss_end),
        mib(verdict.as_ref().map(|v| v.limit_kib)),
        bound.percent,
        bound.mib,
        match &verdict {
            Some(v) if v.ok => "kept",
            Some(_) => "**exceeded**",
            None => "not judged",
        },
        match leftover_ms {
            Some(ms) => format!("none (`open_sessions` 0, {ms} ms after the last client)"),
            None => "**sessions left over**".into(),
        }
    ));
    Ok(Report { json, md })
}

/// Samples the server's RSS every [`SAMPLE_EVERY`], and `GET /stats` every
/// fourth time, until `done`.
async fn sample(ctx: Arc<Ctx>, pid: u32, t0: Instant, done: Arc<AtomicBool>) -> (Vec<Sample>, u64) {
    let mut samples = Vec::new();
    let mut peak_open = 0;
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    let mut n = 0u64;
    while !done.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Some(rss_kib) = procfs::rss_kib(Some(pid)) {
            samples.push(Sample {
                at: t0.elapsed().as_secs_f64(),
                rss_kib,
            });
        }
        if n.is_multiple_of(4) {
            if let Ok(s) = server::stats(&ctx.net).await {
                peak_open = peak_open.max(s.open_sessions);
            }
        }
        n += 1;
    }
    (samples, peak_open)
}
