//! `cargo xtask bench`: the project's test server side by side with
//! sockjs-node 0.3.24 (and, for websocket echo, a minimal tokio-tungstenite
//! server as the floor), driven by the load generator of
//! `crates/sockjs-bench` (`sockjs-loadgen`, built in release mode).
//!
//! Every scenario runs against every server in alternation (A B C A B C...,
//! `--rounds` times, each run on a freshly started server) and the medians
//! are reported. When the machine has two or more CPUs the server runs on
//! one and the load generator on another (`taskset`). The table is printed,
//! written to `target/bench/latest.md` and, with the raw runs, to
//! `target/bench/latest.json`; `--update-md` also rewrites `BENCHMARKS.md`.
//!
//! `--quick` (CI): our server only, small client counts, about a second per
//! scenario. The task fails when our server produced any error (a wrong,
//! missing or out-of-order echo or delivery, a failed connection, ...).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::util::{
    build_bin, free_port, machine_facts, nofile_hard, npm_install, num, parse_obj, pinned,
    raise_nofile, root, target_dir, tool_works, write, Obj, Server,
};

const HELP: &str = "\
usage: cargo xtask bench [options]

  --quick              CI mode: our server only, small C, ~1 s per scenario
  --rounds N           rounds per scenario and server (default 3, quick 1)
  --duration-ms MS     measured window per run (default 2000, quick 1000)
  --warmup-ms MS       load before the window (default 500, quick 200)
  --scenario A,B       only these scenario families (ws-echo, raw-ws-echo, ws-deflate,
                       xhr-streaming-echo, xhr-polling-echo, eventsource-echo,
                       broadcast, sessions)
  --servers A,B        among ours,node,floor (default: all that are available)
  --sessions N         sessions held by the sessions scenario (default 10000,
                       quick 500); alone it runs only the sessions scenario
  --update-md          rewrite BENCHMARKS.md with this run's table
  --dev                build the dev profile, not release (CI's smoke run: it
                       reuses the test builds; its figures are not comparable)
";

/// One server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Srv {
    Ours,
    Node,
    Floor,
}

impl Srv {
    fn name(self) -> &'static str {
        match self {
            Srv::Ours => "ours",
            Srv::Node => "sockjs-node",
            Srv::Floor => "floor",
        }
    }
}

#[derive(Debug)]
struct Opts {
    quick: bool,
    rounds: usize,
    duration_ms: u64,
    warmup_ms: u64,
    families: Option<Vec<String>>,
    servers: Option<Vec<Srv>>,
    sessions: Option<usize>,
    update_md: bool,
    /// Dev-profile binaries (a smoke run of the harness).
    dev: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        quick: false,
        rounds: 0,
        duration_ms: 0,
        warmup_ms: 0,
        families: None,
        servers: None,
        sessions: None,
        update_md: false,
        dev: false,
    };
    let mut args = Args::new(args, HELP);
    while let Some(flag) = args.flag() {
        match flag {
            "--quick" => o.quick = true,
            "--rounds" => o.rounds = args.number()?.max(1) as usize,
            "--duration-ms" => o.duration_ms = args.number()?,
            "--warmup-ms" => o.warmup_ms = args.number()?,
            "--scenario" => {
                o.families = Some(args.value()?.split(',').map(str::to_string).collect())
            }
            "--servers" => {
                let mut v = Vec::new();
                for s in args.value()?.split(',') {
                    v.push(match s {
                        "ours" => Srv::Ours,
                        "node" | "sockjs-node" => Srv::Node,
                        "floor" => Srv::Floor,
                        other => return Err(format!("unknown server {other} (ours, node, floor)")),
                    });
                }
                o.servers = Some(v);
            }
            "--sessions" => o.sessions = Some(args.number()? as usize),
            "--update-md" => o.update_md = true,
            "--dev" => o.dev = true,
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(args.unknown()),
        }
    }
    if o.rounds == 0 {
        o.rounds = if o.quick { 1 } else { 3 };
    }
    if o.duration_ms == 0 {
        o.duration_ms = if o.quick { 1000 } else { 2000 };
    }
    if o.warmup_ms == 0 {
        o.warmup_ms = if o.quick { 200 } else { 500 };
    }
    if o.sessions.is_some() && o.families.is_none() {
        o.families = Some(vec!["sessions".into()]);
    }
    Ok(o)
}

/// One configuration of a scenario (a row of the table).
#[derive(Debug, Clone)]
struct Config {
    family: &'static str,
    label: String,
    args: Vec<String>,
    servers: Vec<Srv>,
    sessions: bool,
}

fn configs(o: &Opts, sessions: usize) -> Vec<Config> {
    let small = o.quick;
    let cs: &[usize] = if small { &[1, 10] } else { &[1, 50, 500] };
    let pipelined_c = if small { 10 } else { 50 };
    let mut v = Vec::new();
    let mut add = |family: &'static str, label: String, args: Vec<String>, servers: &[Srv]| {
        v.push(Config {
            family,
            label,
            args,
            servers: servers.to_vec(),
            sessions: family == "sessions",
        });
    };
    let all = [Srv::Ours, Srv::Node, Srv::Floor];
    let sockjs = [Srv::Ours, Srv::Node];
    for family in ["ws-echo", "raw-ws-echo"] {
        for &c in cs {
            add(
                family,
                format!("{family} c={c}"),
                scen(family, c, None),
                &all,
            );
        }
        add(
            family,
            format!("{family} c={pipelined_c} p=16"),
            scen(family, pipelined_c, Some(16)),
            &all,
        );
    }
    // permessage-deflate: the same typical JSON event echoed with and
    // without it, counting the bytes on the wire (services /echo and
    // /deflate_echo of both servers).
    let dc = if small { 10 } else { 50 };
    for (name, prefix) in [
        ("ws-plain-echo", "/echo"),
        ("ws-deflate-echo", "/deflate_echo"),
    ] {
        let mut args = scen(name, dc, None);
        args.extend(["--prefix".into(), prefix.into()]);
        add("ws-deflate", format!("{name} c={dc}"), args, &sockjs);
    }
    for family in ["xhr-streaming-echo", "xhr-polling-echo", "eventsource-echo"] {
        for &c in cs {
            add(
                family,
                format!("{family} c={c}"),
                scen(family, c, None),
                &sockjs,
            );
        }
    }
    let bcs: &[usize] = if small { &[10] } else { &[50, 500] };
    for &c in bcs {
        add(
            "broadcast",
            format!("broadcast c={c} p=8"),
            scen("broadcast", c, Some(8)),
            &sockjs,
        );
    }
    for s in [
        "sessions-ws",
        "sessions-xhr-streaming",
        "sessions-eventsource",
        "sessions-htmlfile",
    ] {
        let args = vec![
            "--scenario".into(),
            s.into(),
            "--sessions".into(),
            sessions.to_string(),
            "--sources".into(),
            "16".into(),
            "--settle-ms".into(),
            "2500".into(),
        ];
        // The floor answers framed websockets too: a floor for a session's cost.
        let servers: &[Srv] = if s == "sessions-ws" { &all } else { &sockjs };
        add("sessions", format!("{s} n={sessions}"), args, servers);
    }
    v.retain(|c| match &o.families {
        Some(f) => f.iter().any(|f| f == c.family),
        None => true,
    });
    v
}

fn scen(name: &str, clients: usize, pipeline: Option<usize>) -> Vec<String> {
    let mut a = vec![
        "--scenario".into(),
        name.into(),
        "--clients".into(),
        clients.to_string(),
    ];
    if let Some(p) = pipeline {
        a.extend(["--pipeline".into(), p.to_string()]);
    }
    a
}

/// The binaries and the machine facts a run needs.
#[derive(Debug)]
struct Setup {
    loadgen: PathBuf,
    ours: Option<PathBuf>,
    floor: Option<PathBuf>,
    node_dir: Option<PathBuf>,
    /// (server CPU, load generator CPU) when pinning.
    pin: Option<(usize, usize)>,
    logs: PathBuf,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let o = parse(args)?;
    let hard = nofile_hard();
    raise_nofile(hard);
    let mut sessions = o.sessions.unwrap_or(if o.quick { 500 } else { 10_000 });
    // The server and the load generator each hold one descriptor per session.
    if let Some(hard) = hard {
        let most = (hard as usize).saturating_sub(1000);
        if sessions > most {
            eprintln!(
                "bench: WARNING: --sessions {sessions} needs more open files than this machine \
                 allows a process (hard RLIMIT_NOFILE {hard}, not raisable here); holding {most} instead"
            );
            sessions = most;
        }
    }

    let loadgen = build_bin("sockjs-bench", "sockjs-loadgen", !o.dev)?;
    // --quick means our server only, unless --servers says otherwise.
    let wanted = |s: Srv| match &o.servers {
        Some(v) => v.contains(&s),
        None => !o.quick || s == Srv::Ours,
    };
    let ours = if wanted(Srv::Ours) {
        match build_bin("sockjs-examples", "sockjs-test-server", !o.dev) {
            Ok(p) => Some(p),
            Err(e) if o.servers.is_none() && !o.quick => {
                eprintln!("bench: WARNING: our test server cannot be built ({e}); skipping it");
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let floor = if wanted(Srv::Floor) {
        Some(build_bin("sockjs-bench", "ws-floor-server", !o.dev)?)
    } else {
        None
    };
    let node_dir = if wanted(Srv::Node) {
        if tool_works("node") && tool_works("npm") {
            Some(npm_install("sockjs-node-server")?)
        } else if o.servers.is_some() {
            return Err("sockjs-node asked for, but node/npm are not available".into());
        } else {
            eprintln!("bench: node/npm not found: sockjs-node is left out");
            None
        }
    } else {
        None
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = (cpus >= 2 && tool_works("taskset")).then_some((1, 0));
    let logs = target_dir().join("bench").join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let setup = Setup {
        loadgen,
        ours,
        floor,
        node_dir,
        pin,
        logs,
    };
    let have = |s: Srv| match s {
        Srv::Ours => setup.ours.is_some(),
        Srv::Node => setup.node_dir.is_some(),
        Srv::Floor => setup.floor.is_some(),
    };
    let mut cfgs = configs(&o, sessions);
    for c in &mut cfgs {
        c.servers.retain(|&s| have(s));
    }
    cfgs.retain(|c| !c.servers.is_empty());
    if cfgs.is_empty() {
        return Err("nothing to run (no server available for the chosen scenarios)".into());
    }
    eprintln!(
        "==> bench: {} configurations x {} round(s), {} ms each; pinning: {}",
        cfgs.len(),
        o.rounds,
        o.duration_ms,
        match pin {
            Some((s, c)) => format!("server on CPU {s}, load generator on CPU {c}"),
            None => "none (fewer than 2 CPUs or no taskset)".into(),
        }
    );

    let mut results: Vec<(Config, Srv, Vec<Obj>)> = Vec::new();
    for cfg in &cfgs {
        let mut per: BTreeMap<Srv, Vec<Obj>> = BTreeMap::new();
        for round in 1..=o.rounds {
            for &srv in &cfg.servers {
                let r = run_once(&setup, &o, cfg, srv)?;
                eprintln!(
                    "    {:<34} {:<11} r{round}  {}",
                    cfg.label,
                    srv.name(),
                    brief(cfg, &r)
                );
                per.entry(srv).or_default().push(r);
            }
        }
        for (srv, runs) in per {
            results.push((cfg.clone(), srv, runs));
        }
    }

    let elapsed = started.elapsed();
    let command = format!("cargo xtask bench {}", args.join(" "));
    let table = render(&results, &o, sessions);
    let facts = machine_facts(pin);
    println!("\n{table}");
    eprintln!("bench: {:.0} s in all", elapsed.as_secs_f64());

    let dir = target_dir().join("bench");
    let md = format!(
        "# Benchmarks\n\nCommand: `{}`, {:.0} s in all.\n\n{facts}\n{table}",
        command.trim(),
        elapsed.as_secs_f64()
    );
    write(&dir.join("latest.md"), &md)?;
    let json = to_json(&results, &command, &facts);
    write(&dir.join("latest.json"), &json)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    write(&dir.join(format!("bench-{stamp}.json")), &json)?;
    eprintln!("bench: wrote {}/latest.{{md,json}}", dir.display());
    if o.update_md {
        let path = root().join("BENCHMARKS.md");
        // Whatever follows the marker (e.g. a separate --sessions run) is kept.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find(KEEP_MARKER).map(|i| old[i..].to_string()))
            .unwrap_or_default();
        let mut md = benchmarks_md(&command, &facts, &table, elapsed);
        if !kept.is_empty() {
            md.push('\n');
            md.push_str(&kept);
        }
        write(&path, &md)?;
        eprintln!("bench: rewrote BENCHMARKS.md (above {KEEP_MARKER})");
    }

    let our_errors: f64 = results
        .iter()
        .filter(|(_, s, _)| *s == Srv::Ours)
        .flat_map(|(_, _, runs)| runs.iter().map(|r| num(r, "errors").unwrap_or(0.0)))
        .sum();
    if our_errors > 0.0 {
        return Err(format!("our server: {our_errors} errors (see above)"));
    }
    Ok(())
}

/// Starts the server, runs the load generator once against it, stops it.
fn run_once(setup: &Setup, o: &Opts, cfg: &Config, srv: Srv) -> Result<Obj, String> {
    let port = free_port()?;
    let mut extra: Vec<String> = Vec::new();
    if cfg.sessions {
        // Closed sessions go away after a second, so RSS after close is read
        // after they did (the same for both servers).
        extra.extend(["--disconnect-delay-ms".into(), "1000".into()]);
    }
    let (program, mut args): (PathBuf, Vec<String>) = match srv {
        Srv::Ours => (setup.ours.clone().expect("built"), vec![]),
        Srv::Floor => (setup.floor.clone().expect("built"), vec![]),
        Srv::Node => (
            PathBuf::from("node"),
            vec![setup
                .node_dir
                .as_ref()
                .expect("installed")
                .join("server.js")
                .display()
                .to_string()],
        ),
    };
    args.extend([
        "--port".into(),
        port.to_string(),
        "--host".into(),
        "127.0.0.1".into(),
    ]);
    args.extend(extra);
    let mut cmd = pinned(setup.pin.map(|p| p.0), &program);
    cmd.args(&args);
    let log = setup.logs.join(format!("{}.log", srv.name()));
    let mut server = Server::start(srv.name(), cmd, Some(&log))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    server
        .wait_ready(addr, "/echo/info", Duration::from_secs(30))
        .map_err(|e| format!("{e} (log: {})", log.display()))?;

    let mut lg = pinned(setup.pin.map(|p| p.1), &setup.loadgen);
    lg.args([
        "--addr",
        &addr.to_string(),
        "--server-pid",
        &server.pid().to_string(),
    ])
    .args(["--duration-ms", &o.duration_ms.to_string()])
    .args(["--warmup-ms", &o.warmup_ms.to_string()])
    .args(&cfg.args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = lg
        .spawn()
        .map_err(|e| format!("cannot start sockjs-loadgen: {e}"))?;
    // The load generator bounds itself; this is a second fence.
    let limit = Duration::from_millis(o.duration_ms + o.warmup_ms) + Duration::from_secs(120);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{}: load generator still running after {limit:?}",
                cfg.label
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)
        .map_err(|e| e.to_string())?;
    drop(server);
    if !status.success() {
        return Err(format!(
            "{} against {}: load generator failed ({status})",
            cfg.label,
            srv.name()
        ));
    }
    let line = out.lines().last().unwrap_or("");
    parse_obj(line)
        .ok_or_else(|| format!("{}: unreadable load generator output {line:?}", cfg.label))
}

// ---------------------------------------------------------------- results

pub(crate) fn median(runs: &[Obj], key: &str) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| num(r, key)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub(crate) fn total(runs: &[Obj], key: &str) -> f64 {
    runs.iter().filter_map(|r| num(r, key)).sum()
}

/// One line per run, for the progress log.
fn brief(cfg: &Config, r: &Obj) -> String {
    let g = |k: &str| num(r, k);
    if cfg.sessions {
        format!(
            "opened {} in {:.1} s, {} KiB/session, {} µs/session, RSS after close {} KiB, {} errors",
            fmt(g("opened")),
            g("open_s").unwrap_or(0.0),
            fmt(g("rss_per_session_kib")),
            fmt(g("cpu_us_per_session")),
            fmt(g("rss_closed_kib")),
            fmt(g("errors"))
        )
    } else {
        format!(
            "{} msg/s, p50 {} µs, p99 {} µs, server {} µs/msg ({}% CPU, loadgen {}%), {} errors",
            fmt(g("msgs_per_s")),
            fmt(g("p50_us")),
            fmt(g("p99_us")),
            fmt(g("server_cpu_us_per_msg")),
            fmt(g("server_cpu_pct")),
            fmt(g("client_cpu_pct")),
            fmt(g("errors"))
        )
    }
}

/// A number with about three significant digits, `—` when absent.
pub(crate) fn fmt(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 100_000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100_000.0 => format!("{:.0}k", v / 1000.0),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

/// The markdown tables and the target checks.
fn render(results: &[(Config, Srv, Vec<Obj>)], o: &Opts, sessions: usize) -> String {
    let find = |label: &str, srv: Srv| {
        results
            .iter()
            .find(|(c, s, _)| c.label == label && *s == srv)
            .map(|(_, _, r)| r.as_slice())
    };
    let mut labels: Vec<&Config> = Vec::new();
    for (c, _, _) in results {
        if !labels.iter().any(|l| l.label == c.label) {
            labels.push(c);
        }
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Medians of {} round(s); {} ms measured per run; µs/msg is the server's CPU time \
         (user+system, /proc/PID/stat) per message or delivery; errors are totals.\n",
        o.rounds, o.duration_ms
    );
    if labels.iter().any(|c| !c.sessions) {
        let _ = writeln!(
            t,
            "| scenario | msg/s ours | msg/s node | p50 µs ours / node | p99 µs ours / node | \
             CPU µs/msg ours | node | floor | ours÷node | ours÷floor | errors ours / node / floor |"
        );
        let _ = writeln!(t, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    }
    let mut checks: Vec<(String, bool, String)> = Vec::new();
    let mut all_errors = 0.0;
    for c in labels.iter().filter(|c| !c.sessions) {
        let m = |s: Srv, k: &str| find(&c.label, s).and_then(|r| median(r, k));
        let e = |s: Srv| find(&c.label, s).map(|r| total(r, "errors"));
        let cpu = |s: Srv| m(s, "server_cpu_us_per_msg");
        let errs: Vec<String> = [Srv::Ours, Srv::Node, Srv::Floor]
            .iter()
            .map(|&s| fmt(e(s)))
            .collect();
        all_errors += [Srv::Ours, Srv::Node, Srv::Floor]
            .iter()
            .filter_map(|&s| e(s))
            .sum::<f64>();
        let unit = if c.family == "broadcast" {
            " (deliveries)"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "| {}{unit} | {} | {} | {} / {} | {} / {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            fmt(m(Srv::Ours, "msgs_per_s")),
            fmt(m(Srv::Node, "msgs_per_s")),
            fmt(m(Srv::Ours, "p50_us")),
            fmt(m(Srv::Node, "p50_us")),
            fmt(m(Srv::Ours, "p99_us")),
            fmt(m(Srv::Node, "p99_us")),
            fmt(cpu(Srv::Ours)),
            fmt(cpu(Srv::Node)),
            fmt(cpu(Srv::Floor)),
            ratio(cpu(Srv::Ours), cpu(Srv::Node)),
            ratio(cpu(Srv::Ours), cpu(Srv::Floor)),
            errs.join(" / ")
        );
        if let (Some(a), Some(b)) = (cpu(Srv::Ours), cpu(Srv::Node)) {
            checks.push((
                format!("{}: CPU/msg ≤ 1/3 of sockjs-node's", c.label),
                a * 3.0 <= b,
                format!(
                    "{} vs {} µs, ratio {:.2} (target ≤ 0.33)",
                    fmt(Some(a)),
                    fmt(Some(b)),
                    a / b
                ),
            ));
        }
        if let (Some(f), Some(b)) = (cpu(Srv::Floor), cpu(Srv::Node)) {
            checks.push((
                format!(
                    "{}: (reference, not a target) the floor itself ≤ 1/3 of sockjs-node's",
                    c.label
                ),
                f * 3.0 <= b,
                format!(
                    "{} vs {} µs, ratio {:.2}",
                    fmt(Some(f)),
                    fmt(Some(b)),
                    f / b
                ),
            ));
        }
        if c.family == "ws-echo" {
            if let (Some(a), Some(b)) = (cpu(Srv::Ours), cpu(Srv::Floor)) {
                checks.push((
                    format!("{}: CPU/msg ≤ 1.3× the tokio-tungstenite floor", c.label),
                    a <= 1.3 * b,
                    format!(
                        "{} vs {} µs, ratio {:.2} (target ≤ 1.30)",
                        fmt(Some(a)),
                        fmt(Some(b)),
                        a / b
                    ),
                ));
            }
        }
    }
    let deflate: Vec<&&Config> = labels.iter().filter(|c| c.family == "ws-deflate").collect();
    if !deflate.is_empty() {
        let _ = writeln!(
            t,
            "\n| permessage-deflate, one ~190-byte JSON event each way | wire bytes/echo ours | node | \
             CPU µs/msg ours | node |"
        );
        let _ = writeln!(t, "|---|--:|--:|--:|--:|");
        for c in deflate {
            let m = |s: Srv, k: &str| find(&c.label, s).and_then(|r| median(r, k));
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} |",
                c.label,
                fmt(m(Srv::Ours, "wire_bytes_per_msg")),
                fmt(m(Srv::Node, "wire_bytes_per_msg")),
                fmt(m(Srv::Ours, "server_cpu_us_per_msg")),
                fmt(m(Srv::Node, "server_cpu_us_per_msg")),
            );
        }
    }
    let sess: Vec<&&Config> = labels.iter().filter(|c| c.sessions).collect();
    if !sess.is_empty() {
        let _ = writeln!(
            t,
            "\n| sessions (N = {sessions}) | RSS KiB/session ours | node | floor | CPU µs/session ours | node | \
             floor | ours÷node | RSS MiB base → open → closed, ours | node | floor | errors ours / node / floor |"
        );
        let _ = writeln!(t, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for c in sess {
            let m = |s: Srv, k: &str| find(&c.label, s).and_then(|r| median(r, k));
            let e = |s: Srv| find(&c.label, s).map(|r| total(r, "errors"));
            all_errors += [Srv::Ours, Srv::Node, Srv::Floor]
                .iter()
                .filter_map(|&s| e(s))
                .sum::<f64>();
            let mib = |s: Srv| {
                let f = |k: &str| m(s, k).map(|v| v / 1024.0);
                if f("rss_base_kib").is_none() {
                    return "—".to_string();
                }
                format!(
                    "{} → {} → {}",
                    fmt(f("rss_base_kib")),
                    fmt(f("rss_open_kib")),
                    fmt(f("rss_closed_kib"))
                )
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
                c.label,
                fmt(m(Srv::Ours, "rss_per_session_kib")),
                fmt(m(Srv::Node, "rss_per_session_kib")),
                fmt(m(Srv::Floor, "rss_per_session_kib")),
                fmt(m(Srv::Ours, "cpu_us_per_session")),
                fmt(m(Srv::Node, "cpu_us_per_session")),
                fmt(m(Srv::Floor, "cpu_us_per_session")),
                ratio(
                    m(Srv::Ours, "cpu_us_per_session"),
                    m(Srv::Node, "cpu_us_per_session")
                ),
                mib(Srv::Ours),
                mib(Srv::Node),
                mib(Srv::Floor),
                fmt(e(Srv::Ours)),
                fmt(e(Srv::Node)),
                fmt(e(Srv::Floor)),
            );
            if let (Some(kib), Some(us)) = (
                m(Srv::Floor, "rss_per_session_kib"),
                m(Srv::Floor, "cpu_us_per_session"),
            ) {
                checks.push((
                    format!(
                        "{}: (reference, not a target) the floor itself ≤ 8 KiB and ≤ 40 µs per session",
                        c.label
                    ),
                    kib <= 8.0 && us <= 40.0,
                    format!("{kib:.1} KiB, {us:.0} µs"),
                ));
            }
            if let Some(kib) = m(Srv::Ours, "rss_per_session_kib") {
                checks.push((
                    format!("{}: RSS ≤ 8 KiB per idle session", c.label),
                    kib <= 8.0,
                    format!("{kib:.1} KiB"),
                ));
            }
            if let Some(us) = m(Srv::Ours, "cpu_us_per_session") {
                checks.push((
                    format!("{}: ≤ 40 µs CPU per session opened", c.label),
                    us <= 40.0,
                    format!("{us:.0} µs"),
                ));
            }
            if let (Some(b), Some(op), Some(cl)) = (
                m(Srv::Ours, "rss_base_kib"),
                m(Srv::Ours, "rss_open_kib"),
                m(Srv::Ours, "rss_closed_kib"),
            ) {
                let kept = if op > b { (cl - b) / (op - b) } else { 0.0 };
                checks.push((
                    format!("{}: memory handed back after close", c.label),
                    kept <= 0.25,
                    format!(
                        "{:.0}% of the sessions' RSS still held {} s after close (counted as handed back at ≤ 25%)",
                        kept.max(0.0) * 100.0,
                        2.5
                    ),
                ));
            }
        }
    }
    checks.push((
        "zero errors everywhere".into(),
        all_errors == 0.0,
        format!("{all_errors} errors in all"),
    ));
    let _ = writeln!(t, "\n| target | met | measured |\n|---|---|---|");
    for (name, ok, what) in &checks {
        let _ = writeln!(
            t,
            "| {name} | {} | {what} |",
            if *ok { "yes" } else { "**no**" }
        );
    }
    t
}

/// `--update-md` keeps everything of BENCHMARKS.md from this line on.
const KEEP_MARKER: &str = "<!-- kept by cargo xtask bench --update-md -->";

const READING: &str = "\
## Reading the numbers

- CPU µs/msg counts the server's user + system time, so the kernel's share of
  every loopback send and receive is in it. With one session (c=1) each
  message is a sleep/wake-up of the server on its own CPU, which dominates.
  Where the floor's own figure is above a third of sockjs-node's (the
  \"reference\" rows of the targets), that target cannot be met by anything
  built on tokio-tungstenite as the floor uses it.
- msg/s depends on the load generator too: when its CPU column in the
  per-run log (`loadgen N%`) is near 100 %, the client is the limit.
- The machine is shared (2 CPUs); runs made while other work was going on
  are noisy, most visibly in msg/s and p99. CPU per message is steadier.
- Our server batches queued messages into one `a[...]` frame (sockjs-node
  sends one frame per message); pipelined scenarios profit from that.
- RSS per session is (RSS with N sessions open − RSS before) / N; \"closed\"
  is read a few seconds after every session was closed (the servers run
  with a 1 s disconnect delay in this scenario).
";

fn benchmarks_md(command: &str, facts: &str, table: &str, elapsed: Duration) -> String {
    format!(
        "# Benchmarks\n\n\
         Produced by `{}` ({:.0} s). `cargo xtask bench --quick --dev` is the CI variant \
         (our server only, small client counts, dev-profile builds: a smoke run whose figures are not comparable).\n\n\
         The load generator (`crates/sockjs-bench`, `sockjs-loadgen`) checks every echo and every \
         broadcast delivery for content and order. Servers: *ours* is `sockjs-test-server` \
         (`examples/`), *node* is sockjs-node 0.3.24 with the same services, *floor* is \
         `ws-floor-server`, a minimal tokio-tungstenite echo (websocket scenarios only).\n\n\
         {facts}\n{table}\n{READING}",
        command.trim(),
        elapsed.as_secs_f64()
    )
}

fn to_json(results: &[(Config, Srv, Vec<Obj>)], command: &str, facts: &str) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = format!(
        "{{\n  \"command\": {},\n  \"machine\": {},\n  \"results\": [\n",
        q(command.trim()),
        q(facts.trim())
    );
    for (i, (c, s, runs)) in results.iter().enumerate() {
        let keys: Vec<&String> = runs.first().map(|r| r.keys().collect()).unwrap_or_default();
        let medians: Vec<String> = keys
            .iter()
            .filter_map(|k| median(runs, k).map(|v| format!("{}: {v}", q(k))))
            .collect();
        let raw: Vec<String> = runs
            .iter()
            .map(|r| {
                let fields: Vec<String> = r.iter().map(|(k, v)| format!("{}: {v}", q(k))).collect();
                format!("{{{}}}", fields.join(", "))
            })
            .collect();
        let _ = writeln!(
            out,
            "    {{\"scenario\": {}, \"family\": {}, \"server\": {}, \"median\": {{{}}}, \"runs\": [{}]}}{}",
            q(&c.label),
            q(c.family),
            q(s.name()),
            medians.join(", "),
            raw.join(", "),
            if i + 1 < results.len() { "," } else { "" }
        );
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_json() {
        let o = parse_obj(r#"{"a":1.5,"b":"x,\"y","c":null,"d":-2}"#).unwrap();
        assert_eq!(num(&o, "a"), Some(1.5));
        assert_eq!(o["b"], r#""x,\"y""#);
        assert_eq!(num(&o, "c"), None);
        assert_eq!(num(&o, "d"), Some(-2.0));
        assert_eq!(median(&[o.clone(), o], "a"), Some(1.5));
    }
}
