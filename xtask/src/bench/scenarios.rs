//! The scenarios: which load generator runs make the rows of the table, and
//! against which servers.

use super::options::{Opts, Srv};

/// The label suffixes of the broadcast rows through a room, without and
/// with history (the render compares the two).
pub(super) const ROOM: &str = "a room";
pub(super) const ROOM_HISTORY: &str = "a room with history";

/// The message lengths of the history memory rows.
const HISTORY_MESSAGE_BYTES: [usize; 3] = [16, 100, 1000];

/// One configuration of a scenario (a row of the table).
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) family: &'static str,
    pub(super) label: String,
    pub(super) args: Vec<String>,
    pub(super) servers: Vec<Srv>,
    pub(super) sessions: bool,
    /// Extra arguments for our server only (a variant of it, such as the
    /// tokio default runtime for the fairness rows' before).
    pub(super) ours_args: Vec<String>,
}

/// Every configuration `o` asks for, in the order of the table.
pub(super) fn configs(o: &Opts, sessions: usize) -> Vec<Config> {
    let small = o.quick;
    let cs: &[usize] = if small { &[1, 10] } else { &[1, 50, 500] };
    let pipelined_c = if small { 10 } else { 50 };
    let mut v = Vec::new();
    let mut add = |family: &'static str,
                   label: String,
                   args: Vec<String>,
                   servers: &[Srv],
                   ours_args: &[&str]| {
        v.push(Config {
            family,
            label,
            args,
            servers: servers.to_vec(),
            sessions: family == "sessions",
            ours_args: ours_args.iter().map(|a| a.to_string()).collect(),
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
                &[],
            );
        }
        add(
            family,
            format!("{family} c={pipelined_c} p=16"),
            scen(family, pipelined_c, Some(16)),
            &all,
            &[],
        );
    }
    // Many busy sessions at once (closed loop, one message in flight each):
    // is every session served alike? The tail against the floor's and
    // sockjs-node's, and ours on tokio's default runtime, the before of
    // `sockjs::runtime()` (BENCHMARKS.md, "Fair under many sessions").
    if !small {
        for family in ["ws-echo", "raw-ws-echo"] {
            for c in [5_000, 10_000] {
                add(
                    "ws-many",
                    format!("{family} c={c}"),
                    scen(family, c, None),
                    &all,
                    &[],
                );
            }
        }
        for c in [5_000, 10_000] {
            add(
                "ws-many",
                format!("ws-echo c={c}, tokio's default runtime"),
                scen("ws-echo", c, None),
                &[Srv::Ours],
                &["--default-runtime"],
            );
        }
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
        add("ws-deflate", format!("{name} c={dc}"), args, &sockjs, &[]);
    }
    for family in ["xhr-streaming-echo", "xhr-polling-echo", "eventsource-echo"] {
        for &c in cs {
            add(
                family,
                format!("{family} c={c}"),
                scen(family, c, None),
                &sockjs,
                &[],
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
            &[],
        );
    }
    // The same through a room, without and with history (ours only:
    // sockjs-node has neither): what a room and what history cost. With 8
    // in flight the load generator is the limit, and history's longer
    // frames (the position envelope) slow it down, so the server batches
    // differently; with one in flight both servers wait for every
    // delivery, and CPU per delivery compares like with like.
    for (&c, p) in bcs.iter().flat_map(|c| [(c, 8), (c, 1)]) {
        for (what, prefix) in [
            (ROOM, "/room_broadcast"),
            (ROOM_HISTORY, "/history_broadcast"),
        ] {
            let mut args = scen("broadcast", c, Some(p));
            args.extend(["--prefix".into(), prefix.into()]);
            add(
                "broadcast",
                format!("broadcast c={c} p={p}, {what}"),
                args,
                &[Srv::Ours],
                &[],
            );
        }
    }
    // What a room keeps per message of history, in server RSS (ours only).
    let kept = if small { 2_000 } else { 10_000 };
    for bytes in HISTORY_MESSAGE_BYTES {
        let args = vec![
            "--scenario".into(),
            "history-memory".into(),
            "--sessions".into(),
            kept.to_string(),
            "--message-bytes".into(),
            bytes.to_string(),
        ];
        add(
            "history-memory",
            format!("history-memory {bytes} B x {kept}"),
            args,
            &[Srv::Ours],
            &[],
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
        add("sessions", format!("{s} n={sessions}"), args, servers, &[]);
    }
    v.retain(|c| match &o.families {
        Some(f) => f.iter().any(|f| f == c.family),
        None => true,
    });
    v
}

/// The load generator's arguments for `clients` clients of scenario `name`.
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
