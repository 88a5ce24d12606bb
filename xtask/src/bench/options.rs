//! The command line of `cargo xtask bench` and the servers it names.

use crate::args::Args;

const HELP: &str = "\
usage: cargo xtask bench [options]

  --quick              CI mode: our server only, small C, ~1 s per scenario
  --rounds N           rounds per scenario and server (default 3, quick 1)
  --duration-ms MS     measured window per run (default 2000, quick 1000)
  --warmup-ms MS       load before the window (default 500, quick 200)
  --scenario A,B       only these scenario families (ws-echo, raw-ws-echo, ws-many
                       (both at c=5000 and 10000; full mode only), ws-deflate,
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
pub(super) enum Srv {
    Ours,
    Node,
    Floor,
}

impl Srv {
    pub(super) fn name(self) -> &'static str {
        match self {
            Srv::Ours => "ours",
            Srv::Node => "sockjs-node",
            Srv::Floor => "floor",
        }
    }
}

#[derive(Debug)]
pub(super) struct Opts {
    pub(super) quick: bool,
    pub(super) rounds: usize,
    pub(super) duration_ms: u64,
    pub(super) warmup_ms: u64,
    pub(super) families: Option<Vec<String>>,
    pub(super) servers: Option<Vec<Srv>>,
    pub(super) sessions: Option<usize>,
    pub(super) update_md: bool,
    /// Dev-profile binaries (a smoke run of the harness).
    pub(super) dev: bool,
}

pub(super) fn parse(args: &[String]) -> Result<Opts, String> {
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
