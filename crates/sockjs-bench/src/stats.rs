//! The measured window, the start line every client waits at, and what each
//! client counts.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::{procfs, Ctx};

/// When load starts, when measuring starts and stops, and how long after that
/// the last answers may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) from: Instant,
    pub(crate) to: Instant,
    pub(crate) grace: Instant,
}

impl Window {
    pub(crate) fn contains(&self, t: Instant) -> bool {
        t >= self.from && t < self.to
    }
}

/// What one client measured inside the window.
#[derive(Debug, Default)]
pub(crate) struct Rec {
    /// Completed round trips (or deliveries).
    pub(crate) count: u64,
    /// Their latencies in nanoseconds (saturating at ~4.3 s).
    pub(crate) lat: Vec<u32>,
}

impl Rec {
    /// Records one round trip that started at `sent` and ended at `now`, if it
    /// ended inside the window.
    pub(crate) fn record(&mut self, w: &Window, sent: Instant, now: Instant) {
        if w.contains(now) {
            self.count += 1;
            let ns = now.saturating_duration_since(sent).as_nanos();
            self.lat.push(u32::try_from(ns).unwrap_or(u32::MAX));
        }
    }
}

/// The start line: clients connect, then wait here until all have arrived,
/// then they all get the window at once.
#[derive(Debug)]
pub(crate) struct Start {
    arrived: AtomicUsize,
    all_in: Notify,
    window: watch::Sender<Option<Window>>,
}

impl Start {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Start {
            arrived: AtomicUsize::new(0),
            all_in: Notify::new(),
            window: watch::channel(None).0,
        })
    }

    /// Called once by every client after its setup (successful or not);
    /// returns the window when everyone is in.
    pub(crate) async fn ready(&self) -> Window {
        let mut rx = self.window.subscribe();
        self.arrived.fetch_add(1, Ordering::SeqCst);
        self.all_in.notify_one();
        loop {
            if let Some(w) = *rx.borrow_and_update() {
                return w;
            }
            if rx.changed().await.is_err() {
                // Never happens: the sender lives in `self`.
                return Window {
                    from: Instant::now(),
                    to: Instant::now(),
                    grace: Instant::now(),
                };
            }
        }
    }

    /// Waits until `n` clients are in (or `setup` has passed), then opens the
    /// window starting now.
    pub(crate) async fn open(
        &self,
        n: usize,
        setup: Duration,
        warmup: Duration,
        duration: Duration,
        grace: Duration,
    ) -> Result<Window, String> {
        let deadline = Instant::now() + setup;
        while self.arrived.load(Ordering::SeqCst) < n {
            let notified = self.all_in.notified();
            if self.arrived.load(Ordering::SeqCst) >= n {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "only {} of {n} clients were set up after {setup:?}",
                    self.arrived.load(Ordering::SeqCst)
                ));
            }
        }
        let now = Instant::now();
        let from = now + warmup;
        let to = from + duration;
        let w = Window {
            from,
            to,
            grace: to + grace,
        };
        self.window.send_replace(Some(w));
        Ok(w)
    }
}

/// Server and load-generator CPU over the window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cpu {
    pub(crate) server_us: Option<u64>,
    pub(crate) client_us: Option<u64>,
    pub(crate) wall_us: u64,
}

/// Sleeps until the window opens and until it closes, reading CPU times at
/// both ends.
pub(crate) async fn measure_cpu(ctx: &Ctx, w: Window) -> Cpu {
    tokio::time::sleep_until(w.from).await;
    let s0 = procfs::cpu_us(ctx.args.server_pid);
    let c0 = procfs::cpu_us(None);
    let t0 = Instant::now();
    tokio::time::sleep_until(w.to).await;
    let s1 = procfs::cpu_us(ctx.args.server_pid);
    let c1 = procfs::cpu_us(None);
    let wall_us = t0.elapsed().as_micros() as u64;
    Cpu {
        server_us: ctx
            .args
            .server_pid
            .and(s0.zip(s1).map(|(a, b)| b.saturating_sub(a))),
        client_us: c0.zip(c1).map(|(a, b)| b.saturating_sub(a)),
        wall_us,
    }
}

/// Runs `n` clients to the end of the window and summarises them.
pub(crate) async fn run_clients<F, Fut>(ctx: Arc<Ctx>, n: usize, client: F) -> Result<Value, String>
where
    F: Fn(usize, Arc<Ctx>, Arc<Start>) -> Fut,
    Fut: Future<Output = Rec> + Send + 'static,
{
    let start = Start::new();
    let tasks: Vec<_> = (0..n)
        .map(|i| tokio::spawn(client(i, ctx.clone(), start.clone())))
        .collect();
    let args = &ctx.args;
    let w = start
        .open(
            n,
            Duration::from_secs(30),
            args.warmup,
            args.duration,
            args.grace,
        )
        .await?;
    let cpu = measure_cpu(&ctx, w).await;
    let mut recs = Vec::with_capacity(n);
    for t in tasks {
        match tokio::time::timeout_at(w.grace + Duration::from_secs(2), t).await {
            Ok(Ok(rec)) => recs.push(rec),
            Ok(Err(e)) => ctx.errors.report(format!("client task failed: {e}")),
            Err(_) => ctx.errors.report("client task did not finish in time"),
        }
    }
    Ok(summary(&ctx, recs, cpu))
}

/// Throughput, latency percentiles and CPU per message.
pub(crate) fn summary(ctx: &Ctx, recs: Vec<Rec>, cpu: Cpu) -> Value {
    let count: u64 = recs.iter().map(|r| r.count).sum();
    let mut lat: Vec<u32> = Vec::with_capacity(recs.iter().map(|r| r.lat.len()).sum());
    for r in recs {
        lat.extend(r.lat);
    }
    lat.sort_unstable();
    let pct = |p: f64| -> Value {
        if lat.is_empty() {
            return Value::Null;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        json!(f64::from(lat[i]) / 1000.0)
    };
    // Messages are counted over the nominal window; CPU over what the timer
    // really measured (it may start late on a busy runtime): scale the rate.
    let secs = ctx.args.duration.as_secs_f64();
    let per_msg = |us: Option<u64>| -> Value {
        match us {
            Some(us) if count > 0 && cpu.wall_us > 0 => {
                let rate = us as f64 / cpu.wall_us as f64;
                json!(rate * secs * 1e6 / count as f64)
            }
            _ => Value::Null,
        }
    };
    let share = |us: Option<u64>| -> Value {
        match us {
            Some(us) if cpu.wall_us > 0 => json!(100.0 * us as f64 / cpu.wall_us as f64),
            _ => Value::Null,
        }
    };
    let a = &ctx.args;
    json!({
        "scenario": a.scenario,
        "clients": a.clients,
        "pipeline": a.pipeline,
        "seconds": secs,
        "messages": count,
        "msgs_per_s": if secs > 0.0 { count as f64 / secs } else { 0.0 },
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "p999_us": pct(0.999),
        "server_cpu_us_per_msg": per_msg(cpu.server_us),
        "server_cpu_pct": share(cpu.server_us),
        "client_cpu_pct": share(cpu.client_us),
        "server_rss_kib": procfs::rss_kib(a.server_pid),
    })
}
