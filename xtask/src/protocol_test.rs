//! `cargo xtask protocol-test`: the SockJS conformance suite
//! (`crates/sockjs-conformance`) against the project's test server, against
//! sockjs-node 0.3.24, against any server, or against deliberately broken
//! builds of the test server to prove that the checks can fail.
//!
//! The suite runs as a subprocess (built with `util::build_bin`), so xtask
//! links none of it. Against the test server or sockjs-node, the Rust
//! client's interop test (`crates/sockjs-client/tests/interop.rs`) runs
//! after it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::util::{self, Server};

const USAGE: &str = "\
usage: cargo xtask protocol-test [options]

  (no flags)                the project's test server on a free port, the
                            suite in strict mode (--strict)
  --against-node            sockjs-node 0.3.24 (npm, cached under target/)
  --url BASE                any running server with the test services under BASE
  --mutations               the test server once per deliberately broken
                            behaviour (crates/sockjs-test-server/src/mutations.rs);
                            every run must fail, in a check named for it
  --filter S                only checks whose name contains S
  --disconnect-delay-ms N   the servers' disconnect_delay (default 3000; with
                            --url, the suite assumes 5000 unless given)
  --heartbeat-delay-ms N    the servers' heartbeat_delay (default 2000; with
                            --url, the suite assumes 25000 unless given)
  --close-cycles N          open->close cycles of each closing/ check (default
                            200; the long run: --filter closing/ --close-cycles 5000)
";

/// Known failures of the project's server: `check/name reason` per line.
const EXPECTED_FAILURES: &str = "xtask/protocol-test-expected-failures.txt";

/// Mutation runs going at once (each runs a whole suite).
const PARALLEL_MUTATIONS: usize = 4;

#[derive(Default)]
struct Options {
    against_node: bool,
    url: Option<String>,
    mutations: bool,
    filter: Option<String>,
    disconnect_delay_ms: Option<u64>,
    heartbeat_delay_ms: Option<u64>,
    close_cycles: Option<u64>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = Args::new(args, USAGE);
    while let Some(flag) = args.flag() {
        match flag {
            "--against-node" => o.against_node = true,
            "--mutations" => o.mutations = true,
            "--url" => o.url = Some(args.value()?),
            "--filter" => o.filter = Some(args.value()?),
            "--disconnect-delay-ms" => o.disconnect_delay_ms = Some(args.number()?),
            "--heartbeat-delay-ms" => o.heartbeat_delay_ms = Some(args.number()?),
            "--close-cycles" => o.close_cycles = Some(args.number()?.max(1)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(args.unknown()),
        }
    }
    if [o.against_node, o.url.is_some(), o.mutations]
        .iter()
        .filter(|b| **b)
        .count()
        > 1
    {
        return Err(format!(
            "--against-node, --url and --mutations exclude each other\n\n{USAGE}"
        ));
    }
    Ok(o)
}

impl Options {
    fn delays(&self) -> (u64, u64) {
        (
            self.disconnect_delay_ms.unwrap_or(3000),
            self.heartbeat_delay_ms.unwrap_or(2000),
        )
    }

    /// Flags telling servers their delays.
    fn server_delay_args(&self) -> Vec<String> {
        let (d, h) = self.delays();
        vec![
            "--disconnect-delay-ms".into(),
            d.to_string(),
            "--heartbeat-delay-ms".into(),
            h.to_string(),
        ]
    }

    /// The suite's command line for a server at `url`.
    fn suite(&self, bin: &Path, url: &str, expected_failures: Option<&Path>) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(["--url", url]);
        if self.url.is_none() {
            cmd.args(self.server_delay_args());
        } else {
            if let Some(d) = self.disconnect_delay_ms {
                cmd.args(["--disconnect-delay-ms", &d.to_string()]);
            }
            if let Some(h) = self.heartbeat_delay_ms {
                cmd.args(["--heartbeat-delay-ms", &h.to_string()]);
            }
        }
        if let Some(f) = &self.filter {
            cmd.args(["--filter", f]);
        }
        if self.against_node {
            // Hardening beyond the protocol, which sockjs-node 0.3.24 lacks
            // by design (its htmlfile frames carry raw markup, it has no
            // origin policy): SECURITY.md.
            cmd.args(["--filter", "!security/"]);
        } else if self.url.is_none() {
            // The project's own test server (mutated or not): exact close
            // codes and reasons, FIN after every close frame, hixie-76
            // spoken. sockjs-node and other servers get the allowances.
            cmd.arg("--strict");
        }
        if let Some(n) = self.close_cycles {
            cmd.args(["--close-cycles", &n.to_string()]);
        }
        if let Some(path) = expected_failures {
            cmd.arg("--expected-failures").arg(path);
        }
        cmd
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    let suite = util::build_bin("sockjs-conformance", "sockjs-conformance", false)?;
    if opts.mutations {
        return mutations(&opts, &suite);
    }
    let started = Instant::now();
    let (url, _server, expected) = if let Some(url) = &opts.url {
        (url.clone(), None, None)
    } else if opts.against_node {
        let port = util::free_port()?;
        let extra = opts.server_delay_args();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let server = util::start_node_server(port, &extra)?;
        (format!("http://127.0.0.1:{port}"), Some(server), None)
    } else {
        let bin = util::build_bin("sockjs-test-server", "sockjs-test-server", false)?;
        let (server, url) = start_test_server(&bin, &opts, None, None)?;
        (
            url,
            Some(server),
            Some(util::root().join(EXPECTED_FAILURES)),
        )
    };
    eprintln!("==> conformance suite against {url}");
    let status = opts
        .suite(&suite, &url, expected.as_deref())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", suite.display()))?;
    // The Rust client against the same server, when it is one of ours
    // (the test server or sockjs-node, both with every test service).
    let client = if opts.url.is_none() && opts.filter.is_none() {
        client_interop(&url)
    } else {
        Ok(())
    };
    eprintln!(
        "==> protocol-test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if !status.success() {
        return Err(format!("the conformance suite failed against {url}"));
    }
    client
}

/// `crates/sockjs-client/tests/interop.rs` (ignored in `cargo test`)
/// against the server at `url`: every transport of the Rust client.
fn client_interop(url: &str) -> Result<(), String> {
    let mut cmd = util::cargo(&[
        "test",
        "--quiet",
        "--package",
        "sockjs-axum-client",
        "--test",
        "interop",
        "--",
        "--ignored",
    ]);
    cmd.env("SOCKJS_TEST_URL", url);
    util::run_step(&format!("the Rust client against {url}"), cmd)
}

/// Starts `sockjs-test-server` on a free port (with `--break mutation`
/// when given) and waits until `/echo/info` answers.
fn start_test_server(
    bin: &Path,
    opts: &Options,
    mutation: Option<&str>,
    log: Option<&Path>,
) -> Result<(Server, String), String> {
    let port = util::free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["--port", &port.to_string()])
        .args(opts.server_delay_args())
        // `security/slow_head_cut_off` then takes 2 s, not 10.
        .args(["--header-timeout-ms", "2000"]);
    if let Some(m) = mutation {
        cmd.args(["--break", m]);
    }
    let name = match mutation {
        Some(m) => format!("sockjs-test-server --break {m}"),
        None => "sockjs-test-server".to_string(),
    };
    let mut server = Server::start(&name, cmd, log)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    server.wait_ready(addr, "/echo/info", Duration::from_secs(30))?;
    Ok((server, format!("http://127.0.0.1:{port}")))
}

/// The mutation names, read from the `NAMES` list of the test server's
/// `mutations.rs`.
fn mutation_names() -> Result<Vec<String>, String> {
    let path = util::root().join("crates/sockjs-test-server/src/mutations.rs");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let start = text
        .find("const NAMES: &[&str] = &[")
        .ok_or_else(|| format!("{}: no NAMES list", path.display()))?;
    let list = &text[start..];
    let list = &list[list.find("&[").map_or(0, |i| i + 2)..list.find("];").unwrap_or(0)];
    let names: Vec<String> = list
        .split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    if names.is_empty() {
        return Err(format!("{}: the NAMES list is empty", path.display()));
    }
    Ok(names)
}

/// The checks expected to catch each mutation, read from the `expected`
/// table of the test server's `mutations.rs`: arms `"name" => &["check",
/// "group/", ...]`. A pattern ending in `/` names a whole group.
fn mutation_expectations() -> Result<Vec<(String, Vec<String>)>, String> {
    let path = util::root().join("crates/sockjs-test-server/src/mutations.rs");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let start = text
        .find("fn expected(")
        .ok_or_else(|| format!("{}: no `expected` table", path.display()))?;
    let body = &text[start..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    let mut table = Vec::new();
    for arm in body.split("],").filter(|a| a.contains("=> &[")) {
        let (head, list) = arm.split_once("=> &[").unwrap_or_default();
        let quoted = |s: &str| -> Vec<String> {
            s.split('"').skip(1).step_by(2).map(String::from).collect()
        };
        let names = quoted(head);
        let checks = quoted(list);
        if names.is_empty() || checks.is_empty() {
            return Err(format!(
                "{}: an `expected` arm without a name or a check: {arm}",
                path.display()
            ));
        }
        for name in names {
            table.push((name, checks.clone()));
        }
    }
    Ok(table)
}

/// Whether check `check` is named by `pattern` (a check name, or a group
/// prefix ending in `/`).
fn names_check(pattern: &str, check: &str) -> bool {
    if pattern.ends_with('/') {
        check.starts_with(pattern)
    } else {
        check == pattern
    }
}

/// The outcome of the suite against one broken server.
struct MutationRun {
    name: String,
    result: Result<Vec<String>, String>,
}

fn run_mutation(
    opts: &Options,
    suite: &Path,
    server_bin: &Path,
    name: &str,
    expected: &[String],
) -> MutationRun {
    let result = (|| {
        let logs = util::target_dir().join("protocol-test");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let log = logs.join(format!("{name}.log"));
        let (_server, url) = start_test_server(server_bin, opts, Some(name), Some(&log))?;
        // Only the checks named for the mutation run (a failure elsewhere
        // would not count), and a mutation needs one failing check, not 200
        // cycles of each closing check. The suite's filters select by
        // substring, a superset of `names_check`'s matches.
        let out = opts
            .suite(suite, &url, None)
            .args(["--filter", &expected.join(",")])
            .args(["--close-cycles", "20"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", suite.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        std::fs::write(logs.join(format!("{name}.suite.txt")), stdout.as_bytes()).ok();
        let failed: Vec<String> = stdout
            .lines()
            .filter(|l| l.starts_with("FAIL "))
            .map(|l| {
                l["FAIL ".len()..]
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        if out.status.success() != failed.is_empty() {
            return Err(format!(
                "the suite exited with {} but reported {} failures",
                out.status,
                failed.len()
            ));
        }
        Ok(failed)
    })();
    MutationRun {
        name: name.to_string(),
        result,
    }
}

fn mutations(opts: &Options, suite: &Path) -> Result<(), String> {
    let started = Instant::now();
    let names = mutation_names()?;
    let server_bin: PathBuf = util::build_bin("sockjs-test-server", "sockjs-test-server", false)?;
    eprintln!(
        "==> {} mutations, each must make the suite fail",
        names.len()
    );
    let expectations = mutation_expectations()?;
    let expected_for = |name: &str| -> Vec<String> {
        expectations
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    };
    let unlisted: Vec<&String> = names
        .iter()
        .filter(|n| expected_for(n).is_empty())
        .collect();
    if !unlisted.is_empty() {
        return Err(format!(
            "mutations without expected checks in mutations.rs `expected`: {unlisted:?}"
        ));
    }
    let bin = server_bin.as_path();
    let mut caught = 0;
    // PARALLEL_MUTATIONS workers, each taking the next mutation when done
    // with one (a slow mutation, an expiry waited out, holds one worker,
    // not a batch); the results are reported in the list's order.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let runs: Vec<MutationRun> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..PARALLEL_MUTATIONS)
            .map(|_| {
                s.spawn(|| {
                    let mut runs = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else {
                            return runs;
                        };
                        let expected = expected_for(name);
                        runs.push((i, run_mutation(opts, suite, bin, name, &expected)));
                    }
                })
            })
            .collect();
        let mut all: Vec<(usize, MutationRun)> = workers
            .into_iter()
            .flat_map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![(
                        usize::MAX,
                        MutationRun {
                            name: "?".into(),
                            result: Err("a worker panicked".into()),
                        },
                    )]
                })
            })
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, run)| run).collect()
    });
    for run in &runs {
        let expected = expected_for(&run.name);
        match &run.result {
            Ok(failed) if failed.is_empty() => {
                println!("MISSED {}: every check passed", run.name)
            }
            Ok(failed) => {
                let by_named = failed
                    .iter()
                    .any(|f| expected.iter().any(|p| names_check(p, f)));
                if by_named {
                    caught += 1;
                    println!(
                        "caught {}: {} checks failed ({})",
                        run.name,
                        failed.len(),
                        failed.join(", ")
                    );
                } else {
                    println!(
                        "WRONG  {}: caught by the wrong checks ({}), none of {}",
                        run.name,
                        failed.join(", "),
                        expected.join(", ")
                    );
                }
            }
            Err(e) => println!("ERROR  {}: {e}", run.name),
        }
    }
    println!(
        "{caught} of {} mutations caught by their named checks ({:.1} s; suite output in target/protocol-test/)",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    if caught == runs.len() {
        Ok(())
    } else {
        Err("some mutations were not caught by the checks named for them".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mutation_names() {
        let names = mutation_names().unwrap();
        assert!(names.len() >= 5, "{names:?}");
        assert!(names.iter().all(|n| !n.is_empty() && !n.contains(' ')));
    }

    #[test]
    fn every_mutation_names_its_checks() {
        let table = mutation_expectations().unwrap();
        for name in mutation_names().unwrap() {
            assert!(
                table.iter().any(|(n, c)| *n == name && !c.is_empty()),
                "{name} has no expected checks"
            );
        }
        assert!(names_check("info/", "info/entropy"));
        assert!(names_check("info/entropy", "info/entropy"));
        assert!(!names_check("info/entropy", "info/entropy_x"));
    }

    #[test]
    fn flags() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert!(parse(&args("--against-node --mutations")).is_err());
        let o = parse(&args("--url http://x:1 --heartbeat-delay-ms 300")).unwrap();
        assert_eq!(o.url.as_deref(), Some("http://x:1"));
        assert_eq!(o.delays(), (3000, 300));
        assert!(parse(&args("--bogus")).is_err());
    }
}
