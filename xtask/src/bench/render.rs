//! The report's markdown: a table for the echo and broadcast scenarios, one
//! for permessage-deflate, one for the sessions scenario, then the targets
//! checked against the medians.

use std::fmt::Write as _;

use crate::util::Obj;

use super::options::{Opts, Srv};
use super::scenarios::{Config, ROOM, ROOM_HISTORY};
use super::stats::{fmt, median, ratio, total};

/// The servers in the order of the table columns.
const ALL: [Srv; 3] = [Srv::Ours, Srv::Node, Srv::Floor];

/// The most a broadcast delivery may cost with room history, as a multiple
/// of the same room without it.
const HISTORY_COST: f64 = 1.5;

/// The most RSS a kept message of room history may take: the message in
/// its envelope (about 50 bytes more), once, and the bookkeeping
/// (allocation size classes, the queue's slot, the shared text's header).
/// Keeping its JSON encoding as well would make it twice the message.
const HISTORY_RSS_FACTOR: f64 = 1.6;
const HISTORY_RSS_BYTES: f64 = 200.0;

/// A target: what it says, whether it was met, what was measured.
struct Check {
    target: String,
    met: bool,
    measured: String,
}

/// The runs of each configuration and server, looked up by row.
struct Runs<'a>(&'a [(Config, Srv, Vec<Obj>)]);

impl Runs<'_> {
    fn of(&self, label: &str, srv: Srv) -> Option<&[Obj]> {
        self.0
            .iter()
            .find(|(c, s, _)| c.label == label && *s == srv)
            .map(|(_, _, r)| r.as_slice())
    }

    /// The median of `key` in the runs of `c` against `srv`.
    fn median(&self, c: &Config, srv: Srv, key: &str) -> Option<f64> {
        self.of(&c.label, srv).and_then(|r| median(r, key))
    }

    /// The errors of the runs of `c` against `srv`, in all.
    fn errors(&self, c: &Config, srv: Srv) -> Option<f64> {
        self.of(&c.label, srv).map(|r| total(r, "errors"))
    }

    /// The errors of the runs of `c` against every server, in all.
    fn all_errors(&self, c: &Config) -> f64 {
        ALL.iter().filter_map(|&s| self.errors(c, s)).sum()
    }

    /// Each configuration once, in the order of the runs.
    fn configs(&self) -> Vec<&Config> {
        let mut labels: Vec<&Config> = Vec::new();
        for (c, _, _) in self.0 {
            if !labels.iter().any(|l| l.label == c.label) {
                labels.push(c);
            }
        }
        labels
    }
}

/// The markdown tables and the target checks.
pub(super) fn render(results: &[(Config, Srv, Vec<Obj>)], o: &Opts, sessions: usize) -> String {
    let runs = Runs(results);
    let configs = runs.configs();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Medians of {} round(s); {} ms measured per run; µs/msg is the server's CPU time \
         (user+system, /proc/PID/stat) per message or delivery; errors are totals.\n",
        o.rounds, o.duration_ms
    );
    let mut checks = Vec::new();
    let mut all_errors = message_table(&mut t, &runs, &configs, &mut checks);
    all_errors += many_table(&mut t, &runs, &configs, &mut checks);
    deflate_table(&mut t, &runs, &configs);
    all_errors += sessions_table(&mut t, &runs, &configs, sessions, &mut checks);
    all_errors += history_table(&mut t, &runs, &configs, &mut checks);
    checks.push(Check {
        target: "zero errors everywhere".into(),
        met: all_errors == 0.0,
        measured: format!("{all_errors} errors in all"),
    });
    targets_table(&mut t, &checks);
    t
}

/// The echo and broadcast scenarios: throughput, latency, CPU per message
/// against sockjs-node and the floor. Returns their errors in all.
fn message_table(
    t: &mut String,
    runs: &Runs<'_>,
    configs: &[&Config],
    checks: &mut Vec<Check>,
) -> f64 {
    let rows: Vec<&&Config> = configs
        .iter()
        .filter(|c| !c.sessions && !matches!(c.family, "ws-many" | "history-memory"))
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(
            t,
            "| scenario | msg/s ours | msg/s node | p50 µs ours / node | p99 µs ours / node | \
             CPU µs/msg ours | node | floor | ours÷node | ours÷floor | errors ours / node / floor |"
        );
        let _ = writeln!(t, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    }
    let mut errors = 0.0;
    for c in &rows {
        message_row(t, runs, c);
        errors += runs.all_errors(c);
        message_checks(runs, c, checks);
        history_checks(runs, c, &rows, checks);
    }
    errors
}

/// What a room keeps per message of history: server RSS per kept message
/// (ours only). Returns their errors in all.
fn history_table(
    t: &mut String,
    runs: &Runs<'_>,
    configs: &[&Config],
    checks: &mut Vec<Check>,
) -> f64 {
    let rows: Vec<&&Config> = configs
        .iter()
        .filter(|c| c.family == "history-memory")
        .collect();
    if rows.is_empty() {
        return 0.0;
    }
    let _ = writeln!(
        t,
        "\n| room history | RSS bytes per kept message | over the message | errors |"
    );
    let _ = writeln!(t, "|---|--:|--:|--:|");
    let mut errors = 0.0;
    for c in rows {
        errors += runs.all_errors(c);
        let per = runs.median(c, Srv::Ours, "rss_per_message_bytes");
        let bytes = runs.median(c, Srv::Ours, "message_bytes");
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} |",
            c.label,
            fmt(per),
            fmt(per.zip(bytes).map(|(p, b)| p - b)),
            fmt(runs.errors(c, Srv::Ours))
        );
        if let (Some(per), Some(bytes)) = (per, bytes) {
            let bound = HISTORY_RSS_FACTOR * bytes + HISTORY_RSS_BYTES;
            checks.push(Check {
                target: format!(
                    "{}: RSS per kept message ≤ {HISTORY_RSS_FACTOR}× the message + \
                     {HISTORY_RSS_BYTES} bytes",
                    c.label
                ),
                met: per <= bound,
                measured: format!("{} bytes (bound {})", fmt(Some(per)), fmt(Some(bound))),
            });
        }
    }
    errors
}

/// Room history against the same room without it: CPU per delivery, with
/// one message in flight (with more, the load generator is the limit and
/// the two batch differently; see the scenarios). History is kept once per
/// message (a position, a shared copy in the room's queue) and each member
/// gets a longer frame (the envelope), so a delivery may cost a little
/// more, never a multiple.
fn history_checks(runs: &Runs<'_>, c: &Config, rows: &[&&Config], checks: &mut Vec<Check>) {
    let Some(base) = c.label.strip_suffix(&format!(", {ROOM_HISTORY}")) else {
        return;
    };
    if !base.ends_with(" p=1") {
        return;
    }
    let room = format!("{base}, {ROOM}");
    let Some(without) = rows.iter().find(|r| r.label == room) else {
        return;
    };
    let cpu = |c: &Config| runs.median(c, Srv::Ours, "server_cpu_us_per_msg");
    if let (Some(on), Some(off)) = (cpu(c), cpu(without)) {
        checks.push(Check {
            target: format!("{base}: CPU/delivery with room history ≤ {HISTORY_COST}× without"),
            met: on <= HISTORY_COST * off,
            measured: format!(
                "{} vs {} µs, ratio {:.2}",
                fmt(Some(on)),
                fmt(Some(off)),
                on / off
            ),
        });
    }
}

fn message_row(t: &mut String, runs: &Runs<'_>, c: &Config) {
    let m = |s: Srv, k: &str| runs.median(c, s, k);
    let cpu = |s: Srv| m(s, "server_cpu_us_per_msg");
    let errs: Vec<String> = ALL.iter().map(|&s| fmt(runs.errors(c, s))).collect();
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
}

/// CPU per message: ours against sockjs-node's (and the floor's, for
/// websocket echo), and the floor against sockjs-node's for reference.
fn message_checks(runs: &Runs<'_>, c: &Config, checks: &mut Vec<Check>) {
    let cpu = |s: Srv| runs.median(c, s, "server_cpu_us_per_msg");
    if let (Some(a), Some(b)) = (cpu(Srv::Ours), cpu(Srv::Node)) {
        checks.push(Check {
            target: format!("{}: CPU/msg ≤ 1/3 of sockjs-node's", c.label),
            met: a * 3.0 <= b,
            measured: format!(
                "{} vs {} µs, ratio {:.2} (target ≤ 0.33)",
                fmt(Some(a)),
                fmt(Some(b)),
                a / b
            ),
        });
    }
    if let (Some(f), Some(b)) = (cpu(Srv::Floor), cpu(Srv::Node)) {
        checks.push(Check {
            target: format!(
                "{}: (reference, not a target) the floor itself ≤ 1/3 of sockjs-node's",
                c.label
            ),
            met: f * 3.0 <= b,
            measured: format!(
                "{} vs {} µs, ratio {:.2}",
                fmt(Some(f)),
                fmt(Some(b)),
                f / b
            ),
        });
    }
    if matches!(c.family, "ws-echo" | "raw-ws-echo") {
        floor_checks(runs, c, checks);
    }
}

/// Websocket echo against the tokio-tungstenite floor (one task per
/// connection, read then write): CPU per message within 1.1× of it, and
/// p99 below sockjs-node's.
fn floor_checks(runs: &Runs<'_>, c: &Config, checks: &mut Vec<Check>) {
    let m = |s: Srv, k: &str| runs.median(c, s, k);
    if let (Some(a), Some(b)) = (
        m(Srv::Ours, "server_cpu_us_per_msg"),
        m(Srv::Floor, "server_cpu_us_per_msg"),
    ) {
        checks.push(Check {
            target: format!("{}: CPU/msg ≤ 1.1× the tokio-tungstenite floor", c.label),
            met: a <= 1.1 * b,
            measured: format!(
                "{} vs {} µs, ratio {:.2} (target ≤ 1.10)",
                fmt(Some(a)),
                fmt(Some(b)),
                a / b
            ),
        });
    }
    if let (Some(a), Some(b)) = (m(Srv::Ours, "p99_us"), m(Srv::Node, "p99_us")) {
        checks.push(Check {
            target: format!("{}: p99 below sockjs-node's", c.label),
            met: a < b,
            measured: format!("{} vs {} µs", fmt(Some(a)), fmt(Some(b))),
        });
    }
}

/// Many busy websocket sessions at once: is every one served alike? Each
/// server's median and tail, and CPU per message. Returns their errors in
/// all.
fn many_table(
    t: &mut String,
    runs: &Runs<'_>,
    configs: &[&Config],
    checks: &mut Vec<Check>,
) -> f64 {
    let rows: Vec<&&Config> = configs.iter().filter(|c| c.family == "ws-many").collect();
    if rows.is_empty() {
        return 0.0;
    }
    let _ = writeln!(
        t,
        "\n| many busy sessions | p50 / p99 / p99.9 ms ours | node | floor | \
         CPU µs/msg ours | node | floor | ours÷floor | errors ours / node / floor |"
    );
    let _ = writeln!(t, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut errors = 0.0;
    for c in rows {
        let m = |s: Srv, k: &str| runs.median(c, s, k);
        let ms = |s: Srv| {
            let f = |k: &str| m(s, k).map(|us| us / 1000.0);
            if f("p50_us").is_none() {
                return "—".to_string();
            }
            format!(
                "{} / {} / {}",
                fmt(f("p50_us")),
                fmt(f("p99_us")),
                fmt(f("p999_us"))
            )
        };
        let cpu = |s: Srv| m(s, "server_cpu_us_per_msg");
        let errs: Vec<String> = ALL.iter().map(|&s| fmt(runs.errors(c, s))).collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.label,
            ms(Srv::Ours),
            ms(Srv::Node),
            ms(Srv::Floor),
            fmt(cpu(Srv::Ours)),
            fmt(cpu(Srv::Node)),
            fmt(cpu(Srv::Floor)),
            ratio(cpu(Srv::Ours), cpu(Srv::Floor)),
            errs.join(" / ")
        );
        errors += runs.all_errors(c);
        if c.ours_args.is_empty() {
            floor_checks(runs, c, checks);
            if let (Some(a), Some(b)) = (m(Srv::Ours, "p99_us"), m(Srv::Floor, "p99_us")) {
                checks.push(Check {
                    target: format!("{}: p99 ≤ 1.2× the floor's", c.label),
                    met: a <= 1.2 * b,
                    measured: format!(
                        "{} vs {} ms, ratio {:.2} (target ≤ 1.20)",
                        fmt(Some(a / 1000.0)),
                        fmt(Some(b / 1000.0)),
                        a / b
                    ),
                });
            }
        }
    }
    errors
}

/// permessage-deflate: bytes on the wire and CPU per echo, ours and node.
fn deflate_table(t: &mut String, runs: &Runs<'_>, configs: &[&Config]) {
    let deflate: Vec<&&Config> = configs
        .iter()
        .filter(|c| c.family == "ws-deflate")
        .collect();
    if deflate.is_empty() {
        return;
    }
    let _ = writeln!(
        t,
        "\n| permessage-deflate, one ~190-byte JSON event each way | wire bytes/echo ours | node | \
         CPU µs/msg ours | node |"
    );
    let _ = writeln!(t, "|---|--:|--:|--:|--:|");
    for c in deflate {
        let m = |s: Srv, k: &str| runs.median(c, s, k);
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

/// The sessions scenario: memory and CPU per session held. Returns its
/// errors in all.
fn sessions_table(
    t: &mut String,
    runs: &Runs<'_>,
    configs: &[&Config],
    sessions: usize,
    checks: &mut Vec<Check>,
) -> f64 {
    let sess: Vec<&&Config> = configs.iter().filter(|c| c.sessions).collect();
    if sess.is_empty() {
        return 0.0;
    }
    let _ = writeln!(
        t,
        "\n| sessions (N = {sessions}) | RSS KiB/session ours | node | floor | CPU µs/session ours | node | \
         floor | ours÷node | RSS MiB base → open → closed, ours | node | floor | errors ours / node / floor |"
    );
    let _ = writeln!(t, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut errors = 0.0;
    for c in sess {
        errors += runs.all_errors(c);
        sessions_row(t, runs, c);
        sessions_checks(runs, c, checks);
    }
    errors
}

fn sessions_row(t: &mut String, runs: &Runs<'_>, c: &Config) {
    let m = |s: Srv, k: &str| runs.median(c, s, k);
    let e = |s: Srv| runs.errors(c, s);
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
}

/// Per session: RSS and CPU within the targets, memory handed back after
/// close, and the floor's own figures for reference.
fn sessions_checks(runs: &Runs<'_>, c: &Config, checks: &mut Vec<Check>) {
    let m = |s: Srv, k: &str| runs.median(c, s, k);
    if let (Some(kib), Some(us)) = (
        m(Srv::Floor, "rss_per_session_kib"),
        m(Srv::Floor, "cpu_us_per_session"),
    ) {
        checks.push(Check {
            target: format!(
                "{}: (reference, not a target) the floor itself ≤ 8 KiB and ≤ 40 µs per session",
                c.label
            ),
            met: kib <= 8.0 && us <= 40.0,
            measured: format!("{kib:.1} KiB, {us:.0} µs"),
        });
    }
    if let Some(kib) = m(Srv::Ours, "rss_per_session_kib") {
        checks.push(Check {
            target: format!("{}: RSS ≤ 8 KiB per idle session", c.label),
            met: kib <= 8.0,
            measured: format!("{kib:.1} KiB"),
        });
    }
    if let (Some(ours), Some(node)) = (
        m(Srv::Ours, "rss_per_session_kib"),
        m(Srv::Node, "rss_per_session_kib"),
    ) {
        checks.push(Check {
            target: format!(
                "{}: RSS per idle session below sockjs-node's (same run)",
                c.label
            ),
            met: ours < node,
            measured: format!("{ours:.1} vs {node:.1} KiB, ratio {:.2}", ours / node),
        });
    }
    if let Some(us) = m(Srv::Ours, "cpu_us_per_session") {
        checks.push(Check {
            target: format!("{}: ≤ 40 µs CPU per session opened", c.label),
            met: us <= 40.0,
            measured: format!("{us:.0} µs"),
        });
    }
    if let (Some(b), Some(op), Some(cl)) = (
        m(Srv::Ours, "rss_base_kib"),
        m(Srv::Ours, "rss_open_kib"),
        m(Srv::Ours, "rss_closed_kib"),
    ) {
        let kept = if op > b { (cl - b) / (op - b) } else { 0.0 };
        checks.push(Check {
            target: format!("{}: memory handed back after close", c.label),
            met: kept <= 0.25,
            measured: format!(
                "{:.0}% of the sessions' RSS still held {} s after close (counted as handed back at ≤ 25%)",
                kept.max(0.0) * 100.0,
                2.5
            ),
        });
    }
}

/// Every target, met or not, with what was measured.
fn targets_table(t: &mut String, checks: &[Check]) {
    let _ = writeln!(t, "\n| target | met | measured |\n|---|---|---|");
    for check in checks {
        let _ = writeln!(
            t,
            "| {} | {} | {} |",
            check.target,
            if check.met { "yes" } else { "**no**" },
            check.measured
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of `family` labelled `label`, run against `servers`.
    fn config(family: &'static str, label: &str, servers: &[Srv]) -> Config {
        Config {
            family,
            label: label.into(),
            args: Vec::new(),
            servers: servers.to_vec(),
            sessions: family == "sessions",
            ours_args: Vec::new(),
        }
    }

    fn run(kib: f64) -> Obj {
        [
            ("rss_per_session_kib", kib.to_string()),
            ("errors", "0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn sessions(ours: f64, node: f64) -> String {
        let c = config(
            "sessions",
            "sessions-htmlfile n=10",
            &[Srv::Ours, Srv::Node],
        );
        let results = vec![
            (c.clone(), Srv::Ours, vec![run(ours)]),
            (c, Srv::Node, vec![run(node)]),
        ];
        let o = super::super::options::parse(&[]).unwrap();
        render(&results, &o, 10)
    }

    fn line<'a>(table: &'a str, target: &str) -> &'a str {
        table
            .lines()
            .find(|l| l.contains(target))
            .unwrap_or_else(|| panic!("no {target:?} in\n{table}"))
    }

    #[test]
    fn idle_sessions_are_checked_against_sockjs_node_of_the_same_run() {
        let below = sessions(11.7, 14.7);
        assert_eq!(
            line(&below, "below sockjs-node's"),
            "| sessions-htmlfile n=10: RSS per idle session below sockjs-node's (same run) | yes | \
             11.7 vs 14.7 KiB, ratio 0.80 |"
        );
        assert!(line(&below, "≤ 8 KiB").contains("| **no** | 11.7 KiB |"));
        let above = sessions(23.6, 14.7);
        assert!(line(&above, "below sockjs-node's").contains("| **no** | 23.6 vs 14.7 KiB"));
        let at = sessions(7.5, 14.7);
        assert!(line(&at, "≤ 8 KiB").contains("| yes | 7.5 KiB |"));
    }

    fn echo(p50: f64, p99: f64, cpu: f64) -> Obj {
        [
            ("p50_us", p50.to_string()),
            ("p99_us", p99.to_string()),
            ("p999_us", (p99 * 1.1).to_string()),
            ("server_cpu_us_per_msg", cpu.to_string()),
            ("errors", "0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn many(ours_p99: f64, ours_cpu: f64) -> String {
        let c = config("ws-many", "ws-echo c=5000", &ALL);
        let results = vec![
            (
                c.clone(),
                Srv::Ours,
                vec![echo(60_000.0, ours_p99, ours_cpu)],
            ),
            (c.clone(), Srv::Node, vec![echo(140_000.0, 157_000.0, 28.6)]),
            (c, Srv::Floor, vec![echo(59_000.0, 100_000.0, 10.0)]),
        ];
        let o = super::super::options::parse(&[]).unwrap();
        render(&results, &o, 10)
    }

    #[test]
    fn many_sessions_are_checked_against_the_floor_and_sockjs_node() {
        let fair = many(115_000.0, 10.8);
        assert!(
            line(&fair, "| ws-echo c=5000 |").contains("| 60 / 115 / 127 | 140 / 157 / 173 |"),
            "{fair}"
        );
        assert!(line(&fair, "p99 ≤ 1.2× the floor's").contains("| yes | 115 vs 100 ms"));
        assert!(line(&fair, "p99 below sockjs-node's").contains("| yes |"));
        assert!(line(&fair, "≤ 1.1× the tokio-tungstenite floor").contains("| yes |"));
        let unfair = many(204_000.0, 11.5);
        assert!(line(&unfair, "p99 ≤ 1.2× the floor's").contains("| **no** | 204 vs 100 ms"));
        assert!(line(&unfair, "p99 below sockjs-node's").contains("| **no** |"));
        assert!(line(&unfair, "≤ 1.1× the tokio-tungstenite floor").contains("| **no** |"));
    }

    fn history(with: f64, without: f64, p: usize) -> String {
        let room = |what: &str| {
            let label = format!("broadcast c=50 p={p}, {what}");
            config("broadcast", &label, &[Srv::Ours])
        };
        let results = vec![
            (room(ROOM), Srv::Ours, vec![echo(200.0, 900.0, without)]),
            (
                room(ROOM_HISTORY),
                Srv::Ours,
                vec![echo(250.0, 1000.0, with)],
            ),
        ];
        let o = super::super::options::parse(&[]).unwrap();
        render(&results, &o, 10)
    }

    #[test]
    fn history_is_checked_against_the_same_room_without_it() {
        let cheap = history(7.1, 6.7, 1);
        assert!(
            line(&cheap, "with room history ≤ 1.5× without").contains("| yes | 7.10 vs 6.70 µs"),
            "{cheap}"
        );
        let dear = history(10.5, 6.7, 1);
        assert!(line(&dear, "with room history ≤ 1.5× without").contains("| **no** |"));
        // With 8 in flight the two are not comparable: no check.
        assert!(!history(10.5, 6.7, 8).contains("with room history"));
    }
}
