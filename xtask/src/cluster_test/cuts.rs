//! The cut check: no node dies, the connections do. Receivers on the Rust
//! client's `sockjs_client::resume::Resuming` (websocket, xhr-streaming,
//! xhr-polling) join a room with history on `/cluster_resume`, each
//! through a fault proxy of its own (`util::CutProxy`) in front of
//! HAProxy; a numbered stream is published, and the proxies reset every
//! connection (RST, mid-message) several times while it flows. Each
//! receiver must see every cut, reconnect after each with the last
//! position it saw (`?since=`), and get every message once and in order,
//! counted.
//!
//! The silent variant ([`Fault::Freeze`]) freezes the connections instead:
//! nothing passes, nothing is closed, as when a peer or middlebox vanishes
//! without a word. The receivers' client bounds silence
//! (`Client::silence_timeout`, above the nodes' heartbeat delay), takes
//! the connection for dead and resumes the same way.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockjs_client::Transport;

use super::client::{Client, Kind};
use super::{resuming, Cluster};
use crate::util::CutProxy;

/// Receivers per transport.
const PER_TRANSPORT: usize = 2;

/// The receivers' transports.
const TRANSPORTS: [Transport; 3] = [
    Transport::WebSocket,
    Transport::XhrStreaming,
    Transport::XhrPolling,
];

/// Messages in the stream.
const SENT: usize = 600;

/// How the check breaks the receivers' connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Reset them (RST), mid-message.
    Reset,
    /// Freeze them: nothing passes, nothing is closed.
    Freeze,
}

impl Fault {
    /// Faults during the stream, evenly spaced.
    fn count(self) -> usize {
        match self {
            Fault::Reset => 3,
            Fault::Freeze => 2,
        }
    }

    /// Between two messages of the stream: a frozen connection takes
    /// [`SILENCE`] to notice, and the stream must outlast both.
    fn pace(self) -> Duration {
        match self {
            Fault::Reset => Duration::from_millis(5),
            Fault::Freeze => Duration::from_millis(10),
        }
    }
}

/// The receivers' bound on silence with [`Fault::Freeze`]: one and a half
/// of the nodes' heartbeat delays, so that a live connection is never
/// taken for dead.
const SILENCE: Duration = Duration::from_millis(super::HEARTBEAT_MS * 3 / 2);

/// Bound on the whole check.
const BOUND: Duration = Duration::from_secs(40);

/// After the stream's last number, how long a receiver still listens for
/// duplicates.
const LINGER: Duration = Duration::from_millis(300);

/// One receiver, as the main thread follows it.
struct Receiver {
    transport: Transport,
    proxy: CutProxy,
    /// Its `joined` messages: one per session that entered the room.
    joined: Arc<AtomicUsize>,
    /// Cuts that reset one of its connections mid-stream or while it
    /// awaited an answer (cuts it must notice).
    cuts_seen: usize,
    /// What each cut did to its connections, for the report.
    history: Vec<String>,
}

/// Waits until every receiver's sessions joined the room once per cut it
/// saw, plus the first.
fn wait_joined(receivers: &[Receiver], deadline: Instant, what: &str) -> Result<(), String> {
    loop {
        let behind: Vec<String> = receivers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.joined.load(Ordering::Relaxed) < r.cuts_seen + 1)
            .map(|(i, r)| format!("{i} ({})", r.transport.name()))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{what}: receivers {} not joined in time",
                behind.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn resume_after_cuts(cluster: &Cluster, fault: Fault) -> Result<String, String> {
    let cuts_made = fault.count();
    let how = match fault {
        Fault::Reset => "reset",
        Fault::Freeze => "frozen (silent)",
    };
    eprintln!(
        "==> cut check: a numbered room stream, connections {how} by a proxy {cuts_made} times, \
         clients resume"
    );
    let started = Instant::now();
    let deadline = started + BOUND;
    let nonce = super::nonce();
    let room = format!("c{nonce}");

    // The receivers, each through its own fault proxy in front of HAProxy.
    let mut receivers = Vec::new();
    let mut threads = Vec::new();
    for transport in TRANSPORTS {
        for _ in 0..PER_TRANSPORT {
            let proxy = CutProxy::start(cluster.proxy).map_err(|e| format!("fault proxy: {e}"))?;
            let joined = Arc::new(AtomicUsize::new(0));
            let url = format!("http://{}/cluster_resume?room={room}", proxy.addr());
            let options = resuming::Options {
                transport,
                sent: SENT,
                linger: LINGER,
                silence: (fault == Fault::Freeze).then_some(SILENCE),
                backoff: (Duration::from_millis(50), Duration::from_secs(1)),
                joined: Some(joined.clone()),
            };
            threads.push(resuming::start(url, options, deadline));
            receivers.push(Receiver {
                transport,
                proxy,
                joined,
                cuts_seen: 0,
                history: Vec::new(),
            });
        }
    }
    wait_joined(&receivers, deadline, "every receiver joined")?;

    // The stream is sent to a node directly (no fault on that path).
    let (source, _, _) = cluster
        .nodes
        .iter()
        .find(|(_, _, server)| server.is_some())
        .ok_or("no live node")?;
    let source_addr = cluster.node_addr(source).ok_or("no such node")?;
    let (events, _events) = channel();
    let publisher = Client::open_with_query(
        0,
        Kind::WebSocket,
        source_addr,
        "/cluster_resume",
        &format!("cut-pub-{nonce}"),
        &format!("?room={room}&publish"),
        events,
    )?;
    eprintln!(
        "    {} Resuming receivers in room {room} through fault proxies; the stream comes from {source}",
        receivers.len()
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let sending = resuming::publish(publisher, SENT, fault.pace(), sent.clone());

    // Cut every receiver's connections at even points of the stream, each
    // once all are back in the room since the one before.
    let mut cut_at = Vec::new();
    let mut idle_resets = 0;
    let mut awaiting_resets = 0;
    for n in 1..=cuts_made {
        let at = SENT * n / (cuts_made + 1);
        while sent.load(Ordering::Relaxed) < at {
            if Instant::now() >= deadline {
                return Err(format!("the stream did not reach {at} within {BOUND:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        wait_joined(&receivers, deadline, &format!("before cut {n}"))?;
        cut_at.push(sent.load(Ordering::Relaxed));
        // All proxies at once, as a network fault would. A frozen
        // connection counts as a cut that must be noticed.
        let cuts: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = receivers
                .iter()
                .map(|r| {
                    s.spawn(|| match fault {
                        Fault::Reset => r.proxy.cut(),
                        Fault::Freeze => crate::util::Cut {
                            mid_stream: r.proxy.freeze(),
                            ..Default::default()
                        },
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (r, cut) in receivers.iter_mut().zip(cuts) {
            if cut.mid_stream + cut.awaiting > 0 {
                r.cuts_seen += 1;
            }
            idle_resets += cut.idle;
            awaiting_resets += cut.awaiting;
            r.history
                .push(format!("{}m{}a{}i", cut.mid_stream, cut.awaiting, cut.idle));
        }
    }
    sending
        .join()
        .map_err(|_| "the sending thread panicked".to_owned())??
        .close();

    // Every message once, in order; every cut seen and resumed from.
    let mut lost = 0;
    let mut duplicated = 0;
    let mut out_of_order = 0;
    let mut failed = Vec::new();
    let mut per_transport: Vec<(&'static str, usize, usize)> = Vec::new();
    for (i, (r, handle)) in receivers.iter().zip(threads).enumerate() {
        let t = match handle.join() {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                failed.push(format!("receiver {i}: {e}"));
                continue;
            }
            Err(_) => {
                failed.push(format!("receiver {i}: its thread panicked"));
                continue;
            }
        };
        let (l, d, o) = resuming::count(&t.got, SENT);
        // What the client repaired counts against the server: with no node
        // dying, no position may be skipped and none repeated.
        let (gaps, repeats) = t.repairs;
        let l = l + t.lost + gaps as usize;
        let d = d + repeats as usize;
        if l + d + o > 0 || r.cuts_seen < cuts_made || t.reconnects < r.cuts_seen {
            failed.push(format!(
                "receiver {i} ({}): {} cuts seen (connections reset mid-message/awaiting/idle \
                 per cut: {}), {} reconnects; {l} lost{}, {d} duplicated, {o} out of order \
                 ({gaps} gaps and {repeats} repeats repaired by the client)",
                t.transport,
                r.cuts_seen,
                r.history.join(" "),
                t.reconnects,
                if t.lost > 0 { " (told lost)" } else { "" }
            ));
        }
        lost += l;
        duplicated += d;
        out_of_order += o;
        match per_transport
            .iter_mut()
            .find(|(name, _, _)| *name == t.transport)
        {
            Some((_, seen, reconnects)) => {
                *seen += r.cuts_seen;
                *reconnects += t.reconnects;
            }
            None => per_transport.push((t.transport, r.cuts_seen, t.reconnects)),
        }
    }
    let reconnects = per_transport
        .iter()
        .map(|(name, seen, reconnects)| format!("{name} {reconnects}/{seen}"))
        .collect::<Vec<_>>()
        .join(", ");
    let summary = format!(
        "{} Resuming receivers x {SENT} messages through fault proxies; {cuts_made} cuts ({}) \
         after {} messages ({awaiting_resets} reset awaiting a slow answer, {idle_resets} idle \
         ones besides); reconnects/cuts seen: {reconnects}; {lost} lost, {duplicated} \
         duplicated, {out_of_order} out of order; {:.1} s",
        receivers.len(),
        match fault {
            Fault::Reset => "every connection reset, RST, mid-message".to_owned(),
            Fault::Freeze => format!(
                "every connection frozen: nothing passes, nothing closed; the client's \
                 silence_timeout is {SILENCE:?}"
            ),
        },
        cut_at
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        started.elapsed().as_secs_f64()
    );
    eprintln!("    {summary}");
    if !failed.is_empty() {
        return Err(format!("{summary}; {}", failed.join("; ")));
    }
    Ok(summary)
}
