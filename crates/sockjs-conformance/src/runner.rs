//! Runs checks concurrently, each with its own timeout, and reports one line
//! per check in a stable order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::checks::{self, Check, Ctx, Outcome};

/// How to run the suite.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server and its delays.
    pub ctx: Ctx,
    /// Run only checks whose name contains one of these (all when empty).
    pub filters: Vec<String>,
    /// How many checks run at once.
    pub jobs: usize,
    /// Bound on one check (on top of the server's delays).
    pub check_timeout: Duration,
    /// Checks known to fail, by name, with the reason.
    pub expected_failures: BTreeMap<String, String>,
}

/// What happened to one check.
#[derive(Debug)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Passed (with a remark) or failed.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
    /// The reason, when the check is listed as an expected failure.
    pub expected_failure: Option<String>,
}

impl CheckResult {
    /// Whether this result counts as a failure of the run: a failed check
    /// not listed as expected, or a listed check that passed.
    pub fn is_failure(&self) -> bool {
        self.outcome.is_ok() == self.expected_failure.is_some()
    }

    /// The report line.
    pub fn line(&self) -> String {
        let ms = self.elapsed.as_millis();
        let name = self.check.name;
        match (&self.outcome, &self.expected_failure) {
            (Ok(None), None) => format!("ok   {name} ({ms} ms)"),
            (Ok(Some(remark)), None) => format!("ok   {name} ({ms} ms): {remark}"),
            (Err(f), None) => format!("FAIL {name} ({ms} ms): {f}"),
            (Err(f), Some(reason)) => {
                format!("xfail {name} ({ms} ms): expected failure ({reason}): {f}")
            }
            (Ok(_), Some(reason)) => format!(
                "FAIL {name} ({ms} ms): passed, but is listed as an expected failure ({reason}); take it off the list"
            ),
        }
    }
}

/// Totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that count as failures.
    pub failed: usize,
    /// Listed checks that failed as expected.
    pub expected: usize,
}

impl Summary {
    /// The final report line: `N passed, M failed`.
    pub fn line(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.expected > 0 {
            s.push_str(&format!(", {} expected failures", self.expected));
        }
        s
    }
}

/// The checks `filters` selects.
pub fn select(filters: &[String]) -> Vec<Check> {
    let (skips, wanted): (Vec<&String>, Vec<&String>) =
        filters.iter().partition(|f| f.starts_with('!'));
    checks::all()
        .into_iter()
        .filter(|c| wanted.is_empty() || wanted.iter().any(|f| c.name.contains(f.as_str())))
        .filter(|c| !skips.iter().any(|f| c.name.contains(&f[1..])))
        .collect()
}

/// Parses an expected-failures list: one `check/name  reason` per line,
/// `#` comments and blank lines ignored.
pub fn parse_expected_failures(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, reason) = line
            .split_once(char::is_whitespace)
            .map(|(n, r)| (n, r.trim()))
            .unwrap_or((line, ""));
        if reason.is_empty() {
            return Err(format!("line {}: `{name}` has no reason", i + 1));
        }
        if !checks::all().iter().any(|c| c.name == name) {
            return Err(format!("line {}: no check named `{name}`", i + 1));
        }
        map.insert(name.to_string(), reason.to_string());
    }
    Ok(map)
}

/// Runs the selected checks and calls `report` for each result, in suite
/// order, as soon as it and all before it are done.
pub async fn run(opts: Options, mut report: impl FnMut(&CheckResult)) -> Summary {
    let selected = select(&opts.filters);
    let jobs = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let ctx = &opts.ctx;
    let limit = opts.check_timeout + 3 * ctx.disconnect_delay + 2 * ctx.heartbeat_delay;
    let handles: Vec<_> = selected
        .iter()
        .map(|check| {
            let (check, ctx, jobs) = (*check, ctx.clone(), jobs.clone());
            tokio::spawn(async move {
                let _permit = jobs.acquire_owned().await;
                let start = Instant::now();
                let outcome = match tokio::time::timeout(limit, check.run(ctx)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(checks::Failure(format!("did not finish within {limit:?}"))),
                };
                (outcome, start.elapsed())
            })
        })
        .collect();
    let mut summary = Summary::default();
    for (check, handle) in selected.into_iter().zip(handles) {
        let (outcome, elapsed) = match handle.await {
            Ok(r) => r,
            Err(e) => (
                Err(checks::Failure(format!("the check panicked: {e}"))),
                Duration::ZERO,
            ),
        };
        let result = CheckResult {
            check,
            outcome,
            elapsed,
            expected_failure: opts.expected_failures.get(check.name).cloned(),
        };
        if result.is_failure() {
            summary.failed += 1;
        } else if result.outcome.is_ok() {
            summary.passed += 1;
        } else {
            summary.expected += 1;
        }
        report(&result);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_failures_list() {
        let text = "# header\n\nurls/greeting   the greeting is late\n";
        let map = parse_expected_failures(text).unwrap();
        assert_eq!(
            map.get("urls/greeting").map(String::as_str),
            Some("the greeting is late")
        );
        assert!(parse_expected_failures("urls/greeting\n").is_err());
        assert!(parse_expected_failures("no/such-check because\n").is_err());
        assert!(parse_expected_failures("").unwrap().is_empty());
    }

    #[test]
    fn filters() {
        assert_eq!(select(&[]).len(), checks::all().len());
        let no_security = select(&["!security/".into()]);
        assert!(!no_security.is_empty());
        assert!(no_security.iter().all(|c| !c.name.starts_with("security/")));
        assert!(select(&["security/".into(), "!security/".into()]).is_empty());
        let ws = select(&["websocket/".into()]);
        assert!(!ws.is_empty() && ws.iter().all(|c| c.name.starts_with("websocket/")));
    }
}
