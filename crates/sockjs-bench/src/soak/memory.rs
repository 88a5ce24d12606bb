//! The rules on the server's memory in the mixed phase.
//!
//! **During the run.** RSS is sampled every half second. The first 20% of
//! the run is warm-up (allocator arenas, session maps and buffers grow to
//! the working size); the **baseline** is the median RSS of the next 10%
//! of the run. From the end of the warm-up on, the RSS smoothed by a
//! rolling median over [`WINDOW`] samples (5 s) must stay within the
//! bound: baseline plus the larger of a percentage and a fixed number of
//! MiB. The smoothing keeps a few seconds of stalled clients (their queued
//! messages are live memory) from counting as growth; a leak grows for the
//! rest of the run and does not smooth away.
//!
//! **After the run.** Once every session is gone, RSS must come back to
//! within [`AFTER_MIB`] of what the idle server had before the run
//! (polled: the test server's jemalloc hands freed pages back within about
//! a second). Whatever a session leaked stays: 100,000 sessions leaking 40
//! bytes each would already cross it.

use serde_json::{json, Value};

/// Samples per rolling median.
pub(crate) const WINDOW: usize = 10;

/// Share of the run that is warm-up.
pub(crate) const WARMUP: f64 = 0.2;

/// How far above the idle server's RSS it may stay once every session is
/// gone.
pub(crate) const AFTER_MIB: f64 = 4.0;

/// Whether `now` (after the run) is back within [`AFTER_MIB`] of `start`.
pub(crate) fn settled(start_kib: u64, now_kib: u64) -> bool {
    now_kib as f64 <= start_kib as f64 + AFTER_MIB * 1024.0
}

/// One RSS reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sample {
    /// Seconds since the run started.
    pub(crate) at: f64,
    pub(crate) rss_kib: u64,
}

/// How much the smoothed RSS may grow over the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    pub(crate) percent: f64,
    pub(crate) mib: f64,
}

/// The figures and the decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) start_kib: u64,
    pub(crate) baseline_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) smoothed_peak_kib: u64,
    /// Median of the last 10% of the run.
    pub(crate) late_kib: u64,
    pub(crate) limit_kib: u64,
    pub(crate) ok: bool,
}

fn median(mut v: Vec<u64>) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

/// Judges the samples of a run of `run_s` seconds; `None` with too few
/// samples after the warm-up to judge.
pub(crate) fn judge(samples: &[Sample], run_s: f64, bound: Bound) -> Option<Verdict> {
    let start_kib = samples.first()?.rss_kib;
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= WARMUP * run_s).collect();
    if after.len() < WINDOW {
        return None;
    }
    let in_span = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|s| s.at >= from * run_s && s.at <= to * run_s)
            .map(|s| s.rss_kib)
            .collect::<Vec<_>>()
    };
    let baseline_kib = median(in_span(WARMUP, WARMUP + 0.1))?;
    let late_kib = median(in_span(0.9, 1.0)).unwrap_or(after[after.len() - 1].rss_kib);
    let peak_kib = after.iter().map(|s| s.rss_kib).max()?;
    let smoothed_peak_kib = after
        .windows(WINDOW)
        .filter_map(|w| median(w.iter().map(|s| s.rss_kib).collect()))
        .max()?;
    let growth = (baseline_kib as f64 * bound.percent / 100.0).max(bound.mib * 1024.0);
    let limit_kib = baseline_kib + growth as u64;
    Some(Verdict {
        start_kib,
        baseline_kib,
        peak_kib,
        smoothed_peak_kib,
        late_kib,
        limit_kib,
        ok: smoothed_peak_kib <= limit_kib,
    })
}

impl Verdict {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "rss_start_kib": self.start_kib,
            "rss_baseline_kib": self.baseline_kib,
            "rss_peak_kib": self.peak_kib,
            "rss_smoothed_peak_kib": self.smoothed_peak_kib,
            "rss_late_kib": self.late_kib,
            "rss_limit_kib": self.limit_kib,
            "rss_ok": self.ok,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Bound = Bound {
        percent: 10.0,
        mib: 4.0,
    };

    fn run(f: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..200)
            .map(|i| {
                let at = f64::from(i) * 0.5;
                Sample { at, rss_kib: f(at) }
            })
            .collect()
    }

    #[test]
    fn flat_after_warmup_passes() {
        let v = judge(
            &run(|t| if t < 10.0 { 10_000 } else { 30_000 }),
            100.0,
            BOUND,
        )
        .unwrap();
        assert_eq!((v.start_kib, v.baseline_kib), (10_000, 30_000));
        assert_eq!(v.limit_kib, 30_000 + 4096);
        assert!(v.ok);
    }

    #[test]
    fn a_short_spike_is_smoothed_away_but_reported() {
        let v = judge(
            &run(|t| {
                if (50.0..52.0).contains(&t) {
                    90_000
                } else {
                    30_000
                }
            }),
            100.0,
            BOUND,
        )
        .unwrap();
        assert_eq!(v.peak_kib, 90_000);
        assert_eq!(v.smoothed_peak_kib, 30_000);
        assert!(v.ok);
    }

    #[test]
    fn steady_growth_fails() {
        // 100 KiB a second: 8 MiB over the judged 80 s.
        let v = judge(&run(|t| 30_000 + (t * 100.0) as u64), 100.0, BOUND).unwrap();
        assert!(!v.ok, "{v:?}");
        assert!(v.late_kib > v.limit_kib);
    }

    #[test]
    fn after_the_run_it_comes_back() {
        assert!(settled(6_000, 6_000 + 4096));
        assert!(!settled(6_000, 6_000 + 4097));
        assert!(settled(6_000, 5_000));
    }

    #[test]
    fn the_percentage_wins_above_the_fixed_floor() {
        let v = judge(&run(|_| 100_000), 100.0, BOUND).unwrap();
        assert_eq!(v.limit_kib, 110_000);
        assert!(judge(&run(|_| 1)[..20], 100.0, BOUND).is_none());
    }
}
