//! The files a run writes: `target/bench/latest.{md,json}`, a stamped JSON
//! copy, and with `--update-md` BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::util::{root, target_dir, write, Obj};

use super::options::Srv;
use super::scenarios::Config;
use super::stats::median;

/// Writes `target/bench/latest.{md,json}` and a stamped JSON copy, and
/// with `update_md` rewrites BENCHMARKS.md above its kept part.
pub(super) fn write_reports(
    results: &[(Config, Srv, Vec<Obj>)],
    command: &str,
    facts: &str,
    table: &str,
    elapsed: Duration,
    update_md: bool,
) -> Result<(), String> {
    let dir = target_dir().join("bench");
    let md = format!(
        "# Benchmarks\n\nCommand: `{}`, {:.0} s in all.\n\n{facts}\n{table}",
        command.trim(),
        elapsed.as_secs_f64()
    );
    write(&dir.join("latest.md"), &md)?;
    let json = to_json(results, command, facts);
    write(&dir.join("latest.json"), &json)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    write(&dir.join(format!("bench-{stamp}.json")), &json)?;
    eprintln!("bench: wrote {}/latest.{{md,json}}", dir.display());
    if update_md {
        update_benchmarks_md(command, facts, table, elapsed)?;
    }
    Ok(())
}

/// Rewrites BENCHMARKS.md; whatever follows the marker (e.g. a separate
/// --sessions run) is kept.
fn update_benchmarks_md(
    command: &str,
    facts: &str,
    table: &str,
    elapsed: Duration,
) -> Result<(), String> {
    let path = root().join("BENCHMARKS.md");
    let kept = std::fs::read_to_string(&path)
        .ok()
        .and_then(|old| old.find(KEEP_MARKER).map(|i| old[i..].to_string()))
        .unwrap_or_default();
    let mut md = benchmarks_md(command, facts, table, elapsed);
    if !kept.is_empty() {
        md.push('\n');
        md.push_str(&kept);
    }
    write(&path, &md)?;
    eprintln!("bench: rewrote BENCHMARKS.md (above {KEEP_MARKER})");
    Ok(())
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

/// The whole of BENCHMARKS.md above the kept part.
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

/// The medians and the raw runs of every configuration and server.
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
