//! `cargo xtask mutants`: cargo-mutants over the workspace's libraries, one
//! area (a folder of the library, or the wire-format crate) at a time, each
//! with the tests that cover it, and a report of every run kept so far.
//!
//! A mutant rebuilds the library and runs the area's tests, 10–40 s on 2
//! cores, and the library has about 1,700 of them: the full run is many
//! hours. So an area can be split in shards (`--shard K/N`), each run kept
//! under `target/mutants/<area>-<K>of<N>/`, and `--report` adds up whatever
//! runs are there (the newest outcome of each mutant counts). TESTING.md
//! has the figures and says what was done about the missed mutants.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::args::Args;
use crate::util::{cargo, root, target_dir};

const USAGE: &str = "\
usage: cargo xtask mutants [--area NAME ...] [--shard K/N] [--timeout S] [--list]
       cargo xtask mutants --in-diff BASE [--max N] [--no-baseline] [--in-place]
                           [--install]
       cargo xtask mutants --report

  --area NAME    one of the areas below (default: every area); repeatable
  --shard K/N    only every N-th mutant of each area, from the K-th (0-based)
  --timeout S    a mutant whose tests run longer is a timeout (default 180)
  --list         print the mutants instead of running them
  --in-diff BASE only the mutants on lines changed since the git revision
                 BASE, in the areas those changes touch; fails if one is
                 missed (the CI step: BASE from .ci/mutants-base)
  --max N        with --in-diff: at most N of them, spread over the list
  --no-baseline  do not run the tests on the unmutated tree first (CI: the
                 test step just did)
  --in-place     mutate the working tree rather than a copy (CI: the build
                 is reused; cargo-mutants puts every file back)
  --install      install cargo-mutants into target/tools if it is missing
                 (a debug build: about a minute on 2 cores)
  --report       the score per area and file, from every run kept in
                 target/mutants/, and the missed mutants

Areas: proto, session, rooms, websocket, endpoints, cluster, root.
";

/// The cargo-mutants release the project's figures come from.
const CARGO_MUTANTS: &str = "cargo-mutants@27.1.0";

/// Where mutants are made, and which tests are run against them.
struct Area {
    name: &'static str,
    package: &'static str,
    /// Folders whose `.rs` files are mutated: (folder, with its subfolders).
    dirs: &'static [(&'static str, bool)],
    /// Files of those folders left out, with the reason in a comment.
    skip: &'static [&'static str],
    /// Which tests run against each mutant.
    tests: Tests,
}

/// The tests run against an area's mutants.
enum Tests {
    /// The package's own, doc tests included (`cargo test -p`).
    Own,
    /// The library's unit tests and its `tests/server` suite, those whose
    /// module paths contain one of these filters (all with none).
    Suite(&'static [&'static str]),
}

impl Tests {
    /// What follows `cargo test` (after cargo-mutants' own arguments).
    fn args(&self) -> Vec<&'static str> {
        match self {
            Tests::Own => Vec::new(),
            Tests::Suite(filters) => {
                let mut args = vec!["--lib", "--test", "server"];
                if !filters.is_empty() {
                    args.push("--");
                    args.extend_from_slice(filters);
                }
                args
            }
        }
    }
}

/// The library's tests by module path: `--lib` runs its unit tests,
/// `--test server` the integration suite (tests/server/, one module a
/// file); a filter keeps the unit tests of the area's own modules and the
/// suite modules that exercise it. Doc tests cannot run beside these
/// (cargo-mutants runs one `cargo test`), so a mutant shown only by a doc
/// example is reported missed and checked by hand (TESTING.md).
const AREAS: &[Area] = &[
    Area {
        name: "proto",
        package: "sockjs-proto",
        dirs: &[("crates/sockjs-proto/src", true)],
        // The test oracle: the library's property tests hold the server's
        // parsers against it; its mutants belong to the `oracle` area.
        skip: &["crates/sockjs-proto/src/oracle.rs"],
        tests: Tests::Own,
    },
    Area {
        name: "session",
        package: "sockjs-axum",
        dirs: &[("crates/sockjs/src/session", true)],
        skip: &[],
        tests: Tests::Suite(&[
            "session::",
            "closing::",
            "http_transports::",
            "websocket::",
            "rooms::",
            "typed::",
            "budgets::",
            "stalled::",
            "security::",
            "shutdown::",
            "http2::",
            "deflate::",
        ]),
    },
    Area {
        name: "rooms",
        package: "sockjs-axum",
        dirs: &[("crates/sockjs/src/rooms", true)],
        skip: &[],
        // `session::core::` holds the unit tests of presence and of
        // messages to a user, which go through a session's core.
        tests: Tests::Suite(&["rooms::", "typed::", "session::core::"]),
    },
    Area {
        name: "websocket",
        package: "sockjs-axum",
        dirs: &[("crates/sockjs/src/endpoints/websocket", true)],
        // The inflate oracle is what the deflate tests compare with; a
        // mutant of it fails them or changes nothing they check, as for
        // sockjs-proto's oracle.
        skip: &["crates/sockjs/src/endpoints/websocket/inflate_oracle.rs"],
        tests: Tests::Suite(&[
            "endpoints::",
            "websocket::",
            "closing::",
            "deflate::",
            "bad_input::",
            "budgets::",
            "http2::",
        ]),
    },
    Area {
        name: "endpoints",
        package: "sockjs-axum",
        dirs: &[
            ("crates/sockjs/src/endpoints", false),
            ("crates/sockjs/src/endpoints/receive", true),
        ],
        skip: &[],
        tests: Tests::Suite(&[
            "endpoints::",
            "http_transports::",
            "bad_input::",
            "session::",
            "security::",
            "stalled::",
            // The refusal of a full queue and the recycle counter.
            "budgets::",
            "observability::",
        ]),
    },
    Area {
        name: "cluster",
        package: "sockjs-axum",
        dirs: &[("crates/sockjs/src/cluster", true)],
        skip: &[],
        tests: Tests::Suite(&["cluster::"]),
    },
    Area {
        name: "root",
        package: "sockjs-axum",
        dirs: &[("crates/sockjs/src", false)],
        // Helpers for the fuzz targets, checked by them, not by the suites.
        skip: &["crates/sockjs/src/fuzzing.rs"],
        tests: Tests::Suite(&[]),
    },
];

impl Area {
    /// Whether `path` (relative to the root) is one of the area's files.
    fn covers(&self, path: &str) -> bool {
        path.ends_with(".rs")
            && !self.skip.contains(&path)
            && self.dirs.iter().any(|(dir, deep)| {
                path.strip_prefix(dir)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| *deep || !rest.contains('/'))
            })
    }

    /// The cargo-mutants command for this area, its output under `out`;
    /// with `only`, just the mutants of those names.
    fn command(&self, o: &Opts, out: &Path, diff: Option<&Path>, only: &[String]) -> Command {
        let mut cmd = cargo(&["mutants", "--package", self.package]);
        if let Some(path) = &o.path {
            cmd.env("PATH", path);
        }
        if self.package == "sockjs-axum" {
            cmd.arg("--all-features");
        }
        for (dir, deep) in self.dirs {
            let glob = if *deep { "**/*.rs" } else { "*.rs" };
            cmd.args(["--file", &format!("{dir}/{glob}")]);
        }
        for skip in self.skip {
            cmd.args(["--exclude", skip]);
        }
        if let Some((k, n)) = o.shard {
            cmd.args(["--shard", &format!("{k}/{n}"), "--sharding", "round-robin"]);
        }
        if let Some(diff) = diff {
            cmd.arg("--in-diff").arg(diff);
        }
        for name in only {
            cmd.args(["--re", &format!("^{}$", escape_regex(name))]);
        }
        if o.list || out.as_os_str().is_empty() {
            cmd.arg("--list");
        } else {
            cmd.args(["--timeout", &o.timeout.to_string()]);
            cmd.arg("--output").arg(out);
            if o.in_place {
                cmd.arg("--in-place");
            }
            if o.no_baseline {
                cmd.args(["--baseline", "skip"]);
            }
        }
        let tests = self.tests.args();
        if !tests.is_empty() {
            cmd.arg("--").args(tests);
        }
        cmd
    }
}

struct Opts {
    areas: Vec<&'static Area>,
    shard: Option<(u64, u64)>,
    in_diff: Option<String>,
    max: Option<usize>,
    in_place: bool,
    no_baseline: bool,
    install: bool,
    timeout: u64,
    list: bool,
    report: bool,
    /// `PATH` for cargo when cargo-mutants was installed into target/tools.
    path: Option<std::ffi::OsString>,
}

fn options(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        areas: Vec::new(),
        shard: None,
        in_diff: None,
        max: None,
        in_place: false,
        no_baseline: false,
        install: false,
        timeout: 180,
        list: false,
        report: false,
        path: None,
    };
    let mut args = Args::new(args, USAGE);
    while let Some(flag) = args.flag() {
        match flag {
            "--area" => {
                let name = args.value()?;
                let area = AREAS
                    .iter()
                    .find(|a| a.name == name)
                    .ok_or_else(|| args.refuse(&format!("{name}: no such area")))?;
                o.areas.push(area);
            }
            "--shard" => {
                let v = args.value()?;
                let shard = v
                    .split_once('/')
                    .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)))
                    .filter(|(k, n)| k < n);
                o.shard =
                    Some(shard.ok_or_else(|| args.refuse(&format!("{v}: not K/N with K < N")))?);
            }
            "--in-diff" => o.in_diff = Some(args.value()?),
            "--max" => o.max = Some(args.number()? as usize),
            "--in-place" => o.in_place = true,
            "--no-baseline" => o.no_baseline = true,
            "--install" => o.install = true,
            "--timeout" => o.timeout = args.number()?,
            "--list" => o.list = true,
            "--report" => o.report = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(args.unknown()),
        }
    }
    if o.areas.is_empty() {
        o.areas = AREAS.iter().collect();
    }
    Ok(o)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut o = options(args)?;
    let kept = target_dir().join("mutants");
    if o.report {
        print!("{}", report(&kept)?);
        return Ok(());
    }
    o.path = ensure_installed(o.install)?;
    std::fs::create_dir_all(&kept).map_err(|e| format!("{}: {e}", kept.display()))?;
    match o.in_diff.clone() {
        Some(base) => in_diff(&o, &kept, &base),
        None => whole(&o, &kept),
    }
}

/// Runs cargo-mutants; its exit codes 0 (all caught), 2 (some missed) and
/// 3 (some timed out) are results, anything else is the run failing (a
/// usage error, the baseline's tests).
fn cargo_mutants(area: &Area, mut cmd: Command) -> Result<String, String> {
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo mutants: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    match out.status.code() {
        Some(0 | 2 | 3) => Ok(text),
        _ => Err(format!(
            "cargo mutants for {} failed ({})",
            area.name, out.status
        )),
    }
}

/// Every area asked for (or a shard of each), kept for `--report`.
fn whole(o: &Opts, kept: &Path) -> Result<(), String> {
    for area in &o.areas {
        let out = if o.list {
            PathBuf::new()
        } else {
            kept.join(match o.shard {
                Some((k, n)) => format!("{}-{k}of{n}", area.name),
                None => area.name.to_string(),
            })
        };
        eprintln!("==> mutants: {}", area.name);
        cargo_mutants(area, area.command(o, &out, None, &[]))?;
    }
    if !o.list {
        print!("{}", report(kept)?);
    }
    Ok(())
}

/// The mutants on the lines changed since `base` (at most `--max`, spread
/// over them), each area's with its tests; an error if one is missed.
fn in_diff(o: &Opts, kept: &Path, base: &str) -> Result<(), String> {
    let (diff, changed) = write_diff(base, kept)?;
    let mut listed: Vec<(&Area, String)> = Vec::new();
    for area in &o.areas {
        if !changed.iter().any(|f| area.covers(f)) {
            continue;
        }
        let text = cargo_output(area.command(o, Path::new(""), Some(&diff), &[]))?;
        listed.extend(mutant_names(&text).map(|n| (*area, n)));
    }
    let chosen = spread(listed.len(), o.max.unwrap_or(usize::MAX));
    eprintln!(
        "==> mutants: {} on the lines changed since {base} ({} files), testing {}",
        listed.len(),
        changed.len(),
        chosen.len()
    );
    if o.list {
        for &i in &chosen {
            println!("{}", listed[i].1);
        }
        return Ok(());
    }
    let mut missed = Vec::new();
    let mut tested = 0;
    for area in &o.areas {
        let names: Vec<String> = chosen
            .iter()
            .filter(|&&i| std::ptr::eq(listed[i].0, *area))
            .map(|&i| listed[i].1.clone())
            .collect();
        if names.is_empty() {
            continue;
        }
        let out = kept.join(format!("{}-diff", area.name));
        std::fs::remove_dir_all(&out).ok();
        eprintln!("==> mutants: {}: {} mutants", area.name, names.len());
        cargo_mutants(area, area.command(o, &out, Some(&diff), &names))?;
        let path = out.join("mutants.out").join("outcomes.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for (name, _, outcome) in parse_outcomes(&json) {
            tested += 1;
            if outcome == Outcome::Missed {
                missed.push(name);
            }
        }
    }
    if tested != chosen.len() {
        return Err(format!(
            "{} mutants were chosen but {tested} tested: a name did not match",
            chosen.len()
        ));
    }
    if missed.is_empty() {
        println!("mutants: {tested} on the changed lines, none missed");
        Ok(())
    } else {
        Err(format!(
            "{} of {tested} mutants on the changed lines missed (a test to add, or an \
             exclusion with its reason in .cargo/mutants.toml):\n  {}",
            missed.len(),
            missed.join("\n  ")
        ))
    }
}

/// The standard output of a command that must succeed.
fn cargo_output(mut cmd: Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cargo mutants: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo mutants --list: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The mutant names of `--list`'s output (`file:line:col: replace ...`).
fn mutant_names(list: &str) -> impl Iterator<Item = String> + '_ {
    list.lines()
        .filter(|l| l.contains(".rs:"))
        .map(str::to_owned)
}

/// At most `max` of the indices `0..n`, spread evenly over them.
fn spread(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}

/// `name` as a regex matching itself.
fn escape_regex(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// `None` if cargo-mutants is there; with `install`, installs it into
/// target/tools and returns the `PATH` that finds it.
fn ensure_installed(install: bool) -> Result<Option<std::ffi::OsString>, String> {
    let tools = target_dir().join("tools");
    let path = {
        let mut dirs = vec![tools.join("bin")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).map_err(|e| e.to_string())?
    };
    let works = |path: Option<&std::ffi::OsString>| {
        let mut cmd = cargo(&["mutants", "--version"]);
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        cmd.output().is_ok_and(|v| v.status.success())
    };
    if works(None) {
        return Ok(None);
    }
    if works(Some(&path)) {
        return Ok(Some(path));
    }
    if !install {
        return Err(
            "cargo-mutants is not installed: cargo install --locked cargo-mutants \
                    (or pass --install)"
                .into(),
        );
    }
    // A debug build: the optimised one takes about 6 minutes on 2 cores,
    // this one about 1, and cargo-mutants' own work is not what takes time.
    let mut cmd = cargo(&["install", "--locked", "--debug", "--root"]);
    cmd.arg(&tools)
        .arg(CARGO_MUTANTS)
        .env("CARGO_TARGET_DIR", tools.join("build"))
        .env("CARGO_PROFILE_DEV_DEBUG", "0");
    crate::util::run_step(&format!("install {CARGO_MUTANTS}"), cmd)?;
    if works(Some(&path)) {
        Ok(Some(path))
    } else {
        Err(format!("{CARGO_MUTANTS} was installed but does not run"))
    }
}

/// Writes `git diff BASE` of the crates to a file for `--in-diff`, and
/// returns it with the changed files.
fn write_diff(base: &str, kept: &Path) -> Result<(PathBuf, Vec<String>), String> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .map_err(|e| format!("git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // A clone without that commit (a shallow one) falls back to the last
    // commit's changes.
    let base = match git(&["rev-parse", "--verify", &format!("{base}^{{commit}}")]) {
        Ok(_) => base.to_string(),
        Err(e) => {
            eprintln!("mutants: {e}; taking the last commit's changes instead");
            "HEAD~1".to_string()
        }
    };
    let text = git(&["diff", &base, "--", "crates/"])?;
    let files = git(&["diff", "--name-only", &base, "--", "crates/"])?;
    let path = kept.join("in.diff");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, files.lines().map(str::to_owned).collect()))
}

/// What became of one mutant.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Outcome {
    Caught,
    Timeout,
    Missed,
    Unviable,
}

/// Counts per area and file.
#[derive(Default, Debug, PartialEq)]
struct Tally {
    caught: usize,
    timeout: usize,
    missed: usize,
    unviable: usize,
}

impl Tally {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Caught => self.caught += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::Missed => self.missed += 1,
            Outcome::Unviable => self.unviable += 1,
        }
    }

    fn row(&self, name: &str) -> String {
        let viable = self.caught + self.timeout + self.missed;
        let score = if viable == 0 {
            "–".to_string()
        } else {
            format!(
                "{:.0} %",
                100.0 * (self.caught + self.timeout) as f64 / viable as f64
            )
        };
        format!(
            "| {name} | {} | {} | {} | {} | {} | {score} |\n",
            viable + self.unviable,
            self.caught,
            self.timeout,
            self.missed,
            self.unviable
        )
    }
}

/// Every mutant's newest outcome (by the run's start time), read from
/// `<kept>/*/mutants.out/outcomes.json`: (start time, outcome) by name,
/// with the file it is in.
fn outcomes(kept: &Path) -> Result<BTreeMap<String, (String, String, Outcome)>, String> {
    let mut seen: BTreeMap<String, (String, String, Outcome)> = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(kept) else {
        return Ok(seen);
    };
    for dir in dirs.filter_map(Result::ok) {
        let path = dir.path().join("mutants.out").join("outcomes.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let start = json["start_time"].as_str().unwrap_or("").to_string();
        for (name, file, outcome) in parse_outcomes(&json) {
            let newer = seen.get(&name).is_none_or(|(s, _, _)| *s <= start);
            if newer {
                seen.insert(name, (start.clone(), file, outcome));
            }
        }
    }
    Ok(seen)
}

/// The mutants of one outcomes.json: (name, file, outcome); the baseline
/// and anything unfinished are left out.
fn parse_outcomes(json: &Value) -> Vec<(String, String, Outcome)> {
    let mut v = Vec::new();
    for o in json["outcomes"].as_array().into_iter().flatten() {
        let m = &o["scenario"]["Mutant"];
        let (Some(name), Some(file)) = (m["name"].as_str(), m["file"].as_str()) else {
            continue;
        };
        let outcome = match o["summary"].as_str() {
            Some("CaughtMutant") => Outcome::Caught,
            Some("MissedMutant") => Outcome::Missed,
            Some("Timeout") => Outcome::Timeout,
            Some("Unviable") => Outcome::Unviable,
            _ => continue,
        };
        v.push((name.to_string(), file.to_string(), outcome));
    }
    v
}

/// The report: a table per area and file, then the missed mutants.
fn report(kept: &Path) -> Result<String, String> {
    let seen = outcomes(kept)?;
    let mut by_area: BTreeMap<&str, BTreeMap<&str, Tally>> = BTreeMap::new();
    let mut missed = Vec::new();
    for (name, (_, file, outcome)) in &seen {
        let area = AREAS
            .iter()
            .find(|a| a.covers(file))
            .map_or("other", |a| a.name);
        by_area
            .entry(area)
            .or_default()
            .entry(file)
            .or_default()
            .add(*outcome);
        if *outcome == Outcome::Missed {
            missed.push(name.as_str());
        }
    }
    let mut s = format!(
        "mutants: {} tested, from the runs kept in {}\n\n",
        seen.len(),
        kept.display()
    );
    s.push_str(
        "| area / file | mutants | caught | timeout | missed | unviable | caught of viable |\n",
    );
    s.push_str("|---|--:|--:|--:|--:|--:|--:|\n");
    for (area, files) in &by_area {
        let mut total = Tally::default();
        for t in files.values() {
            total.caught += t.caught;
            total.timeout += t.timeout;
            total.missed += t.missed;
            total.unviable += t.unviable;
        }
        s.push_str(&total.row(&format!("**{area}**")));
        for (file, t) in files {
            s.push_str(&t.row(&format!("`{file}`")));
        }
    }
    if !missed.is_empty() {
        s.push_str("\nmissed:\n");
        for name in missed {
            s.push_str(&format!("- {name}\n"));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(name: &str) -> &'static Area {
        AREAS.iter().find(|a| a.name == name).unwrap()
    }

    #[test]
    fn every_library_file_is_in_one_area() {
        let mut files = Vec::new();
        let mut dirs = vec![
            root().join("crates/sockjs/src"),
            root().join("crates/sockjs-proto/src"),
        ];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let rel = p
                        .strip_prefix(root())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    files.push(rel);
                }
            }
        }
        let skipped: Vec<&str> = AREAS.iter().flat_map(|a| a.skip.iter().copied()).collect();
        for f in &files {
            let n = AREAS.iter().filter(|a| a.covers(f)).count();
            let expected = usize::from(!skipped.contains(&f.as_str()));
            assert_eq!(n, expected, "{f} is in {n} areas");
        }
        assert!(files.len() > 50, "{}", files.len());
    }

    #[test]
    fn areas_cover_their_folders_and_only_them() {
        assert!(area("root").covers("crates/sockjs/src/serve.rs"));
        assert!(!area("root").covers("crates/sockjs/src/session/core.rs"));
        assert!(area("endpoints").covers("crates/sockjs/src/endpoints/send.rs"));
        assert!(area("endpoints").covers("crates/sockjs/src/endpoints/receive/body.rs"));
        assert!(!area("endpoints").covers("crates/sockjs/src/endpoints/websocket/socket.rs"));
        assert!(area("websocket").covers("crates/sockjs/src/endpoints/websocket/socket.rs"));
        assert!(
            !area("websocket").covers("crates/sockjs/src/endpoints/websocket/inflate_oracle.rs")
        );
        assert!(!area("session").covers("crates/sockjs/src/sessionx.rs"));
        assert!(!area("session").covers("crates/sockjs/src/session/README.md"));
    }

    #[test]
    fn the_report_counts_the_newest_outcome_of_each_mutant() {
        let dir = std::env::temp_dir().join(format!("xtask-mutants-{}", std::process::id()));
        let run = |sub: &str, start: &str, summaries: &[(&str, &str)]| {
            let outcomes: Vec<Value> = std::iter::once(serde_json::json!({"scenario": "Baseline", "summary": "Success"}))
                .chain(summaries.iter().map(|(name, summary)| {
                    serde_json::json!({
                        "scenario": {"Mutant": {"name": name, "file": "crates/sockjs/src/session/core.rs"}},
                        "summary": summary,
                    })
                }))
                .collect();
            let json = serde_json::json!({"start_time": start, "outcomes": outcomes});
            let out = dir.join(sub).join("mutants.out");
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join("outcomes.json"), json.to_string()).unwrap();
        };
        run(
            "session-0of2",
            "2026-12-06T10:00:00Z",
            &[
                ("a", "MissedMutant"),
                ("b", "CaughtMutant"),
                ("c", "Unviable"),
            ],
        );
        run(
            "session-1of2",
            "2026-12-06T11:00:00Z",
            &[
                ("a", "CaughtMutant"),
                ("d", "Timeout"),
                ("e", "MissedMutant"),
            ],
        );
        let text = report(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            text.contains("| **session** | 5 | 2 | 1 | 1 | 1 | 75 % |"),
            "{text}"
        );
        assert!(text.contains("missed:\n- e\n"), "{text}");
        assert!(!text.contains("- a\n"), "{text}");
    }

    #[test]
    fn the_command_names_the_files_the_shard_and_the_tests() {
        let o = options(&[
            "--area".into(),
            "websocket".into(),
            "--shard".into(),
            "1/8".into(),
        ])
        .unwrap();
        let cmd = o.areas[0].command(&o, Path::new("/out"), None, &[]);
        let argv: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = argv.join(" ");
        assert!(line.starts_with("mutants --package sockjs-axum --all-features --file crates/sockjs/src/endpoints/websocket/**/*.rs --exclude crates/sockjs/src/endpoints/websocket/inflate_oracle.rs --shard 1/8 --sharding round-robin --timeout 180 --output /out -- --lib --test server -- endpoints::"), "{line}");
        assert!(options(&["--shard".into(), "8/8".into()]).is_err());
        assert!(options(&["--area".into(), "nowhere".into()]).is_err());
    }

    #[test]
    fn a_sample_is_spread_over_the_list() {
        assert_eq!(spread(3, 5), vec![0, 1, 2]);
        assert_eq!(spread(10, 4), vec![0, 2, 5, 7]);
        assert_eq!(spread(10, 0), Vec::<usize>::new());
    }

    #[test]
    fn names_are_read_from_the_list_and_escaped_for_the_regex() {
        let list = "Found 2 mutants\ncrates/sockjs/src/a.rs:9:5: replace || with && in f\n\
                    crates/sockjs/src/b.rs:1:2: delete ! in Pool::<T>::g\n";
        let names: Vec<String> = mutant_names(list).collect();
        assert_eq!(names.len(), 2);
        assert_eq!(
            escape_regex(&names[0]),
            r"crates/sockjs/src/a\.rs:9:5: replace \|\| with \&\& in f"
        );
        assert_eq!(
            escape_regex("a(b)[c]{d}^$.*+?-x"),
            r"a\(b\)\[c\]\{d\}\^\$\.\*\+\?\-x"
        );
    }
}
