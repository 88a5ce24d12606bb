//! `cargo xtask ci`: every check the project runs before a change lands.
//!
//! Every step runs even when an earlier one failed, so one run shows all
//! that is wrong; the last line counts the steps (`N passed, M failed`) and
//! the exit code is non-zero when any failed.

use std::time::Instant;

use crate::util::{self, cargo, run_step};
use crate::{bench, cluster_test, e2e, fuzz, layers, mutants, protocol_test, soak};

type Step = (&'static str, Box<dyn Fn() -> Result<(), String>>);

fn steps() -> Vec<Step> {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (
            "fmt",
            Box::new(|| {
                run_step("fmt", cargo(&["fmt", "--all", "--", "--check"]))?;
                // The fuzz targets are a workspace of their own.
                let fuzz = ["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"];
                run_step("fmt (fuzz)", cargo(&fuzz))
            }),
        ),
        // Imports go down: no module loop in any workspace crate.
        ("layers", Box::new(|| layers::run(&[]))),
        (
            "clippy",
            Box::new(|| {
                run_step(
                    "clippy",
                    cargo(&[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--all-features",
                        "--",
                        "-D",
                        "warnings",
                    ]),
                )
            }),
        ),
        (
            "test",
            Box::new(|| {
                // sockjs-redis's tests need a real redis-server: installed
                // here when missing (and root), and required, so that they
                // never skip in CI.
                util::ensure_programs(&[("redis-server", "redis-server")])?;
                let mut cmd = cargo(&["test", "--workspace", "--all-features"]);
                cmd.env("SOCKJS_REQUIRE_REDIS", "1");
                run_step("test", cmd)
            }),
        ),
        (
            "doc",
            Box::new(|| {
                let mut cmd = cargo(&["doc", "--workspace", "--no-deps", "--quiet"]);
                cmd.env("RUSTDOCFLAGS", "-D warnings");
                run_step("doc", cmd)
            }),
        ),
        // libFuzzer on every target briefly (30 s in all), then the
        // differential test against sockjs-node with more cases, on a
        // fixed seed so that CI is repeatable (`cargo xtask fuzz` alone
        // draws fresh ones). The test step above ran the property tests,
        // and skipped the differential one while sockjs-node was not
        // installed yet.
        (
            "fuzz --seconds 30",
            Box::new(move || {
                fuzz::run(&args(&[
                    "--seconds",
                    "30",
                    "--cases",
                    "2000",
                    "--seed",
                    "1",
                    "--no-properties",
                ]))
            }),
        ),
        ("protocol-test", Box::new(move || protocol_test::run(&[]))),
        (
            "protocol-test --against-node",
            Box::new(move || protocol_test::run(&args(&["--against-node"]))),
        ),
        (
            "protocol-test --mutations",
            Box::new(move || protocol_test::run(&args(&["--mutations"]))),
        ),
        ("e2e", Box::new(move || e2e::run(&[]))),
        ("cluster-test", Box::new(move || cluster_test::run(&[]))),
        // Both on dev-profile binaries, which the steps above built:
        // release builds of the server and the load generator took four of
        // CI's twenty minutes. Here the bench is a smoke run of its harness
        // (every scenario, zero errors); its figures come from full local
        // runs. The fault-proxy clients run inside the soak's 60 s; its
        // resume phase adds about 12 s.
        (
            "bench --quick --dev",
            Box::new(move || bench::run(&args(&["--quick", "--dev"]))),
        ),
        (
            "soak --seconds 60 --faults --dev",
            Box::new(move || soak::run(&args(&["--seconds", "60", "--faults", "--dev"]))),
        ),
        // cargo-mutants on the library lines changed since the last commit
        // that landed (.ci/mutants-base), at most 2 of them (each is a
        // rebuild and its area's tests, ~45 s here): one missed fails.
        // A mutant that hangs is cut off at 90 s, twice a normal run
        // (counted as caught); 120 s had taken CI to its 20 minutes.
        // Last, because it mutates the checked-out sources (`--in-place`
        // reuses the test step's build; every file is put back). No
        // baseline: the test step ran these tests on this tree.
        (
            "mutants --in-diff",
            Box::new(move || {
                let base_file = util::root().join(".ci/mutants-base");
                let text = std::fs::read_to_string(&base_file)
                    .map_err(|e| format!("{}: {e}", base_file.display()))?;
                let base = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with('#'))
                    .ok_or_else(|| format!("{}: no commit in it", base_file.display()))?;
                mutants::run(&args(&[
                    "--in-diff",
                    base,
                    "--max",
                    "2",
                    "--timeout",
                    "90",
                    "--no-baseline",
                    "--in-place",
                    "--install",
                ]))
            }),
        ),
    ]
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("ci takes no arguments (got {extra})"));
    }
    let mut failed = Vec::new();
    let mut passed = 0;
    let started = Instant::now();
    for (name, step) in steps() {
        let t = Instant::now();
        eprintln!("\n==== ci: {name}");
        match step() {
            Ok(()) => {
                passed += 1;
                eprintln!("==== ci: {name}: ok ({:.0?})", t.elapsed());
            }
            Err(e) => {
                eprintln!("==== ci: {name}: FAILED ({:.0?}): {e}", t.elapsed());
                failed.push(name);
            }
        }
    }
    println!("\nci steps ({:.0?} in all):", started.elapsed());
    println!("steps: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed steps: {}", failed.join(", ")))
    }
}
