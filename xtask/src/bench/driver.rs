//! Running the bench: the binaries built, every configuration run against
//! every server in alternation, each run on a freshly started server.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::util::{
    build_bin, free_port, machine_facts, nofile_hard, npm_install, num, parse_obj, pinned,
    raise_nofile, target_dir, tool_works, Obj, Server,
};

use super::options::{parse, Opts, Srv};
use super::render::render;
use super::report::write_reports;
use super::scenarios::{configs, Config};
use super::stats::fmt;

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
    let sessions = session_count(&o);
    let setup = prepare(&o)?;
    let cfgs = runnable_configs(&setup, &o, sessions)?;
    announce(&cfgs, &o, setup.pin);
    let results = measure(&setup, &o, &cfgs)?;

    let elapsed = started.elapsed();
    let command = format!("cargo xtask bench {}", args.join(" "));
    let table = render(&results, &o, sessions);
    let facts = machine_facts(setup.pin);
    println!("\n{table}");
    eprintln!("bench: {:.0} s in all", elapsed.as_secs_f64());
    write_reports(&results, &command, &facts, &table, elapsed, o.update_md)?;

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

/// How many sessions the sessions scenario holds: as asked, within the
/// open-file limit (raised to the hard one first).
fn session_count(o: &Opts) -> usize {
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
    sessions
}

/// Builds the load generator and the servers wanted, installs sockjs-node,
/// decides on pinning and makes the log folder.
fn prepare(o: &Opts) -> Result<Setup, String> {
    let loadgen = build_bin("sockjs-bench", "sockjs-loadgen", !o.dev)?;
    // --quick means our server only, unless --servers says otherwise.
    let wanted = |s: Srv| match &o.servers {
        Some(v) => v.contains(&s),
        None => !o.quick || s == Srv::Ours,
    };
    let ours = if wanted(Srv::Ours) {
        match build_bin("sockjs-test-server", "sockjs-test-server", !o.dev) {
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
    Ok(Setup {
        loadgen,
        ours,
        floor,
        node_dir,
        pin,
        logs,
    })
}

/// The configurations asked for, each with only the servers available.
fn runnable_configs(setup: &Setup, o: &Opts, sessions: usize) -> Result<Vec<Config>, String> {
    let have = |s: Srv| match s {
        Srv::Ours => setup.ours.is_some(),
        Srv::Node => setup.node_dir.is_some(),
        Srv::Floor => setup.floor.is_some(),
    };
    let mut cfgs = configs(o, sessions);
    for c in &mut cfgs {
        c.servers.retain(|&s| have(s));
    }
    cfgs.retain(|c| !c.servers.is_empty());
    if cfgs.is_empty() {
        return Err("nothing to run (no server available for the chosen scenarios)".into());
    }
    Ok(cfgs)
}

fn announce(cfgs: &[Config], o: &Opts, pin: Option<(usize, usize)>) {
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
}

/// Every configuration, `rounds` times against each of its servers in
/// alternation; the runs of each configuration and server.
fn measure(
    setup: &Setup,
    o: &Opts,
    cfgs: &[Config],
) -> Result<Vec<(Config, Srv, Vec<Obj>)>, String> {
    let mut results: Vec<(Config, Srv, Vec<Obj>)> = Vec::new();
    for cfg in cfgs {
        let mut per: BTreeMap<Srv, Vec<Obj>> = BTreeMap::new();
        for round in 1..=o.rounds {
            for &srv in &cfg.servers {
                let r = run_once(setup, o, cfg, srv)?;
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
    Ok(results)
}

/// Starts the server, runs the load generator once against it, stops it.
fn run_once(setup: &Setup, o: &Opts, cfg: &Config, srv: Srv) -> Result<Obj, String> {
    let (server, addr) = start_server(setup, cfg, srv)?;
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
    let status = wait_bounded(&mut child, limit, &cfg.label)?;
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

/// Starts `srv` (pinned, logging to the log folder) for `cfg` on a free
/// port and waits until it answers.
fn start_server(setup: &Setup, cfg: &Config, srv: Srv) -> Result<(Server, SocketAddr), String> {
    let port = free_port()?;
    let mut extra: Vec<String> = Vec::new();
    if cfg.sessions {
        // Closed sessions go away after a second, so RSS after close is read
        // after they did (the same for both servers).
        extra.extend(["--disconnect-delay-ms".into(), "1000".into()]);
    }
    let (program, mut args): (PathBuf, Vec<String>) = match srv {
        Srv::Ours => (setup.ours.clone().expect("built"), cfg.ours_args.clone()),
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
    Ok((server, addr))
}

/// Waits for the load generator of `label` to exit; kills it once `limit`
/// has passed.
fn wait_bounded(child: &mut Child, limit: Duration, label: &str) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{label}: load generator still running after {limit:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One line per run, for the progress log.
fn brief(cfg: &Config, r: &Obj) -> String {
    let g = |k: &str| num(r, k);
    if cfg.family == "history-memory" {
        format!(
            "{} messages kept, RSS {} → {} KiB, {} bytes per message, {} errors",
            fmt(g("messages")),
            fmt(g("rss_before_kib")),
            fmt(g("rss_after_kib")),
            fmt(g("rss_per_message_bytes")),
            fmt(g("errors"))
        )
    } else if cfg.sessions {
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
            "{} msg/s, p50 {} µs, p99 {} µs, p99.9 {} µs, server {} µs/msg ({}% CPU, loadgen {}%), {} errors",
            fmt(g("msgs_per_s")),
            fmt(g("p50_us")),
            fmt(g("p99_us")),
            fmt(g("p999_us")),
            fmt(g("server_cpu_us_per_msg")),
            fmt(g("server_cpu_pct")),
            fmt(g("client_cpu_pct")),
            fmt(g("errors"))
        )
    }
}
