//! `cargo xtask cluster-test`: three test-server nodes behind a real
//! HAProxy, with a real Redis, and the project's suites run through the
//! proxy unchanged.
//!
//! The task installs `redis-server` and `haproxy` with apt-get when they are
//! missing and it runs as root, starts Redis on a free loopback port, and
//! for each HAProxy setup of `examples/cluster/` (its addresses rewritten to
//! free loopback ports) starts three `sockjs-test-server` nodes
//! (`--redis`, and `--node-url` where the setup needs the session directory)
//! and HAProxy, then runs:
//!
//! - the conformance suite against the proxy's URL;
//! - the browser suite (sockjs-client in Chromium) against the proxy's URL,
//!   with a subset of its cases per setup (`BROWSER_CASES`);
//! - with round-robin routing, the forged-hop check (a client's
//!   `X-SockJS-Forwarded` at a node that does not hold the session, and
//!   through the proxy: refused with 403, nothing opened, the victim's
//!   messages all reach it), then the cluster checks: clients spread over the
//!   nodes all get every `/broadcast` message once and in each sender's
//!   order; then one node is killed (SIGKILL), its clients see their
//!   connections end and open new sessions on the live nodes, the
//!   directory forgets its sessions within the claim TTL, and broadcast goes
//!   on for everyone.
//! - with sticky-path routing, and with round robin on the two nodes the
//!   cluster checks leave, the cut check: no node dies, but the
//!   connections of `resume::Resuming` receivers (websocket,
//!   xhr-streaming, xhr-polling), each through a fault proxy of its own
//!   (`util::CutProxy`) in front of HAProxy, are reset three times
//!   mid-stream; each must reconnect after every cut and get every message
//!   of a numbered room stream once and in order (counted); in round robin
//!   also the silent cut: the connections are frozen twice (nothing
//!   passes, nothing is closed), and the receivers' silence timeout must
//!   find them dead and resume the same way;
//! - then, in the same setups, the resume check: clients receive a
//!   numbered room stream from `/cluster_resume` (room history in Redis
//!   Streams), the node most of them are on is killed, and they reconnect
//!   through the proxy with the last position they saw: every message
//!   once and in order (lost, duplicated and out-of-order counted);
//!   two of the receivers are the Rust client's `resume::Resuming` (its
//!   own reconnect and `since=`), counted alike; with the browser suite on,
//!   two sockjs-client connections in Chromium wrapped in
//!   `sockjs-resume.js` receive the same stream, the node killed holds the
//!   websocket one (found with the test server's
//!   `/cluster_resume_members?client=`), and they resume the same way
//!   (counted in the page).
//!
//! Every process it starts is stopped at the end (and on failure); every
//! wait is bounded. `--bench` measures instead (see the `bench` module).

mod bench;
mod checks;
mod client;
mod cuts;
mod forged;
mod resume;
mod resuming;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::e2e;
use crate::util::{self, Server};

const USAGE: &str = "\
usage: cargo xtask cluster-test [--mode NAME,...] [--no-browser] [--browser-filter S]
       cargo xtask cluster-test --bench [--rounds N]

  --mode NAME,...  only these setups (default: all, in this order):
                     sticky-path    HAProxy hashes the session's URL segment
                                    (and the resume checks run: a room stream,
                                    connections cut, then a node killed;
                                    clients resume)
                     sticky-cookie  HAProxy sticks on the JSESSIONID cookie
                     round-robin    no stickiness; the nodes share a session
                                    directory in Redis (and the cluster checks
                                    run: broadcast, killing a node; then the
                                    resume checks on the two nodes left)
  --no-browser     skip the browser suite (no node, npm or Chromium needed)
  --browser-filter S
                   the browser cases to run in every setup (`cargo xtask e2e
                   --filter` syntax; `all` for every case) instead of the
                   representative subset
  --bench          measure instead of test: broadcast through Redis across 3
                   nodes vs one node, forwarded xhr requests vs direct
                   (release builds; table in target/cluster-test/bench.md)
  --rounds N       runs per measurement with --bench (default 3; medians)
  --repeat-resume N
                   only the round-robin resume check, N times, each on a
                   fresh cluster with one node killed first (as after the
                   cluster checks): a local variant to find its rare
                   failures; reports per run in target/cluster-test/

Needs redis-server and haproxy (installed with apt-get when missing and
running as root), and for the browser suite what `cargo xtask e2e` needs.
Logs and reports: target/cluster-test/.
";

/// The servers' heartbeat delay: short, so the heartbeat checks see some.
const HEARTBEAT_MS: u64 = 1000;

/// The servers' disconnect delay (as `cargo xtask protocol-test` uses).
const DISCONNECT_MS: u64 = 3000;

/// How long a dead node's sessions stay in the directory (round-robin).
const CLAIM_TTL_MS: u64 = 3000;

/// The browser cases run through the proxy, for every transport: what a
/// proxy or a second node could break (`/goodbye`: 12 or 25 sessions each
/// ending with messages queued right before the close). Left out, as the
/// single-server `cargo xtask e2e` covers them and they take most of its
/// time: `close-cycles` (50 closes each; `goodbye` and the conformance
/// suite's `closing/` checks repeat closes through the proxy), `ticker` and
/// `heartbeat` (seconds of waiting each; the 1 s heartbeat says nothing
/// about the proxy's 60 s timeouts), `lone-surrogate`, `origin-refused`,
/// `disabled-websocket` (nothing a proxy changes). `--browser-filter all`
/// runs every case: 165 of 165 passed in both setups, in about 100 s each.
const BROWSER_CASES: &[&str] = &[
    "/opens",
    "/echo-20",
    "/unicode",
    "/large-200k",
    "/burst-200",
    "/server-close",
    "/goodbye",
    "/client-close",
    "/cookie-needed",
    "/origin-allowed",
    "/auth",
    "/broadcast",
    "any/",
];

/// With cookie stickiness only the JSESSIONID service is sticky, and a
/// cross-origin EventSource sends no cookie: the `eventsource` transport
/// (not `iframe-eventsource`, whose requests are same-origin) cannot work.
const COOKIE_CASES: &[&str] = &[
    "websocket/cookie-needed",
    "xhr-streaming/cookie-needed",
    "iframe-eventsource/cookie-needed",
    "htmlfile/cookie-needed",
    "xhr-polling/cookie-needed",
    "jsonp-polling/cookie-needed",
];

/// Known failures of the conformance suite through HAProxy, with why.
const EXPECTED_FAILURES: &str = "xtask/cluster-test-expected-failures.txt";

/// Conformance checks not run through HAProxy, with why (they would fail
/// most runs, not all, so they cannot be expected failures).
const CONFORMANCE_SKIPPED: &[(&str, &str)] = &[(
    "closing/oversize_cycles",
    "HAProxy 2.6 closes both sides of an upgraded connection within a millisecond of \
     the node shutting its side down (strace: shutdown(client, SHUT_WR), close(node), \
     close(client)), so the rest of an oversized message still on its way meets a \
     closed socket and the client gets a TCP reset, which can discard the 1009 close \
     frame; without the proxy the node reads the rest and the close is clean",
)];

/// How HAProxy spreads the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    StickyPath,
    StickyCookie,
    RoundRobin,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::StickyPath, Mode::StickyCookie, Mode::RoundRobin];

    fn name(self) -> &'static str {
        match self {
            Mode::StickyPath => "sticky-path",
            Mode::StickyCookie => "sticky-cookie",
            Mode::RoundRobin => "round-robin",
        }
    }

    /// The nodes share a session directory (no stickiness to rely on).
    fn directory(self) -> bool {
        self == Mode::RoundRobin
    }

    /// The browser suite's `--filter`.
    fn browser_filter(self) -> String {
        match self {
            Mode::StickyCookie => COOKIE_CASES.join(","),
            _ => BROWSER_CASES.join(","),
        }
    }
}

struct Options {
    modes: Vec<Mode>,
    browser: bool,
    browser_filter: Option<String>,
    bench: bool,
    rounds: usize,
    repeat_resume: usize,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut o = Options {
        modes: Mode::ALL.to_vec(),
        browser: true,
        browser_filter: None,
        bench: false,
        rounds: 3,
        repeat_resume: 0,
    };
    let mut args = Args::new(args, USAGE);
    while let Some(flag) = args.flag() {
        match flag {
            "--mode" => {
                let names = args.value()?;
                o.modes = names
                    .split(',')
                    .map(|n| {
                        Mode::ALL
                            .into_iter()
                            .find(|m| m.name() == n)
                            .ok_or_else(|| args.refuse(&format!("{n}: no such mode")))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--no-browser" => o.browser = false,
            "--bench" => o.bench = true,
            "--rounds" => o.rounds = args.number()?.max(1) as usize,
            "--repeat-resume" => o.repeat_resume = args.number()?.max(1) as usize,
            "--browser-filter" => {
                let filter = args.value()?;
                o.browser_filter = Some(if filter == "all" {
                    String::new()
                } else {
                    filter
                });
            }
            "-h" | "--help" => return Ok(None),
            _ => return Err(args.unknown()),
        }
    }
    Ok(Some(o))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Some(opts) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let started = Instant::now();
    let programs =
        util::ensure_programs(&[("redis-server", "redis-server"), ("haproxy", "haproxy")])?;
    let tools = Tools {
        redis_server: programs[0].clone(),
        haproxy: programs[1].clone(),
        out: util::target_dir().join("cluster-test"),
        test_server: PathBuf::new(),
    };
    std::fs::create_dir_all(&tools.out).map_err(|e| format!("{}: {e}", tools.out.display()))?;
    if opts.bench {
        return bench::run(tools, opts.rounds);
    }
    let browser = if opts.browser {
        e2e::require_node()?;
        Some((e2e::ensure_chromium()?, util::npm_install("e2e")?))
    } else {
        None
    };
    let tools = Tools {
        test_server: util::build_bin("sockjs-test-server", "sockjs-test-server", false)?,
        ..tools
    };
    let suite = util::build_bin("sockjs-conformance", "sockjs-conformance", false)?;
    let redis = start_redis(&tools)?;
    let page_port = util::free_port()?;

    let mut results: Vec<(Mode, String, Result<String, String>)> = Vec::new();
    for round in 0..opts.repeat_resume {
        let mode = Mode::RoundRobin;
        eprintln!(
            "\n==> resume check, round {} of {}",
            round + 1,
            opts.repeat_resume
        );
        let mut cluster = match Cluster::start(&tools, mode, &redis, page_port) {
            Ok(cluster) => cluster,
            Err(e) => {
                results.push((mode, "start".into(), Err(e)));
                continue;
            }
        };
        // The check runs on the two nodes the cluster checks leave.
        if let Some(server) = cluster.nodes.last_mut().and_then(|(_, _, s)| s.take()) {
            let mut server = server;
            server.kill();
        }
        let resume_browser = browser.as_ref().map(|(chromium, runner)| resume::Browser {
            chromium,
            runner,
            page_port,
            out: tools.out.join(format!("resume-round-{round}")),
        });
        let r = resume::resume_after_kill(&mut cluster, resume_browser.as_ref());
        drop(cluster);
        if r.is_err() {
            // The nodes' logs of a failed round, kept from the next round.
            for name in ["n1", "n2", "n3"] {
                let log = |r: &str| tools.out.join(format!("{}-{name}{r}.log", mode.name()));
                let _ = std::fs::copy(log(""), log(&format!("-round-{round}")));
            }
        }
        results.push((mode, format!("resume after a node kill, round {round}"), r));
    }
    let modes = if opts.repeat_resume > 0 {
        &[][..]
    } else {
        &opts.modes[..]
    };
    for mode in modes {
        let mode = *mode;
        let t = Instant::now();
        eprintln!("\n==> cluster-test {}: 3 nodes behind HAProxy", mode.name());
        let mut cluster = match Cluster::start(&tools, mode, &redis, page_port) {
            Ok(cluster) => cluster,
            Err(e) => {
                results.push((mode, "start".into(), Err(e)));
                continue;
            }
        };
        if mode == Mode::StickyCookie {
            eprintln!(
                "==> conformance suite: not run with cookie stickiness (it keeps no \
                 cookies, and HAProxy rewrites the JSESSIONID values its cookie checks read)"
            );
        } else {
            let r = conformance(&suite, &cluster);
            results.push((mode, "conformance suite".into(), r));
        }
        if let Some((chromium, runner)) = &browser {
            let filter = opts
                .browser_filter
                .clone()
                .unwrap_or_else(|| mode.browser_filter());
            let r = browser_suite(&tools, &cluster, mode, &filter, chromium, runner, page_port);
            results.push((mode, "browser suite".into(), r));
        }
        let resume_browser = browser.as_ref().map(|(chromium, runner)| resume::Browser {
            chromium,
            runner,
            page_port,
            out: tools.out.join(format!("{}-resume", mode.name())),
        });
        if mode == Mode::StickyPath {
            let r = cuts::resume_after_cuts(&cluster, cuts::Fault::Reset);
            results.push((mode, "resume after connection cuts".into(), r));
            let r = resume::resume_after_kill(&mut cluster, resume_browser.as_ref());
            results.push((mode, "resume after a node kill".into(), r));
        }
        if mode == Mode::RoundRobin {
            let r = forged::forged_marker(&cluster, &redis);
            results.push((mode, "forged hop".into(), r));
            let r = checks::broadcast_and_kill(&mut cluster, &redis);
            results.push((mode, "cluster checks".into(), r));
            // On the two nodes left, one of which is killed in turn.
            let r = cuts::resume_after_cuts(&cluster, cuts::Fault::Reset);
            results.push((mode, "resume after connection cuts".into(), r));
            // The silent cut once, here: stickiness changes nothing in it.
            let r = cuts::resume_after_cuts(&cluster, cuts::Fault::Freeze);
            results.push((mode, "resume after silent cuts".into(), r));
            let r = resume::resume_after_kill(&mut cluster, resume_browser.as_ref());
            results.push((mode, "resume after a node kill".into(), r));
        }
        drop(cluster);
        eprintln!(
            "==> {} took {:.1} s",
            mode.name(),
            t.elapsed().as_secs_f64()
        );
    }
    drop(redis);

    println!(
        "\ncluster-test ({:.0} s in all; logs and reports in {}):",
        started.elapsed().as_secs_f64(),
        tools.out.display()
    );
    let mut failed = 0;
    for (mode, what, result) in &results {
        match result {
            Ok(summary) => println!("  ok    {:<13} {what}: {summary}", mode.name()),
            Err(e) => {
                failed += 1;
                println!("  FAIL  {:<13} {what}: {e}", mode.name());
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} of {} steps failed", results.len()))
    }
}

/// Where things are.
#[derive(Clone)]
pub(crate) struct Tools {
    redis_server: PathBuf,
    haproxy: PathBuf,
    test_server: PathBuf,
    out: PathBuf,
}

/// A `redis-server` on a free loopback port, without persistence.
pub(crate) struct Redis {
    server: Server,
    pub(crate) port: u16,
}

impl Redis {
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Runs `redis-cli` with `args`; its output, trimmed.
    pub(crate) fn cli(&self, args: &[&str]) -> Result<String, String> {
        let cli = util::find_program("redis-cli").ok_or("redis-cli is missing")?;
        let out = Command::new(cli)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "redis-cli {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

pub(crate) fn start_redis(tools: &Tools) -> Result<Redis, String> {
    let port = util::free_port()?;
    let mut cmd = Command::new(&tools.redis_server);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"]);
    let server = Server::start("redis-server", cmd, Some(&tools.out.join("redis.log")))?;
    let redis = Redis { server, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.cli(&["PING"]).as_deref() != Ok("PONG") {
        if Instant::now() > deadline {
            return Err(format!("{} does not answer PING", redis.server.name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(redis)
}

/// Three nodes and HAProxy in front of them.
pub(crate) struct Cluster {
    pub(crate) mode_name: &'static str,
    /// `n1`, `n2`, `n3`, with their ports; `None` once killed.
    pub(crate) nodes: Vec<(String, u16, Option<Server>)>,
    _haproxy: Server,
    pub(crate) proxy: SocketAddr,
    pub(crate) claim_ttl: Duration,
}

impl Cluster {
    fn start(tools: &Tools, mode: Mode, redis: &Redis, page_port: u16) -> Result<Cluster, String> {
        // Known before the nodes start: the iframe page, loaded through
        // HAProxy, makes requests with HAProxy's origin, which the nodes'
        // /restricted_echo must list (the library never trusts `Host`).
        let proxy_port = util::free_port()?;
        let mut nodes = Vec::new();
        for n in 1..=3 {
            let name = format!("n{n}");
            let port = util::free_port()?;
            let mut cmd = Command::new(&tools.test_server);
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--redis", &redis.url(), "--node-name", &name])
                .args(["--heartbeat-delay-ms", &HEARTBEAT_MS.to_string()])
                .args(["--disconnect-delay-ms", &DISCONNECT_MS.to_string()])
                .args([
                    "--sockjs-url",
                    &format!("http://127.0.0.1:{page_port}/sockjs.min.js"),
                ])
                .args(["--allowed-origin", &format!("http://127.0.0.1:{page_port}")])
                .args([
                    "--allowed-origin",
                    &format!("http://127.0.0.1:{proxy_port}"),
                ]);
            if mode.directory() {
                cmd.args(["--node-url", &format!("http://127.0.0.1:{port}")])
                    .args(["--claim-ttl-ms", &CLAIM_TTL_MS.to_string()]);
            }
            let log = tools.out.join(format!("{}-{name}.log", mode.name()));
            let server = Server::start(&format!("node {name}"), cmd, Some(&log))?;
            nodes.push((name, port, Some(server)));
        }
        for (name, port, server) in &mut nodes {
            let addr: SocketAddr = ([127, 0, 0, 1], *port).into();
            let server = server.as_mut().expect("started");
            server.wait_ready(addr, "/echo/info", Duration::from_secs(30))?;
            // Subscribed to every service's channel: broadcasts reach it.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !util::http_get(addr, "/stats")
                .is_some_and(|(_, body)| body.contains("\"subscribed\":true"))
            {
                if Instant::now() > deadline {
                    return Err(format!("node {name}: not subscribed to Redis after 10 s"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        let source = util::root().join(format!("examples/cluster/haproxy-{}.cfg", mode.name()));
        let config =
            std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let ports: Vec<u16> = nodes.iter().map(|(_, p, _)| *p).collect();
        let config = rewrite_addresses(&config, proxy_port, &ports)
            .map_err(|e| format!("{}: {e}", source.display()))?;
        let written = tools.out.join(format!("haproxy-{}.cfg", mode.name()));
        std::fs::write(&written, config).map_err(|e| format!("{}: {e}", written.display()))?;
        let mut cmd = Command::new(&tools.haproxy);
        cmd.arg("-db").arg("-f").arg(&written);
        let log = tools.out.join(format!("{}-haproxy.log", mode.name()));
        let mut haproxy = Server::start("haproxy", cmd, Some(&log))?;
        let proxy: SocketAddr = ([127, 0, 0, 1], proxy_port).into();
        haproxy.wait_ready(proxy, "/echo/info", Duration::from_secs(10))?;
        eprintln!(
            "==> HAProxy at http://{proxy} ({}), nodes {}; Redis at {}",
            written.display(),
            nodes
                .iter()
                .map(|(n, p, _)| format!("{n}=127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(" "),
            redis.url()
        );
        Ok(Cluster {
            mode_name: mode.name(),
            nodes,
            _haproxy: haproxy,
            proxy,
            claim_ttl: Duration::from_millis(CLAIM_TTL_MS),
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.proxy)
    }

    /// A node's address, by name.
    pub(crate) fn node_addr(&self, name: &str) -> Option<SocketAddr> {
        self.nodes
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, _)| ([127, 0, 0, 1], *p).into())
    }
}

/// The example config with its addresses (`127.0.0.1:8080` for HAProxy,
/// `127.0.0.1:8081..8083` for the nodes) replaced by the given ports.
/// A token for names that must not meet those of an earlier run (rooms,
/// session ids): the time in milliseconds, in hex.
fn nonce() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    )
}

fn rewrite_addresses(config: &str, proxy: u16, nodes: &[u16]) -> Result<String, String> {
    let mut out = config.to_owned();
    let mut pairs = vec![("127.0.0.1:8080".to_owned(), format!("127.0.0.1:{proxy}"))];
    for (i, port) in nodes.iter().enumerate() {
        pairs.push((
            format!("127.0.0.1:{}", 8081 + i),
            format!("127.0.0.1:{port}"),
        ));
    }
    for (from, to) in pairs {
        if !out.contains(&from) {
            return Err(format!("no {from} to rewrite"));
        }
        out = out.replace(&from, &to);
    }
    Ok(out)
}

/// Runs `cmd`, echoing its standard output, and returns the last line that
/// counts results (`N passed, M failed`).
fn run_counting(name: &str, mut cmd: Command) -> Result<String, String> {
    eprintln!("==> {name}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    let mut counts = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("{line}");
            if line.contains(" passed, ") && line.contains(" failed") {
                counts = Some(line.trim().to_owned());
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let counts = counts.unwrap_or_else(|| "no count printed".into());
    if status.success() {
        Ok(counts)
    } else {
        Err(format!("{counts} ({status})"))
    }
}

fn conformance(suite: &Path, cluster: &Cluster) -> Result<String, String> {
    let list = Command::new(suite)
        .arg("--list")
        .output()
        .map_err(|e| format!("{}: {e}", suite.display()))?;
    let checks: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| !CONFORMANCE_SKIPPED.iter().any(|(s, _)| s == name))
        .map(str::to_owned)
        .collect();
    for (name, why) in CONFORMANCE_SKIPPED {
        eprintln!("==> not run through the proxy: {name}: {why}");
    }
    let mut cmd = Command::new(suite);
    cmd.args(["--url", &cluster.url()])
        .args(["--disconnect-delay-ms", &DISCONNECT_MS.to_string()])
        .args(["--heartbeat-delay-ms", &HEARTBEAT_MS.to_string()])
        .args(["--filter", &checks.join(",")])
        .arg("--expected-failures")
        .arg(util::root().join(EXPECTED_FAILURES));
    run_counting(
        &format!("conformance suite through HAProxy ({})", cluster.mode_name),
        cmd,
    )
}

fn browser_suite(
    tools: &Tools,
    cluster: &Cluster,
    mode: Mode,
    filter: &str,
    chromium: &Path,
    runner: &Path,
    page_port: u16,
) -> Result<String, String> {
    let out = tools.out.join(mode.name());
    let mut cmd = Command::new("node");
    cmd.arg(runner.join("run.mjs"))
        .args(["--server", &cluster.url()])
        .args(["--page-port", &page_port.to_string()])
        .arg("--chromium")
        .arg(chromium)
        .arg("--out")
        .arg(&out)
        .args([
            "--label",
            &format!("3 nodes behind HAProxy ({})", mode.name()),
        ])
        .args(["--heartbeat-ms", &HEARTBEAT_MS.to_string()])
        .args(["--filter", filter])
        .args(["--budget-s", "150"])
        .arg("--resume-js")
        .arg(e2e::resume_js());
    run_counting(
        &format!("browser suite through HAProxy ({})", mode.name()),
        cmd,
    )
    .map_err(|e| format!("{e}; report: {}", out.join("e2e-report.html").display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configs_rewrite() {
        for mode in Mode::ALL {
            let path = util::root().join(format!("examples/cluster/haproxy-{}.cfg", mode.name()));
            let config = std::fs::read_to_string(&path).unwrap();
            let out = rewrite_addresses(&config, 1, &[2, 3, 4]).unwrap();
            assert!(out.contains("bind 127.0.0.1:1\n"), "{}", mode.name());
            assert!(!out.contains(":808"), "{}", mode.name());
            // What the suites showed each setup needs (see the comments).
            for option in [
                "option abortonclose",
                "option http-no-delay",
                "timeout tunnel",
            ] {
                assert!(config.contains(option), "{}: {option}", mode.name());
            }
        }
    }

    #[test]
    fn flags() {
        let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let o = parse(&args("--mode round-robin,sticky-path --no-browser"))
            .unwrap()
            .unwrap();
        assert_eq!(o.modes, [Mode::RoundRobin, Mode::StickyPath]);
        assert!(!o.browser);
        assert!(parse(&args("--mode nope")).is_err());
    }
}
