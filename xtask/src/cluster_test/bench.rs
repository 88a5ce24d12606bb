//! `cargo xtask cluster-test --bench`: what several nodes cost, measured
//! with `sockjs-loadgen` (release builds, like `cargo xtask bench`).
//!
//! - Broadcast (`/broadcast`, one sender keeping 8 messages in flight, every
//!   delivery checked for order) on one node, and on three nodes through
//!   Redis with the sessions spread over them (session `i` on node `i mod
//!   3`, the sender on the first); the same through a room, without
//!   history (`/room_broadcast`: pub/sub) and with it
//!   (`/history_broadcast`: Redis streams give each message its position,
//!   once for all nodes; on one node, history in memory).
//! - One xhr-polling (and xhr-streaming) session echoing in a closed loop:
//!   on one node; on a node of the round-robin cluster with every request
//!   sent to it (the session's node: nothing forwarded); with `xhr_send`,
//!   the polls, or both sent to other nodes (forwarded to the session's
//!   node through the session directory); and through HAProxy, round robin
//!   (two requests in three forwarded) and sticky (none).
//!
//! Each row is the median of `--rounds` runs (3). Everything runs on this
//! machine's loopback, the load generator, Redis, HAProxy and the three
//! nodes sharing its CPUs, unpinned.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{start_redis, Cluster, Mode, Redis, Tools, DISCONNECT_MS, HEARTBEAT_MS};
use crate::bench::{fmt, median, total};
use crate::util::{self, Server};
use crate::util::{machine_facts, parse_obj, Obj};

const DURATION_MS: &str = "2000";
const WARMUP_MS: &str = "500";

/// One measured row.
struct Row {
    scenario: String,
    setup: String,
    runs: Vec<Obj>,
}

pub(crate) fn run(tools: Tools, rounds: usize) -> Result<(), String> {
    let started = Instant::now();
    let loadgen = util::build_bin("sockjs-bench", "sockjs-loadgen", true)?;
    let tools = Tools {
        test_server: util::build_bin("sockjs-test-server", "sockjs-test-server", true)?,
        ..tools
    };
    let redis = start_redis(&tools)?;
    let mut bench = Bench {
        loadgen,
        rounds,
        rows: Vec::new(),
    };
    one_node(&mut bench, &tools)?;
    round_robin(&mut bench, &tools, &redis)?;
    sticky(&mut bench, &tools, &redis)?;
    drop(redis);

    let rows = bench.rows;
    let table = render(&rows, rounds, started.elapsed());
    let path = tools.out.join("bench.md");
    std::fs::write(&path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{table}");
    println!("(also in {})", path.display());
    let errors: f64 = rows.iter().map(|r| total(&r.runs, "errors")).sum();
    if errors > 0.0 {
        return Err(format!(
            "{errors} errors (wrong, missing or reordered messages)"
        ));
    }
    Ok(())
}

/// The load generator and the rows measured with it so far.
struct Bench {
    loadgen: PathBuf,
    rounds: usize,
    rows: Vec<Row>,
}

impl Bench {
    /// Runs the load generator `rounds` times with `args` and keeps the
    /// runs as a row (printed as it is measured).
    fn measure(&mut self, scenario: &str, setup: &str, args: &[String]) -> Result<(), String> {
        let mut runs = Vec::new();
        for _ in 0..self.rounds {
            runs.push(loadgen_run(&self.loadgen, args)?);
        }
        let row = Row {
            scenario: scenario.into(),
            setup: setup.into(),
            runs,
        };
        eprintln!(
            "    {:<28} {:<44} {:>8} msg/s  p50 {:>7} µs  p99 {:>7} µs  errors {}",
            row.scenario,
            row.setup,
            fmt(median(&row.runs, "msgs_per_s")),
            fmt(median(&row.runs, "p50_us")),
            fmt(median(&row.runs, "p99_us")),
            total(&row.runs, "errors")
        );
        self.rows.push(row);
        Ok(())
    }
}

/// Broadcast and the two echo scenarios on one node, no Redis.
fn one_node(bench: &mut Bench, tools: &Tools) -> Result<(), String> {
    eprintln!("==> one node, no Redis");
    let port = util::free_port()?;
    let mut cmd = Command::new(&tools.test_server);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--heartbeat-delay-ms", &HEARTBEAT_MS.to_string()])
        .args(["--disconnect-delay-ms", &DISCONNECT_MS.to_string()]);
    let log = tools.out.join("bench-single.log");
    let mut node = Server::start("node", cmd, Some(&log))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    node.wait_ready(addr, "/echo/info", Duration::from_secs(30))?;
    for c in [50, 500] {
        bench.measure(
            &format!("broadcast c={c} p=8"),
            "1 node",
            &broadcast(c, addr),
        )?;
    }
    for c in [50, 500] {
        for (what, prefix) in ROOMS {
            bench.measure(
                &format!("broadcast c={c} p=8, {what}"),
                "1 node",
                &with(broadcast(c, addr), &["--prefix", prefix]),
            )?;
        }
    }
    bench.measure("xhr-polling-echo c=1", "1 node", &polling(addr))?;
    bench.measure("xhr-streaming-echo c=1", "1 node", &streaming(addr))?;
    Ok(())
}

/// Three nodes behind HAProxy round robin: broadcast with the sessions
/// spread, and the echo scenarios with requests sent to the session's node,
/// forwarded, and through the proxy.
fn round_robin(bench: &mut Bench, tools: &Tools, redis: &Redis) -> Result<(), String> {
    eprintln!("==> three nodes, Redis broker and directory, HAProxy round robin");
    let cluster = Cluster::start(tools, Mode::RoundRobin, redis, util::free_port()?)?;
    let n: Vec<SocketAddr> = ["n1", "n2", "n3"]
        .iter()
        .map(|name| cluster.node_addr(name).expect("three nodes"))
        .collect();
    let spread = n
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    for c in [50, 500] {
        bench.measure(
            &format!("broadcast c={c} p=8"),
            "3 nodes through Redis, sessions spread",
            &with(broadcast(c, n[0]), &["--spread", &spread]),
        )?;
    }
    for c in [50, 500] {
        for (what, prefix) in ROOMS {
            bench.measure(
                &format!("broadcast c={c} p=8, {what}"),
                "3 nodes through Redis, sessions spread",
                &with(
                    broadcast(c, n[0]),
                    &["--spread", &spread, "--prefix", prefix],
                ),
            )?;
        }
    }
    let (n2, n3) = (n[1].to_string(), n[2].to_string());
    bench.measure(
        "xhr-polling-echo c=1",
        "3 nodes, every request to the session's node",
        &polling(n[0]),
    )?;
    bench.measure(
        "xhr-polling-echo c=1",
        "3 nodes, xhr_send forwarded",
        &with(polling(n[0]), &["--send-addr", &n2]),
    )?;
    bench.measure(
        "xhr-polling-echo c=1",
        "3 nodes, polls forwarded",
        &with(polling(n[0]), &["--poll-addr", &n2]),
    )?;
    bench.measure(
        "xhr-polling-echo c=1",
        "3 nodes, xhr_send and polls forwarded",
        &with(polling(n[0]), &["--send-addr", &n2, "--poll-addr", &n3]),
    )?;
    bench.measure(
        "xhr-polling-echo c=1",
        "HAProxy round robin (2 in 3 forwarded)",
        &polling(cluster.proxy),
    )?;
    bench.measure(
        "xhr-streaming-echo c=1",
        "3 nodes, every request to the session's node",
        &streaming(n[0]),
    )?;
    bench.measure(
        "xhr-streaming-echo c=1",
        "3 nodes, xhr_send forwarded",
        &with(streaming(n[0]), &["--send-addr", &n2]),
    )
}

/// Three nodes behind HAProxy sticky on the session: polling, nothing
/// forwarded.
fn sticky(bench: &mut Bench, tools: &Tools, redis: &Redis) -> Result<(), String> {
    eprintln!("==> three nodes, HAProxy sticky on the session");
    let cluster = Cluster::start(tools, Mode::StickyPath, redis, util::free_port()?)?;
    bench.measure(
        "xhr-polling-echo c=1",
        "HAProxy sticky (nothing forwarded)",
        &polling(cluster.proxy),
    )
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// One xhr-polling session echoing at `addr`.
fn polling(addr: SocketAddr) -> Vec<String> {
    args(&[
        "--scenario",
        "xhr-polling-echo",
        "--clients",
        "1",
        "--addr",
        &addr.to_string(),
    ])
}

/// One xhr-streaming session echoing at `addr`.
fn streaming(addr: SocketAddr) -> Vec<String> {
    args(&[
        "--scenario",
        "xhr-streaming-echo",
        "--clients",
        "1",
        "--addr",
        &addr.to_string(),
    ])
}

/// The test server's room services: a room without history (its messages
/// cross nodes on Redis pub/sub) and one with (Redis streams give each
/// message its position, once for all nodes).
const ROOMS: [(&str, &str); 2] = [
    ("a room", "/room_broadcast"),
    ("a room with history", "/history_broadcast"),
];

/// Broadcast to `c` sessions at `addr`, 8 messages in flight.
fn broadcast(c: usize, addr: SocketAddr) -> Vec<String> {
    args(&[
        "--scenario",
        "broadcast",
        "--clients",
        &c.to_string(),
        "--pipeline",
        "8",
        "--addr",
        &addr.to_string(),
    ])
}

/// `a` with `more` after it.
fn with(mut a: Vec<String>, more: &[&str]) -> Vec<String> {
    a.extend(more.iter().map(|s| s.to_string()));
    a
}

/// One run of the load generator: its JSON report.
fn loadgen_run(loadgen: &std::path::Path, args: &[String]) -> Result<Obj, String> {
    let out = Command::new(loadgen)
        .args(args)
        .args(["--duration-ms", DURATION_MS, "--warmup-ms", WARMUP_MS])
        .output()
        .map_err(|e| format!("{}: {e}", loadgen.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        eprint!("{stderr}");
    }
    stdout
        .lines()
        .rev()
        .find_map(parse_obj)
        .ok_or_else(|| format!("sockjs-loadgen {args:?}: no report ({})", out.status))
}

fn render(rows: &[Row], rounds: usize, took: Duration) -> String {
    let mut t = format!(
        "Produced by `cargo xtask cluster-test --bench` ({:.0} s): medians of {rounds} runs, \
         {DURATION_MS} ms measured each after {WARMUP_MS} ms of warm-up. \
         Nodes: `sockjs-test-server` (release); broadcast counts deliveries \
         (messages x sessions); latencies are from sending a message to its \
         arrival (broadcast: at each session; echo: back at the sender). \
         No CPU pinning: the load generator, Redis, HAProxy and the nodes share \
         the machine's CPUs.\n\n{}\n",
        took.as_secs_f64(),
        machine_facts(None)
    );
    t.push_str(
        "| scenario | setup | msg/s | p50 µs | p99 µs | errors |\n|---|---|--:|--:|--:|--:|\n",
    );
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.setup,
            fmt(median(&r.runs, "msgs_per_s")),
            fmt(median(&r.runs, "p50_us")),
            fmt(median(&r.runs, "p99_us")),
            total(&r.runs, "errors")
        ));
    }
    t
}
