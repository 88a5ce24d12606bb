//! `sockjs-conformance --url http://127.0.0.1:8081`: runs the SockJS
//! conformance suite against a server and exits non-zero on any failure.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use sockjs_conformance::checks::{self, Ctx};
use sockjs_conformance::client::Target;
use sockjs_conformance::runner;

const HELP: &str = "\
usage: sockjs-conformance --url BASE [options]

BASE is the origin (and optional path) under which the test services are
mounted: BASE/echo, BASE/close, BASE/disabled_websocket_echo and
BASE/cookie_needed_echo (see PROTOCOL.md section 8), and for the closing/
checks BASE/goodbye (sends 1 to 20, then closes with 3000 'Go away!').

options:
  --url BASE                  e.g. http://127.0.0.1:8081 (required)
  --filter S                  run only checks whose name contains S (repeatable,
                              or comma-separated); `!S` leaves out those that do
  --disconnect-delay-ms N     the server's disconnect_delay (default 5000)
  --heartbeat-delay-ms N      the server's heartbeat_delay (default 25000)
  --timeout-ms N              bound on each read (default 5000)
  --check-timeout-ms N        bound on each check, on top of the delays (default 20000,
                              grown in proportion above 200 close cycles)
  --jobs N                    checks run at once (default 16)
  --close-cycles N            open→close cycles of each closing/ check (default 200)
  --expected-failures FILE    checks known to fail: `name reason` per line
  --strict                    exact close codes and reasons, a close frame then
                              a FIN at every WebSocket end, hixie-76 spoken, no
                              allowance made for sockjs-node's differences
  --list                      print the checks and exit
";

struct Args {
    url: Option<String>,
    filters: Vec<String>,
    disconnect_delay: Duration,
    heartbeat_delay: Duration,
    timeout: Duration,
    /// `None`: the default, grown with `close_cycles`.
    check_timeout: Option<Duration>,
    jobs: usize,
    close_cycles: usize,
    expected_failures: Option<String>,
    list: bool,
    strict: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: None,
        filters: Vec::new(),
        disconnect_delay: Duration::from_millis(5000),
        heartbeat_delay: Duration::from_millis(25000),
        timeout: Duration::from_millis(5000),
        check_timeout: None,
        jobs: 16,
        close_cycles: 200,
        expected_failures: None,
        list: false,
        strict: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let ms = |v: String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{flag}: not a number of milliseconds: {v}"))
        };
        match flag.as_str() {
            "--url" => args.url = Some(value()?),
            "--filter" => args.filters.extend(
                value()?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "--disconnect-delay-ms" => args.disconnect_delay = ms(value()?)?,
            "--heartbeat-delay-ms" => args.heartbeat_delay = ms(value()?)?,
            "--timeout-ms" => args.timeout = ms(value()?)?,
            "--check-timeout-ms" => args.check_timeout = Some(ms(value()?)?),
            "--jobs" => {
                args.jobs = value()?
                    .parse()
                    .map_err(|_| "--jobs: not a number".to_string())?
            }
            "--close-cycles" => {
                args.close_cycles = value()?
                    .parse()
                    .map_err(|_| "--close-cycles: not a number".to_string())?
            }
            "--expected-failures" => args.expected_failures = Some(value()?),
            "--list" => args.list = true,
            "--strict" => args.strict = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sockjs-conformance: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for c in runner::select(&args.filters) {
            println!("{:45} {}", c.name, c.about);
        }
        return ExitCode::SUCCESS;
    }
    let Some(url) = args.url else {
        eprintln!("sockjs-conformance: --url is required\n\n{HELP}");
        return ExitCode::from(2);
    };
    let expected_failures = match &args.expected_failures {
        None => Default::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| runner::parse_expected_failures(&t))
        {
            Ok(m) => m,
            Err(e) => {
                eprintln!("sockjs-conformance: {path}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let target = match Target::resolve(&url, args.timeout).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sockjs-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = runner::Options {
        ctx: Ctx {
            target,
            disconnect_delay: args.disconnect_delay,
            heartbeat_delay: args.heartbeat_delay,
            close_cycles: args.close_cycles,
            strict: args.strict,
        },
        filters: args.filters,
        jobs: args.jobs,
        check_timeout: args.check_timeout.unwrap_or_else(|| {
            // 20 s is ample for 200 cycles; longer runs of the closing/
            // checks (`--close-cycles 5000`) need proportionally more.
            Duration::from_millis(20000) * (args.close_cycles.div_ceil(200).max(1) as u32)
        }),
        expected_failures,
    };
    let start = Instant::now();
    let total = runner::select(&opts.filters).len();
    if total == 0 {
        eprintln!(
            "sockjs-conformance: no check matches the filter ({} checks in all)",
            checks::all().len()
        );
        return ExitCode::from(2);
    }
    let summary = runner::run(opts, |r| println!("{}", r.line())).await;
    println!(
        "{} ({:.1} s)",
        summary.line(),
        start.elapsed().as_secs_f64()
    );
    if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
