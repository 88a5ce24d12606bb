//! `sockjs-loadgen`: the load generator of `cargo xtask bench`.
//!
//! One run = one scenario against one server, then one JSON object on
//! standard output. Every echo and every broadcast delivery is checked for
//! content and order; each failure is counted and the first ones printed on
//! standard error. Traffic goes to the given loopback address only, and every
//! phase is bounded in time, so a run always ends by itself.
//!
//! ```text
//! sockjs-loadgen --addr 127.0.0.1:8081 --scenario ws-echo --clients 50 \
//!     [--pipeline 16] [--warmup-ms 500] [--duration-ms 3000] [--server-pid PID]
//! sockjs-loadgen --addr 127.0.0.1:8081 --scenario sessions-ws --sessions 10000
//! sockjs-loadgen --addr 127.0.0.1:8081 --scenario sessions-mixed --sessions 19000 --hold-s 60
//! sockjs-loadgen --addr 127.0.0.1:8081 --scenario soak --run-s 60 --clients 200 \
//!     --server-pid PID [--out target/soak/mixed]
//! sockjs-loadgen --addr 127.0.0.1:8081 --scenario broadcast --clients 50 \
//!     --spread 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083
//! sockjs-loadgen --addr 127.0.0.1:8081 --scenario xhr-polling-echo --send-addr 127.0.0.1:8082
//! ```
//!
//! For several nodes (`cargo xtask cluster-test --bench`): `--spread` puts
//! session `i` on the `i mod n`-th address (broadcast, echo), `--send-addr`
//! sends every `xhr_send` to another node and `--poll-addr` every poll but
//! the opening one, so that a cluster with a session directory forwards
//! them to the session's node.
//!
//! Scenarios: `ws-echo`, `raw-ws-echo`, `xhr-streaming-echo`,
//! `xhr-polling-echo`, `eventsource-echo`, `broadcast`, `sessions-ws`,
//! `sessions-xhr-streaming`, `sessions-eventsource`, `sessions-htmlfile`,
//! `sessions-mixed`; and those of `cargo xtask soak` ([`soak`]):
//! `soak`, `soak-shutdown`, `soak-storm`, `soak-resume`.

mod broadcast;
mod deflate_echo;
mod echo;
mod faults;
mod frame;
mod history;
mod http;
mod net;
mod procfs;
mod sessions;
mod soak;
mod stats;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// The command line.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) scenario: String,
    pub(crate) clients: usize,
    pub(crate) pipeline: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) grace: Duration,
    pub(crate) server_pid: Option<u32>,
    pub(crate) sources: u8,
    pub(crate) sessions: usize,
    pub(crate) settle: Duration,
    /// `sessions-mixed`: how long the sessions are held.
    pub(crate) hold_s: u64,
    pub(crate) prefix: Option<String>,
    /// Soak scenarios: how long the mixed phase runs.
    pub(crate) run_s: u64,
    /// The server's `--disconnect-delay-ms` and `--heartbeat-delay-ms`.
    pub(crate) disconnect_delay: Duration,
    pub(crate) heartbeat_delay: Duration,
    /// The server's `--shutdown-deadline-ms`.
    pub(crate) shutdown_deadline: Duration,
    pub(crate) seed: u64,
    /// Where a soak scenario writes its report (`PATH.json`, `PATH.md`).
    pub(crate) out: Option<std::path::PathBuf>,
    pub(crate) rss_bound_percent: f64,
    pub(crate) rss_bound_mib: f64,
    pub(crate) spread: Vec<std::net::SocketAddr>,
    pub(crate) send_addr: Option<std::net::SocketAddr>,
    pub(crate) poll_addr: Option<std::net::SocketAddr>,
    /// Soak: clients whose sessions go through the fault proxy (the
    /// resume phase: any number puts its clients behind the proxy).
    pub(crate) faults: usize,
    /// `history-memory`: the length of each message.
    pub(crate) message_bytes: usize,
    /// `soak-resume`: the server's `--resume-history`.
    pub(crate) resume_history: u64,
}

const USAGE: &str = "\
usage: sockjs-loadgen --addr IP:PORT --scenario NAME [options]

scenarios: ws-echo raw-ws-echo ws-plain-echo ws-deflate-echo xhr-streaming-echo xhr-polling-echo
           eventsource-echo broadcast sessions-ws sessions-xhr-streaming
           sessions-eventsource sessions-htmlfile sessions-mixed history-memory
           soak soak-shutdown soak-storm soak-resume (cargo xtask soak)
options:
  --clients C        concurrent sessions (default 1)
  --pipeline D       messages in flight per session (echo: 1, broadcast: 8)
  --warmup-ms MS     load before measuring (default 500)
  --duration-ms MS   measured window (default 3000)
  --grace-ms MS      time allowed after the window for the last answers (3000)
  --server-pid PID   read the server's CPU time and RSS from /proc
  --sessions N       sessions to open in the sessions-* scenarios (10000)
  --sources K        spread connections over 127.0.0.1..127.0.0.K (default 1)
  --settle-ms MS     wait after closing sessions before reading RSS (2500)
  --hold-s S         sessions-mixed: how long the idle sessions are held (60)
  --prefix P         service prefix (default /echo, broadcast: /broadcast,
                     history-memory: /history_broadcast)
  --message-bytes B  history-memory: bytes per message (default 100; --sessions
                     is how many messages)
soak options (--clients: sessions at a time; shutdown, storm: per transport):
  --run-s S                  length of the mixed phase (default 60)
  --disconnect-delay-ms MS   the server's (default 5000)
  --heartbeat-delay-ms MS    the server's (default 25000)
  --shutdown-deadline-ms MS  the server's (default 10000)
  --seed N                   for the random plans (default: from the clock)
  --rss-bound-pct P          RSS growth allowed after warm-up (default 10)
  --rss-bound-mib M          ... or this many MiB if more (default 10)
  --out PATH                 write the report to PATH.json and PATH.md
  --faults N                 soak: N more clients through the fault proxy (0);
                             soak-resume: its clients through it when N > 0
  --resume-history N         soak-resume: the server's --resume-history (10000)
  --spread A,B,..    session i connects to the (i mod n)-th address (several nodes)
  --send-addr A      every xhr_send to A (another node: forwarded to the session's)
  --poll-addr A      every xhr poll but the opening one to A
";

impl Args {
    /// Every option at its default (the seed from the clock); the scenario
    /// is left empty.
    fn defaults() -> Args {
        Args {
            addr: ([127, 0, 0, 1], 8081).into(),
            scenario: String::new(),
            clients: 1,
            pipeline: 0,
            warmup: Duration::from_millis(500),
            duration: Duration::from_millis(3000),
            grace: Duration::from_millis(3000),
            server_pid: None,
            sources: 1,
            sessions: 10_000,
            settle: Duration::from_millis(2500),
            hold_s: 60,
            prefix: None,
            run_s: 60,
            disconnect_delay: Duration::from_secs(5),
            heartbeat_delay: Duration::from_secs(25),
            shutdown_deadline: Duration::from_secs(10),
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
            out: None,
            rss_bound_percent: 10.0,
            rss_bound_mib: 10.0,
            spread: Vec::new(),
            send_addr: None,
            poll_addr: None,
            faults: 0,
            message_bytes: 100,
            resume_history: 10_000,
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::defaults();
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        let loopback = |v: &str| -> Result<std::net::SocketAddr, String> {
            let addr: std::net::SocketAddr = v.parse().map_err(|e| format!("{flag} {v}: {e}"))?;
            if addr.ip().is_loopback() {
                Ok(addr)
            } else {
                Err(format!("{flag} {v}: only loopback addresses are allowed"))
            }
        };
        match flag.as_str() {
            "--addr" => args.addr = loopback(&value()?)?,
            "--spread" => {
                args.spread = value()?
                    .split(',')
                    .map(loopback)
                    .collect::<Result<_, _>>()?;
            }
            "--send-addr" => args.send_addr = Some(loopback(&value()?)?),
            "--poll-addr" => args.poll_addr = Some(loopback(&value()?)?),
            "--scenario" => args.scenario = value()?,
            "--clients" => args.clients = num(value()?)? as usize,
            "--pipeline" => args.pipeline = num(value()?)? as usize,
            "--warmup-ms" => args.warmup = Duration::from_millis(num(value()?)?),
            "--duration-ms" => args.duration = Duration::from_millis(num(value()?)?),
            "--grace-ms" => args.grace = Duration::from_millis(num(value()?)?),
            "--server-pid" => args.server_pid = Some(num(value()?)? as u32),
            "--sessions" => args.sessions = num(value()?)? as usize,
            "--sources" => args.sources = num(value()?)?.clamp(1, 250) as u8,
            "--settle-ms" => args.settle = Duration::from_millis(num(value()?)?),
            "--prefix" => args.prefix = Some(value()?),
            "--hold-s" => args.hold_s = num(value()?)?,
            "--run-s" => args.run_s = num(value()?)?,
            "--disconnect-delay-ms" => {
                args.disconnect_delay = Duration::from_millis(num(value()?)?)
            }
            "--heartbeat-delay-ms" => args.heartbeat_delay = Duration::from_millis(num(value()?)?),
            "--shutdown-deadline-ms" => {
                args.shutdown_deadline = Duration::from_millis(num(value()?)?)
            }
            "--seed" => args.seed = num(value()?)?,
            "--out" => args.out = Some(value()?.into()),
            "--faults" => args.faults = num(value()?)? as usize,
            "--message-bytes" => args.message_bytes = num(value()?)? as usize,
            "--resume-history" => args.resume_history = num(value()?)?.max(1),
            "--rss-bound-pct" => {
                let v = value()?;
                args.rss_bound_percent = v.parse().map_err(|e| format!("{flag} {v}: {e}"))?;
            }
            "--rss-bound-mib" => {
                let v = value()?;
                args.rss_bound_mib = v.parse().map_err(|e| format!("{flag} {v}: {e}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.scenario.is_empty() {
        return Err("--scenario is required".into());
    }
    if args.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    if args.duration > Duration::from_secs(120) || args.warmup > Duration::from_secs(60) {
        return Err("--duration-ms is capped at 120 s, --warmup-ms at 60 s".into());
    }
    if args.run_s > 24 * 3600 {
        return Err("--run-s is capped at a day".into());
    }
    Ok(args)
}

/// Counts failures and prints the first few.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    count: AtomicU64,
}

impl Errors {
    const PRINTED: u64 = 20;

    /// Counts one failure and prints it while few have been printed.
    pub(crate) fn report(&self, what: impl std::fmt::Display) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        if n < Self::PRINTED {
            eprintln!("sockjs-loadgen: error: {what}");
        } else if n == Self::PRINTED {
            eprintln!("sockjs-loadgen: (further errors are counted, not printed)");
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// What every task of a run shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) args: Args,
    pub(crate) errors: Errors,
    pub(crate) net: net::Net,
    /// `--spread`: one per address.
    pub(crate) spread: Vec<net::Net>,
    pub(crate) send_net: Option<net::Net>,
    pub(crate) poll_net: Option<net::Net>,
    /// Distinguishes the session ids of this run from those of other runs.
    pub(crate) nonce: String,
}

impl Ctx {
    pub(crate) fn prefix(&self) -> &str {
        match &self.args.prefix {
            Some(p) => p,
            None if self.args.scenario == "broadcast" => "/broadcast",
            None if self.args.scenario == "history-memory" => "/history_broadcast",
            None => "/echo",
        }
    }

    /// Where session `i` connects: `--spread`, else `--addr`.
    pub(crate) fn net_for(&self, i: usize) -> &net::Net {
        if self.spread.is_empty() {
            &self.net
        } else {
            &self.spread[i % self.spread.len()]
        }
    }

    /// Where `xhr_send` goes: `--send-addr`, else where session `i` is.
    pub(crate) fn send_net(&self, i: usize) -> &net::Net {
        self.send_net.as_ref().unwrap_or_else(|| self.net_for(i))
    }

    /// Where polls after the first go: `--poll-addr`, else where session
    /// `i` is.
    pub(crate) fn poll_net(&self, i: usize) -> &net::Net {
        self.poll_net.as_ref().unwrap_or_else(|| self.net_for(i))
    }

    /// `PREFIX/<server>/<session>` for session number `i`.
    pub(crate) fn session_base(&self, i: usize) -> String {
        format!("{}/{:03}/{}-{i}", self.prefix(), i % 1000, self.nonce)
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("sockjs-loadgen: {e}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let nonce = format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let ctx = Arc::new(Ctx {
        net: net::Net::new(args.addr, args.sources),
        spread: args
            .spread
            .iter()
            .map(|a| net::Net::new(*a, args.sources))
            .collect(),
        send_net: args.send_addr.map(|a| net::Net::new(a, args.sources)),
        poll_net: args.poll_addr.map(|a| net::Net::new(a, args.sources)),
        args,
        errors: Errors::default(),
        nonce,
    });
    let result: Result<Value, String> = runtime.block_on(async {
        match ctx.args.scenario.as_str() {
            "ws-echo" => echo::run(ctx.clone(), echo::Kind::Ws).await,
            "raw-ws-echo" => echo::run(ctx.clone(), echo::Kind::RawWs).await,
            "xhr-streaming-echo" => echo::run(ctx.clone(), echo::Kind::XhrStreaming).await,
            "eventsource-echo" => echo::run(ctx.clone(), echo::Kind::EventSource).await,
            "xhr-polling-echo" => echo::run(ctx.clone(), echo::Kind::XhrPolling).await,
            "ws-deflate-echo" => deflate_echo::run(ctx.clone(), true).await,
            "ws-plain-echo" => deflate_echo::run(ctx.clone(), false).await,
            "broadcast" => broadcast::run(ctx.clone()).await,
            "history-memory" => history::run(ctx.clone()).await,
            "sessions-ws" => sessions::run(ctx.clone(), sessions::Kind::Ws).await,
            "sessions-xhr-streaming" => {
                let kind = sessions::Kind::Streaming(http::StreamKind::XhrStreaming);
                sessions::run(ctx.clone(), kind).await
            }
            "sessions-eventsource" => {
                let kind = sessions::Kind::Streaming(http::StreamKind::EventSource);
                sessions::run(ctx.clone(), kind).await
            }
            "sessions-htmlfile" => {
                let kind = sessions::Kind::Streaming(http::StreamKind::HtmlFile);
                sessions::run(ctx.clone(), kind).await
            }
            "sessions-mixed" => sessions::run_mixed(ctx.clone()).await,
            name if name.starts_with("soak") => soak::run(ctx.clone(), name).await,
            other => Err(format!("unknown scenario {other}")),
        }
    });
    // Drop whatever is still running (the servers are stopped by the caller).
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(mut report) => {
            report["errors"] = ctx.errors.count().into();
            println!("{report}");
            if ctx.errors.count() > 0 {
                eprintln!("sockjs-loadgen: {} errors", ctx.errors.count());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sockjs-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
