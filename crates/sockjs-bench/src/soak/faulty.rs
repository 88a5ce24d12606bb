//! The faults of `cargo xtask soak --faults`: echo sessions on every
//! transport whose connections go through the [fault proxy](crate::faults)
//! (latency, bandwidth limits, stalls, RST cuts, half-open connections),
//! run beside the mixed phase against the same server. A client whose
//! connection fails recovers what its session still holds with a new
//! receiving request on a healthy path, then reconnects with a new session.
//!
//! What counts (see the crate README):
//!
//! - **acknowledged**: a message of an `xhr_send` / `jsonp_send` answered
//!   with its success status: the server took it. WebSocket messages have
//!   no acknowledgement of their own; their echo is their delivery.
//! - **delivered**: its echo arrived.
//! - Every message is received at most once and in order: a sequence number
//!   at or below the last one received is a **duplicate or reorder**
//!   (must be 0). Gaps are allowed only where a fault cut messages in flight.
//! - An acknowledged message whose echo never arrived, where no broken
//!   receiving connection nor documented end explains it, is **lost after
//!   acknowledgement** (must be 0): a gap on a connection that did not
//!   break, or missing echoes in a session found alive after only a send
//!   failed. Explained losses: the echoes in a response a fault cut (SockJS
//!   has no delivery acknowledgement from client to server: a response the
//!   server finished writing is sent, and the session lives on),
//!   `c[1002,"Connection interrupted"]`, and the session being forgotten (a
//!   new `o`: timed out or reaped as stalled).
//! - Unacknowledged messages (the request was cut before its answer) may
//!   be lost or delivered: **cut in flight**, not loss.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::timeout;

use super::link::{self, Event, Link, Rx};
use super::payload;
use super::rng::Rng;
use super::Transport;
use crate::faults::{Direction, Pick, Toxic};
use crate::net::Net;
use crate::Errors;

/// How long one step (a send, the echoes of a burst) may take before the
/// client decides its connection is broken.
const STEP: Duration = Duration::from_secs(8);
/// How long the recovery after a failure may try.
const RECOVERY: Duration = Duration::from_secs(30);

/// A random toxic for a proxied connection.
pub(crate) fn random_toxic(rng: &mut Rng) -> Toxic {
    let after = |rng: &mut Rng| match rng.range(0, 3) {
        0 => rng.range(0, 200),
        _ => rng.range(200, 30_000),
    };
    let hold = |rng: &mut Rng| Duration::from_millis(rng.range(500, 6000));
    match rng.range(0, 99) {
        0..=34 => Toxic::None,
        35..=54 => Toxic::Latency {
            base: Duration::from_millis(rng.range(0, 40)),
            jitter: Duration::from_millis(rng.range(0, 40)),
        },
        55..=64 => Toxic::Bandwidth {
            bytes_per_s: rng.range(64 * 1024, 1024 * 1024),
        },
        65..=74 => Toxic::Stall {
            after: after(rng),
            hold: hold(rng),
        },
        75..=89 => Toxic::Cut { after: after(rng) },
        _ => Toxic::HalfOpen {
            direction: if rng.chance(50) {
                Direction::Up
            } else {
                Direction::Down
            },
            after: after(rng),
            hold: hold(rng),
        },
    }
}

/// The proxy's random source, and how many connections got each toxic.
pub(crate) type ToxicCounts = Arc<Mutex<(Rng, Vec<(&'static str, u64)>)>>;

/// A proxy's choice of toxics: [`random_toxic`] from `seed`, counted by
/// kind for the report.
pub(crate) fn counted_toxics(seed: u64) -> (Pick, ToxicCounts) {
    let counts: ToxicCounts = Arc::new(Mutex::new((Rng::new(seed), Vec::new())));
    let picks = counts.clone();
    let pick: Pick = Arc::new(move |_| {
        let mut guard = picks.lock().unwrap_or_else(|e| e.into_inner());
        let (rng, counts) = &mut *guard;
        let toxic = random_toxic(rng);
        match counts.iter_mut().find(|(name, _)| *name == toxic.name()) {
            Some((_, c)) => *c += 1,
            None => counts.push((toxic.name(), 1)),
        }
        toxic
    });
    (pick, counts)
}

/// How many connections got each toxic so far.
pub(crate) fn toxic_counts(counts: &ToxicCounts) -> Vec<(&'static str, u64)> {
    counts.lock().map(|c| c.1.clone()).unwrap_or_default()
}

/// The counts of [`toxic_counts`] for a report: `cut 8, stall 11, ...`.
pub(crate) fn toxics_line(toxics: &[(&'static str, u64)]) -> String {
    toxics
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Received messages of one session: in order, each at most once; gaps
/// are counted against what explains them.
struct Book {
    session: u64,
    sent: u64,
    /// Messages `0..acked` were acknowledged by the server.
    acked: u64,
    /// The next sequence number that may arrive (all below are settled).
    next: u64,
    received: u64,
    /// Received messages that had not been acknowledged.
    received_unacked: u64,
    /// A connection broke since the last message arrived: the next gap is
    /// the frames that were in flight on it.
    explained: bool,
    /// Acknowledged messages skipped by a gap no fault explains.
    silent: u64,
    /// Acknowledged messages skipped by a gap a broken connection explains.
    in_flight: u64,
    /// A receiving connection broke while echoes were due: they may have
    /// been in the response it cut (one the server had finished writing:
    /// the session lives on, and the echoes are gone with the response).
    read_broke: bool,
}

impl Book {
    fn new(session: u64) -> Self {
        Book {
            session,
            sent: 0,
            acked: 0,
            next: 0,
            received: 0,
            received_unacked: 0,
            explained: false,
            silent: 0,
            in_flight: 0,
            read_broke: false,
        }
    }

    fn next_messages(&mut self, n: u64) -> Vec<String> {
        let out = (self.sent..self.sent + n)
            .map(|seq| payload::message(self.session, seq))
            .collect();
        self.sent += n;
        out
    }

    /// Accounts for a received message; a duplicate, reorder or corrupt
    /// message is an error.
    fn receive(&mut self, m: &str) -> Result<(), String> {
        let Some((session, seq)) = payload::head(m) else {
            return Err(format!("corrupt message {}", crate::frame::clip(m)));
        };
        if session != self.session || seq >= self.sent {
            return Err(format!(
                "message {session}:{seq} is not one of session {} (sent {})",
                self.session, self.sent
            ));
        }
        if seq < self.next {
            return Err(format!(
                "duplicated or reordered: message {seq} while expecting {} or later",
                self.next
            ));
        }
        if m != payload::message(self.session, seq) {
            return Err(format!("message {seq} altered"));
        }
        let acked_skipped = seq.min(self.acked).saturating_sub(self.next);
        if self.explained {
            self.in_flight += acked_skipped;
        } else {
            self.silent += acked_skipped;
        }
        self.explained = false;
        if seq >= self.acked {
            self.received_unacked += 1;
        }
        self.next = seq + 1;
        self.received += 1;
        Ok(())
    }

    /// Acknowledged messages after the last one received.
    fn acked_tail(&self) -> u64 {
        self.acked.saturating_sub(self.next)
    }
}

/// How a fault session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Every echo arrived; no fault got in the way.
    Clean,
    /// A connection failed; the session then showed a documented loss
    /// (1002, or forgotten), or, on websockets, died with its socket.
    Documented,
    /// A connection failed, and the recovery found the session alive with
    /// nothing more queued.
    Recovered,
    /// The session could not even be opened through the proxy.
    OpenFailed,
}

/// Counts over every fault session.
#[derive(Debug, Default, Clone)]
pub(crate) struct FaultTally {
    sessions: u64,
    clean: u64,
    documented: u64,
    recovered: u64,
    open_failed: u64,
    sent: u64,
    acked: u64,
    received: u64,
    /// Acknowledged, then lost where nothing documented the loss.
    lost_after_ack: u64,
    /// Acknowledged, then lost with a documented loss.
    lost_documented: u64,
    /// Never acknowledged and not delivered.
    cut_in_flight: u64,
    duplicated: u64,
}

impl FaultTally {
    pub(crate) fn merge(&mut self, o: &FaultTally) {
        self.sessions += o.sessions;
        self.clean += o.clean;
        self.documented += o.documented;
        self.recovered += o.recovered;
        self.open_failed += o.open_failed;
        self.sent += o.sent;
        self.acked += o.acked;
        self.received += o.received;
        self.lost_after_ack += o.lost_after_ack;
        self.lost_documented += o.lost_documented;
        self.cut_in_flight += o.cut_in_flight;
        self.duplicated += o.duplicated;
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "sessions": self.sessions,
            "clean": self.clean,
            "recovered": self.recovered,
            "documented_loss": self.documented,
            "open_failed": self.open_failed,
            "messages_sent": self.sent,
            "messages_acked": self.acked,
            "messages_received": self.received,
            "lost_after_ack": self.lost_after_ack,
            "lost_explained": self.lost_documented,
            "cut_in_flight": self.cut_in_flight,
            "duplicated_or_reordered": self.duplicated,
        })
    }

    pub(crate) fn md(&self, toxics: &str) -> String {
        format!(
            "\n#### Faults\n\nBeside them, {} echo sessions on every transport through the \
             userland fault proxy (connections: {toxics}): {} with no fault in the way, {} that \
             recovered their session after a broken connection, {} that ended with a documented \
             loss (`c[1002,\"Connection interrupted\"]`, a forgotten session, a dead \
             websocket), {} that could not open. Messages: {} sent, {} acknowledged by the \
             server (HTTP sends answered), {} delivered; **acknowledged then lost: {}**; \
             acknowledged, then lost in a response a fault cut or with a documented end: {}; \
             never acknowledged (the request was cut) and not delivered: {}; \
             **duplicated or reordered: {}**.\n",
            self.sessions,
            self.clean,
            self.recovered,
            self.documented,
            self.open_failed,
            self.sent,
            self.acked,
            self.received,
            self.lost_after_ack,
            self.lost_documented,
            self.cut_in_flight,
            self.duplicated,
        )
    }

    pub(crate) fn lost_after_ack(&self) -> u64 {
        self.lost_after_ack
    }

    pub(crate) fn duplicated(&self) -> u64 {
        self.duplicated
    }
}

/// Runs one fault session `id` on `transport`: `proxied` goes through the
/// fault proxy, `direct` straight to the server (recovery). Broken rules
/// are reported through `errors` and counted.
pub(crate) async fn run(
    proxied: &Net,
    direct: &Net,
    errors: &Errors,
    nonce: &str,
    id: u64,
    transport: Transport,
    rng: &mut Rng,
) -> FaultTally {
    let mut tally = FaultTally {
        sessions: 1,
        ..FaultTally::default()
    };
    let prefix = "/echo";
    let base = link::base(prefix, nonce, id);
    let mut book = Book::new(id);
    let end = match drive(proxied, direct, transport, prefix, &base, &mut book, rng).await {
        Ok(end) => end,
        Err(e) => {
            if e.contains("duplicated or reordered") {
                tally.duplicated += 1;
            }
            errors.report(format!("{transport} fault session {id}: {e}"));
            End::Documented
        }
    };
    match end {
        End::Clean => tally.clean += 1,
        End::Documented => tally.documented += 1,
        End::Recovered => tally.recovered += 1,
        End::OpenFailed => tally.open_failed += 1,
    }
    // A tail of acknowledged messages never echoed: silent loss when the
    // session went on and no receiving connection broke (clean, or found
    // alive after a failed send), else gone with the documented end or in
    // the response the broken connection cut.
    let tail = book.acked_tail();
    let unexplained = match end {
        End::Clean => true,
        End::Recovered => !book.read_broke,
        End::Documented | End::OpenFailed => false,
    };
    let silent = book.silent + if unexplained { tail } else { 0 };
    if silent > 0 {
        errors.report(format!(
            "{transport} fault session {id}: {silent} acknowledged message(s) lost without a \
             fault or documented end to explain it (sent {}, acked {}, received {}, next {})",
            book.sent, book.acked, book.received, book.next
        ));
    }
    tally.lost_after_ack += silent;
    tally.lost_documented += book.in_flight + if unexplained { 0 } else { tail };
    tally.sent += book.sent;
    tally.acked += book.acked;
    tally.received += book.received;
    tally.cut_in_flight += (book.sent - book.acked).saturating_sub(book.received_unacked);
    tally
}

async fn drive(
    proxied: &Net,
    direct: &Net,
    transport: Transport,
    prefix: &str,
    base: &str,
    book: &mut Book,
    rng: &mut Rng,
) -> Result<End, String> {
    let opened = timeout(
        STEP,
        Link::open(proxied, transport, prefix, base, rng.fork()),
    )
    .await;
    let mut link = match opened {
        Ok(Ok(link)) => link,
        // The session may exist on the server (the `o` was cut): it times
        // out there, which the leftover check sees.
        _ => return Ok(End::OpenFailed),
    };
    let http = !transport.is_websocket();
    let rounds = rng.range(1, 20);
    for _ in 0..rounds {
        let messages = book.next_messages(rng.range(1, 8));
        match timeout(STEP, link.tx.send(proxied, &messages)).await {
            Ok(Ok(())) if http => book.acked = book.sent,
            Ok(Ok(())) => {}
            _ => return broken(direct, transport, base, link, book).await,
        }
        let target = book.sent;
        let read = timeout(STEP, async {
            while book.next < target {
                match link.rx.next(proxied).await? {
                    Event::Messages(ms) => {
                        for m in &ms {
                            book.receive(m)?;
                        }
                    }
                    Event::Heartbeat => {}
                    other => return Err(format!("{other:?} while echoes were due")),
                }
            }
            Ok::<(), String>(())
        })
        .await;
        match read {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.contains("duplicated or reordered") || e.contains("altered") => {
                return Err(e)
            }
            _ => {
                book.read_broke = true;
                return broken(direct, transport, base, link, book).await;
            }
        }
        let think = rng.range(0, 20);
        tokio::time::sleep(Duration::from_millis(think)).await;
    }
    if !http {
        // Best effort: the proxy may be in the way of the handshake.
        let _ = timeout(Duration::from_secs(1), link.tx.close_ws()).await;
    }
    Ok(End::Clean)
}

/// A connection of the session failed: websockets die with it; an HTTP
/// session is asked, on a healthy path, what it still holds.
async fn broken(
    direct: &Net,
    transport: Transport,
    base: &str,
    link: Link,
    book: &mut Book,
) -> Result<End, String> {
    drop(link);
    book.explained = true;
    if transport.is_websocket() {
        return Ok(End::Documented);
    }
    let deadline = tokio::time::Instant::now() + RECOVERY;
    while tokio::time::Instant::now() < deadline {
        let mut rx: Rx = match timeout(STEP, link::reattach(direct, transport, base)).await {
            Ok(Ok(rx)) => rx,
            _ => return Err("the recovery request failed on a healthy path".into()),
        };
        loop {
            let event = match timeout(STEP, rx.next(direct)).await {
                Ok(Ok(event)) => event,
                Ok(Err(e)) if e.starts_with("unexpected o frame") => {
                    // The session was forgotten (reaped, timed out): a new
                    // one opened in its place, which times out in turn.
                    return Ok(End::Documented);
                }
                Ok(Err(e)) => return Err(format!("recovering: {e}")),
                Err(_) => return Err("recovering: no frame within the step".into()),
            };
            match event {
                Event::Messages(ms) => {
                    for m in &ms {
                        book.receive(m)?;
                    }
                }
                Event::Heartbeat => return Ok(End::Recovered),
                Event::Close(1002, _) => return Ok(End::Documented),
                Event::Close(2010, _) => break,
                other => return Err(format!("recovering: {other:?}")),
            }
        }
        // The broken request is still attached (a stalled proxy holds it):
        // ask again shortly.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "recovering: still c[2010] after {RECOVERY:?} (the broken request never let go)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_refuses_duplicates_and_tells_gaps_apart() {
        let mut b = Book::new(3);
        let m = b.next_messages(8);
        b.acked = 6;
        b.receive(&m[0]).unwrap();
        // A gap on a healthy connection: message 1 lost silently.
        b.receive(&m[2]).unwrap();
        assert_eq!(b.silent, 1);
        assert!(b.receive(&m[1]).unwrap_err().contains("reordered"));
        assert!(b.receive(&m[2]).unwrap_err().contains("duplicated"));
        // A gap after a broken connection: 3 and 4 were in flight.
        b.explained = true;
        b.receive(&m[5]).unwrap();
        assert_eq!((b.silent, b.in_flight), (1, 2));
        // 6 and 7 were never acknowledged.
        b.receive(&m[7]).unwrap();
        assert_eq!((b.silent, b.in_flight, b.received_unacked), (1, 2, 1));
        assert_eq!(b.acked_tail(), 0);
    }

    #[test]
    fn toxics_cover_every_kind() {
        let mut rng = Rng::new(7);
        let names: std::collections::HashSet<&str> =
            (0..2000).map(|_| random_toxic(&mut rng).name()).collect();
        assert_eq!(names.len(), 6, "{names:?}");
    }
}
