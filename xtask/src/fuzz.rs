//! `cargo xtask fuzz`: coverage-guided fuzzing of every parser of client
//! bytes, then the property tests and the differential test against
//! sockjs-node 0.3.24 with raised case counts.
//!
//! Engine: libFuzzer, linked through the `libfuzzer-sys` crate, on the
//! stable toolchain. Nothing of cargo-fuzz's needs nightly except the
//! sanitizers, and our code has no `unsafe` for them to check: the targets
//! are built by plain `cargo build --release` with the SanitizerCoverage
//! flags cargo-fuzz itself passes (`-Cpasses=sancov-module` and LLVM
//! arguments, all stable `-C` options), for the host triple so that build
//! scripts stay uninstrumented. See `crates/sockjs/FUZZING.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::args::Args;
use crate::util::{self, cargo, run_step};

const USAGE: &str = "\
usage: cargo xtask fuzz [options]

  --seconds N    libFuzzer time for all selected targets together, split
                 evenly between them (default 90)
  --target NAME  only this fuzz target (see the list below)
  --cases N      random cases per kind for the differential test against
                 sockjs-node (default 3000); property tests run 2 x N cases
  --seed N       seed of the differential test (default: a fresh one, printed)
  --no-properties  skip the property tests (CI: its test step just ran them)
  --no-tests     only libFuzzer: skip the property and differential tests

Targets (fuzz/fuzz_targets/): payload, websocket_message, jsonp_send_body,
callback, hixie76_key, hixie76_frame, session_path, cookie, escape.

The corpus grows in target/fuzz-corpus/<target> (seeded from fuzz/seeds/);
a crashing input lands in target/fuzz-artifacts/, the log of each run in
target/fuzz-logs/. Rerun one input: target/fuzz/<triple>/release/<target> FILE
";

/// The fuzz targets, in `fuzz/Cargo.toml`.
const TARGETS: &[&str] = &[
    "payload",
    "websocket_message",
    "jsonp_send_body",
    "callback",
    "hixie76_key",
    "hixie76_frame",
    "session_path",
    "cookie",
    "escape",
];

/// SanitizerCoverage instrumentation for libFuzzer: the flags cargo-fuzz
/// passes with `--sanitizer none`, every one of them stable.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
];

struct Options {
    seconds: u64,
    target: Option<String>,
    cases: u64,
    seed: Option<String>,
    properties: bool,
    tests: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seconds: 90,
        target: None,
        cases: 3000,
        seed: None,
        properties: true,
        tests: true,
    };
    let mut args = Args::new(args, USAGE);
    while let Some(flag) = args.flag() {
        match flag {
            "--seconds" => o.seconds = args.number()?,
            "--target" => {
                let name = args.value()?;
                if !TARGETS.contains(&name.as_str()) {
                    return Err(args.refuse(&format!("{name}: no such fuzz target")));
                }
                o.target = Some(name);
            }
            "--cases" => o.cases = args.number()?,
            "--seed" => o.seed = Some(args.number()?.to_string()),
            "--no-properties" => o.properties = false,
            "--no-tests" => o.tests = false,
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(args.unknown()),
        }
    }
    Ok(o)
}

/// What one libFuzzer run reported.
struct Run {
    name: String,
    seconds: f64,
    execs: u64,
    coverage: String,
    ok: bool,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let started = Instant::now();
    let targets: Vec<&str> = match &o.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    let bin_dir = build()?;
    eprintln!("==> fuzz: targets built in {:.0?}", started.elapsed());

    let each = (o.seconds / targets.len() as u64).max(1);
    let mut runs = Vec::new();
    for name in &targets {
        runs.push(fuzz_one(&bin_dir, name, each)?);
    }
    let fuzz_failed: Vec<&str> = runs
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.name.as_str())
        .collect();

    println!("\nlibFuzzer (libfuzzer-sys, stable toolchain), {each} s per target:");
    println!(
        "  {:<18} {:>7} {:>12} {:>10}  coverage at the end",
        "target", "seconds", "executions", "exec/s"
    );
    for r in &runs {
        println!(
            "  {:<18} {:>7.1} {:>12} {:>10.0}  {}{}",
            r.name,
            r.seconds,
            r.execs,
            r.execs as f64 / r.seconds.max(0.001),
            r.coverage,
            if r.ok { "" } else { "  FAILED" }
        );
    }
    let total: u64 = runs.iter().map(|r| r.execs).sum();
    println!("  {} executions in all", total);

    let tests = if o.tests { tests(&o) } else { Ok(()) };
    eprintln!("==> fuzz: done in {:.0?}", started.elapsed());
    match (fuzz_failed.is_empty(), tests) {
        (true, Ok(())) => Ok(()),
        (false, _) => Err(format!(
            "fuzz targets failed: {} (inputs in {})",
            fuzz_failed.join(", "),
            util::target_dir().join("fuzz-artifacts").display()
        )),
        (true, Err(e)) => Err(e),
    }
}

/// The host triple (`--target` keeps RUSTFLAGS off build scripts).
fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV names no host".into())
}

/// Builds every fuzz target with coverage instrumentation; returns the
/// folder of the binaries.
fn build() -> Result<PathBuf, String> {
    let triple = host_triple()?;
    let target_dir = util::target_dir().join("fuzz");
    let manifest = util::root().join("fuzz").join("Cargo.toml");
    let mut cmd = cargo(&[
        "build",
        "--release",
        "--bins",
        "--locked",
        "--target",
        &triple,
    ]);
    cmd.arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "));
    run_step("build fuzz targets (libFuzzer)", cmd)?;
    Ok(target_dir.join(triple).join("release"))
}

/// Runs one target for `seconds` on its corpus and seeds.
fn fuzz_one(bin_dir: &Path, name: &str, seconds: u64) -> Result<Run, String> {
    let target = util::target_dir();
    let corpus = target.join("fuzz-corpus").join(name);
    let artifacts = target.join("fuzz-artifacts");
    let logs = target.join("fuzz-logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let seeds = util::root().join("fuzz").join("seeds").join(name);
    let log_path = logs.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    eprintln!("==> fuzz {name} for {seconds} s");
    let mut cmd = Command::new(bin_dir.join(name));
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg(format!("-artifact_prefix={}/{name}-", artifacts.display()))
        .arg(&corpus);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    let t = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .status()
        .map_err(|e| format!("cannot start fuzz target {name}: {e}"))?;
    let elapsed = t.elapsed();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let stat = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    // The last status line: `#N DONE cov: C ft: F corp: K/SIZE ...`.
    let coverage = text
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("cov:"))
        .and_then(|l| l.find("cov:").map(|i| l[i..].to_string()))
        .map(|l| l.split(" lim:").next().unwrap_or(&l).to_string())
        .unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        eprintln!(
            "fuzz target {name} failed ({status}); log {}:\n{}",
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(Run {
        name: name.to_string(),
        seconds: elapsed.as_secs_f64(),
        execs: stat("stat::number_of_executed_units:").unwrap_or(0),
        coverage,
        ok: status.success(),
    })
}

/// The property tests and the differential test against sockjs-node, with
/// raised case counts (debug build, all features: the one CI's test step
/// made; the tests need the hidden `fuzzing` feature).
fn tests(o: &Options) -> Result<(), String> {
    let modules = util::npm_install("sockjs-decisions")?.join("node_modules");
    let mut args = vec![
        "test",
        "--workspace",
        "--all-features",
        "--test",
        "differential",
    ];
    if o.properties {
        args.extend(["--test", "properties"]);
    }
    args.extend(["--", "--nocapture"]);
    let mut cmd = cargo(&args);
    cmd.env("PROPTEST_CASES", (2 * o.cases).to_string())
        .env("SOCKJS_DIFF_CASES", o.cases.to_string())
        .env("SOCKJS_DIFF_REQUIRED", "1")
        .env("SOCKJS_DIFF_MODULES", modules)
        .env(
            "SOCKJS_DIFF_SEED",
            o.seed.clone().unwrap_or_else(|| "random".into()),
        );
    let name = if o.properties {
        "property tests and differential test against sockjs-node"
    } else {
        "differential test against sockjs-node"
    };
    run_step(name, cmd)
}
