//! `cargo xtask ci`: every check the project runs before a change lands.
//!
//! Every step runs even when an earlier one failed, so one run shows all
//! that is wrong; the last line counts the steps (`N passed, M failed`) and
//! the exit code is non-zero when any failed.

use std::time::Instant;

use crate::util::{self, cargo, run_step};
use crate::{bench, cluster_test, e2e, protocol_test};

type Step = (&'static str, Box<dyn Fn() -> Result<(), String>>);

fn steps() -> Vec<Step> {
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (
            "fmt",
            Box::new(|| run_step("fmt", cargo(&["fmt", "--all", "--", "--check"]))),
        ),
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
        (
            "bench --quick",
            Box::new(move || bench::run(&args(&["--quick"]))),
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
