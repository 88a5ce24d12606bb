//! The resume phase (`soak-resume`): a publisher sends a numbered stream
//! into a room of the test server's `/cluster_resume` service, whose rooms
//! keep the last `--resume-history` messages, and `--clients` resuming
//! clients ([`Resuming`], the client crate's own) on websocket,
//! xhr-streaming and xhr-polling receive it. Their connections break
//! often, and each reconnect asks for the stream since the last position
//! seen:
//!
//! - the server closes every member of the room (`/cluster_resume_cut`,
//!   4000 `cut`) every one to two and a half seconds;
//! - with `--faults N` (any N) the clients connect through the
//!   [fault proxy](crate::faults): latency, bandwidth, stalls, RST cuts,
//!   half-open connections;
//! - one client in four is a laggard: once, it goes away (closes, keeping
//!   its position) until the room has moved on by more than its history,
//!   then comes back with that position: the server must answer `lost`.
//!
//! Every client starts from the position of an anchor message sent before
//! the stream, so it expects every message of the stream, each once and in
//! order ([`Stream`]). A gap is allowed only where the server said `lost`
//! (and then it must be larger than the history: a `lost` for a gap the
//! history kept is a failure too); anything else missing is **silent
//! loss**. Afterwards no session may be left over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sockjs_client::resume::{Backoff, Event, Resuming};
use sockjs_client::{Client, Connection};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

use super::faulty;
use super::rng::Rng;
use super::{server, Report, Transport};
use crate::faults;
use crate::Ctx;

/// The transports of the resuming client.
const KINDS: [Transport; 3] = [
    Transport::WebSocket,
    Transport::XhrStreaming,
    Transport::XhrPolling,
];
/// The room.
const ROOM: &str = "soak";
/// What the publisher sends, in messages a second (in ticks of 20 ms).
const RATE: u64 = 250;
const TICK: Duration = Duration::from_millis(20);
/// How long the clients may take, once the stream has ended, to have it
/// all (a stalled connection is held up to 6 s by the proxy).
const DRAIN: Duration = Duration::from_secs(20);
/// A message of the stream: this prefix and its number.
const PREFIX: &str = "resume ";
/// A laggard comes back once the room is this far past its history.
const LAG_MARGIN: u64 = 25;
/// A client that has had nothing for this long while messages were due
/// takes its connection for dead (a stall, a half-open link: no FIN ever
/// comes) and opens another from its last position, as an application
/// watching the server's heartbeats (every second here) would.
const QUIET: Duration = Duration::from_secs(2);

/// One client's account of the stream: messages `1..=published` are
/// expected (`0` is the anchor it starts from), each once, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stream {
    history: u64,
    /// Which numbers arrived.
    seen: Vec<bool>,
    /// One past the highest number received.
    next: u64,
    expected: u64,
    received: u64,
    /// Received on a connection before its `joined`: replayed history.
    replayed: u64,
    duplicated: u64,
    out_of_order: u64,
    /// Missing where the server answered `lost`.
    lost_reported: u64,
    /// Missing with no `lost` to explain it.
    lost_silent: u64,
    lost_answers: u64,
    /// `lost` answers for a gap no larger than the history.
    needless_lost: u64,
    reconnects: u64,
    /// Reconnects of the client's own, after [`QUIET`].
    quiet_reconnects: u64,
    /// Connections that ended or failed to open.
    disconnects: u64,
    /// What the client repaired (`Resuming::repairs`): resumes after a gap
    /// in the positions, repeats it dropped. On one node neither may
    /// happen: each is the server's loss or duplicate, hidden.
    repaired_gaps: u64,
    repaired_repeats: u64,
    /// The current connection has had its `joined`.
    joined: bool,
    /// A gap seen before `joined` on this connection: `lost` may still
    /// come for it (a live message can precede it), else it is silent.
    pending: u64,
    /// Since a `lost` answer and until the next message: the gap so far.
    lost_open: Option<u64>,
    /// Why the stream is wrong, the first few reasons.
    problems: Vec<String>,
}

impl Stream {
    pub(crate) fn new(history: u64) -> Self {
        Stream {
            history,
            next: 1,
            ..Stream::default()
        }
    }

    fn problem(&mut self, what: String) {
        if self.problems.len() < 3 {
            self.problems.push(what);
        }
    }

    /// A connection opened (the first, or a reconnect).
    pub(crate) fn connected(&mut self, reconnect: bool) {
        self.joined = false;
        if reconnect {
            self.reconnects += 1;
        }
    }

    /// The server's `joined`: what was missing before it and not answered
    /// with `lost` is lost silently.
    pub(crate) fn joined(&mut self) {
        if self.pending > 0 {
            let n = std::mem::take(&mut self.pending);
            self.lost_silent += n;
            self.problem(format!(
                "{n} message(s) before {} missing on resuming, without `lost`",
                self.next
            ));
        }
        self.joined = true;
    }

    /// The server's `lost`.
    pub(crate) fn lost(&mut self) {
        self.lost_answers += 1;
        let pending = std::mem::take(&mut self.pending);
        self.lost_open = Some(self.lost_open.unwrap_or(0) + pending);
    }

    /// Message number `seq` arrived.
    pub(crate) fn message(&mut self, seq: u64) {
        let at = seq as usize;
        if self.seen.len() <= at {
            self.seen.resize(at + 1, false);
        }
        if self.seen[at] {
            self.duplicated += 1;
            self.problem(format!("message {seq} twice"));
            return;
        }
        self.seen[at] = true;
        self.received += 1;
        if !self.joined {
            self.replayed += 1;
        }
        if seq < self.next {
            self.out_of_order += 1;
            self.problem(format!("message {seq} after {}", self.next - 1));
            return;
        }
        let gap = seq - self.next;
        self.next = seq + 1;
        match self.lost_open.take() {
            Some(open) => self.close_lost(open + gap),
            None if gap == 0 => {}
            None if self.joined => {
                self.lost_silent += gap;
                self.problem(format!(
                    "{gap} message(s) missing before {seq}, after `joined`, without `lost`"
                ));
            }
            None => self.pending += gap,
        }
    }

    /// The gap after a `lost` answer ended: `gap` messages reported lost.
    fn close_lost(&mut self, gap: u64) {
        self.lost_reported += gap;
        if gap <= self.history {
            self.needless_lost += 1;
            self.problem(format!(
                "`lost` for a gap of {gap}, which the history of {} kept",
                self.history
            ));
        }
    }

    /// The stream ended at `published`: what never arrived is lost,
    /// reported when a `lost` answer is still open, else silently.
    pub(crate) fn finish(&mut self, published: u64) {
        self.expected = published;
        let tail = (published + 1).saturating_sub(self.next);
        self.next = self.next.max(published + 1);
        match self.lost_open.take() {
            Some(open) => self.lost_reported += open + self.pending + tail,
            None if self.pending + tail > 0 => {
                let n = self.pending + tail;
                self.lost_silent += n;
                self.problem(format!("{n} message(s) never arrived"));
            }
            None => {}
        }
        self.pending = 0;
    }

    /// Whether every message up to `published` is accounted for.
    fn caught_up(&self, published: u64) -> bool {
        self.next > published
    }

    fn failed(&self) -> bool {
        self.lost_silent
            + self.duplicated
            + self.out_of_order
            + self.needless_lost
            + self.repaired_gaps
            + self.repaired_repeats
            > 0
    }

    /// Takes in what `resuming` repaired, before it is let go.
    fn repaired(&mut self, resuming: &Resuming) {
        let (gaps, repeats) = resuming.repairs();
        if gaps + repeats > 0 {
            self.problem(format!(
                "the client resumed after {gaps} gaps in the positions and dropped {repeats} repeats"
            ));
        }
        self.repaired_gaps += gaps;
        self.repaired_repeats += repeats;
    }

    fn merge(&mut self, o: &Stream) {
        self.expected += o.expected;
        self.received += o.received;
        self.replayed += o.replayed;
        self.duplicated += o.duplicated;
        self.out_of_order += o.out_of_order;
        self.lost_reported += o.lost_reported;
        self.lost_silent += o.lost_silent;
        self.lost_answers += o.lost_answers;
        self.needless_lost += o.needless_lost;
        self.reconnects += o.reconnects;
        self.quiet_reconnects += o.quiet_reconnects;
        self.disconnects += o.disconnects;
        self.repaired_gaps += o.repaired_gaps;
        self.repaired_repeats += o.repaired_repeats;
    }

    fn to_json(&self) -> Value {
        json!({
            "expected": self.expected,
            "received": self.received,
            "replayed": self.replayed,
            "lost_reported": self.lost_reported,
            "lost_silent": self.lost_silent,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "lost_answers": self.lost_answers,
            "needless_lost": self.needless_lost,
            "reconnects": self.reconnects,
            "quiet_reconnects": self.quiet_reconnects,
            "disconnects": self.disconnects,
            "repaired_gaps": self.repaired_gaps,
            "repaired_repeats": self.repaired_repeats,
        })
    }
}

/// The number of a stream message, `None` when it is not one.
fn number(data: &str) -> Option<u64> {
    data.strip_prefix(PREFIX)?.parse().ok()
}

/// What every client task shares.
struct Shared {
    ctx: Arc<Ctx>,
    /// The service's URL for the clients (through the proxy with faults).
    url: String,
    /// The anchor's position: every client resumes from it.
    anchor: String,
    /// The highest number published so far.
    published: AtomicU64,
    /// The last number, once the publisher has finished.
    last: watch::Receiver<Option<u64>>,
}

/// One client's outcome.
struct ClientEnd {
    id: usize,
    transport: Transport,
    laggard: bool,
    stream: Stream,
    /// When it had the whole stream (or gave up).
    done: Instant,
}

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Report, String> {
    let a = &ctx.args;
    let history = a.resume_history;
    let direct = format!("http://{}/cluster_resume?room={ROOM}", a.addr);
    let proxy = match a.faults {
        0 => None,
        _ => {
            let (pick, counts) = faulty::counted_toxics(a.seed ^ 0x2E5);
            let proxy = faults::start(a.addr, pick)
                .await
                .map_err(|e| format!("the fault proxy: {e}"))?;
            Some((proxy, counts))
        }
    };
    let url = match &proxy {
        Some((p, _)) => format!("http://{}/cluster_resume?room={ROOM}", p.addr),
        None => direct.clone(),
    };
    let publisher = Client::new()
        .transport(Transport::WebSocket)
        .open(&format!("{direct}&publish"))
        .await
        .map_err(|e| format!("the publisher: {e}"))?;
    let anchor = anchor(&direct, &publisher).await?;
    let (finish, last) = watch::channel(None);
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        url,
        anchor,
        published: AtomicU64::new(0),
        last,
    });
    let t0 = Instant::now();
    let mut rng = Rng::new(a.seed ^ 0x2E50);
    let clients: Vec<_> = (0..a.clients)
        .map(|id| {
            let transport = KINDS[id % KINDS.len()];
            let laggard = (id / KINDS.len()) % 4 == 3;
            tokio::spawn(client(shared.clone(), id, transport, laggard, rng.fork()))
        })
        .collect();
    let cutter = tokio::spawn(cut_now_and_then(
        ctx.clone(),
        shared.last.clone(),
        rng.fork(),
    ));
    let published = publish(&shared, publisher, Duration::from_secs(a.run_s)).await;
    let _ = finish.send(Some(published));
    let stream_end = Instant::now();
    let cuts = cutter.await.unwrap_or_default();
    let mut ends = Vec::new();
    for task in clients {
        match task.await {
            Ok(end) => ends.push(end),
            Err(e) => ctx.errors.report(format!("resume client task: {e}")),
        }
    }
    let ran = t0.elapsed();
    let drain = ends
        .iter()
        .map(|e| e.done.saturating_duration_since(stream_end))
        .max()
        .unwrap_or_default();
    let toxics = match proxy {
        Some((proxy, counts)) => {
            drop(proxy);
            faulty::toxic_counts(&counts)
        }
        None => Vec::new(),
    };
    for end in &ends {
        if end.stream.failed() {
            ctx.errors.report(format!(
                "resume client {} ({}{}): {}",
                end.id,
                end.transport,
                if end.laggard { ", laggard" } else { "" },
                end.stream.problems.join("; ")
            ));
        }
    }
    let limit = a.disconnect_delay * 2 + Duration::from_secs(10);
    let leftover_ms = match server::until_no_sessions(&ctx.net, limit).await {
        Ok(d) => Some(d.as_millis() as u64),
        Err(e) => {
            ctx.errors.report(format!("after the resume phase: {e}"));
            None
        }
    };
    let outcome = Outcome {
        ran,
        drain,
        published,
        history,
        faults: a.faults > 0,
        cuts,
        toxics,
        ends,
        leftover_ms,
    };
    Ok(Report {
        json: outcome.json(),
        md: outcome.md(),
    })
}

/// Sends message 0 and reads its position through a member of the room:
/// the position every client resumes from.
async fn anchor(direct: &str, publisher: &Connection) -> Result<String, String> {
    let mut member = Client::new()
        .transport(Transport::WebSocket)
        .open(direct)
        .await
        .map_err(|e| format!("the anchor's member: {e}"))?;
    let read = async {
        loop {
            let text = member.recv().await.map_err(|e| e.to_string())?;
            if text == "joined" {
                break;
            }
        }
        publisher
            .send(format!("{PREFIX}0"))
            .await
            .map_err(|e| e.to_string())?;
        let text = member.recv().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{text}: {e}"))?;
        match (v["pos"].as_str(), v["data"].as_str().and_then(number)) {
            (Some(pos), Some(0)) => Ok(pos.to_owned()),
            _ => Err(format!("not the anchor: {text}")),
        }
    };
    let pos = timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| "the anchor: no answer within 10 s".to_string())?
        .map_err(|e| format!("the anchor: {e}"))?;
    member.close().await;
    Ok(pos)
}

/// Publishes `RATE` messages a second for `run_for`; returns the last
/// number sent.
async fn publish(shared: &Shared, publisher: Connection, run_for: Duration) -> u64 {
    let per_tick = (RATE * TICK.as_millis() as u64 / 1000).max(1);
    let until = Instant::now() + run_for;
    let mut tick = tokio::time::interval(TICK);
    let mut n = 0;
    'run: while Instant::now() < until {
        tick.tick().await;
        for _ in 0..per_tick {
            if let Err(e) = publisher.send(format!("{PREFIX}{}", n + 1)).await {
                shared
                    .ctx
                    .errors
                    .report(format!("the publisher after {n} messages: {e}"));
                break 'run;
            }
            n += 1;
            shared.published.store(n, Ordering::Relaxed);
        }
    }
    // The websocket sends what it queued before its close frame.
    publisher.close().await;
    n
}

/// Every one to two and a half seconds until the stream ends, closes the
/// room's members on the server (`/cluster_resume_cut`); returns the
/// requests made and the sessions they closed.
async fn cut_now_and_then(
    ctx: Arc<Ctx>,
    mut last: watch::Receiver<Option<u64>>,
    mut rng: Rng,
) -> (u64, u64) {
    let (mut requests, mut sessions) = (0, 0);
    loop {
        let pause = Duration::from_millis(rng.range(1000, 2500));
        if timeout(pause, last.wait_for(Option::is_some)).await.is_ok() {
            return (requests, sessions);
        }
        match server::get(&ctx.net, &format!("/cluster_resume_cut?room={ROOM}")).await {
            Ok((200, body)) => {
                requests += 1;
                sessions += serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["cut"].as_u64())
                    .unwrap_or(0);
            }
            Ok((status, _)) => ctx
                .errors
                .report(format!("/cluster_resume_cut: status {status}")),
            Err(e) => ctx.errors.report(format!("/cluster_resume_cut: {e}")),
        }
    }
}

/// A resuming client on `transport`, from the anchor on, until it has the
/// whole stream or the drain time is over.
async fn client(
    shared: Arc<Shared>,
    id: usize,
    transport: Transport,
    laggard: bool,
    mut rng: Rng,
) -> ClientEnd {
    let history = shared.ctx.args.resume_history;
    let mut stream = Stream::new(history);
    let http = Client::new()
        .transport(transport)
        .timeout(Duration::from_secs(4));
    let backoff = Backoff::new()
        .initial(Duration::from_millis(50))
        .max(Duration::from_secs(1));
    let open = |positions: Vec<(String, String)>| {
        Resuming::new(http.clone(), &format!("{}&client={id}", shared.url))
            .backoff(backoff)
            .positions(positions)
    };
    let mut resuming = open(vec![(ROOM.into(), shared.anchor.clone())]);
    let mut lag_at = laggard.then(|| Instant::now() + Duration::from_millis(rng.range(500, 2000)));
    // The first `Connected` of a laggard's second connection is a reconnect.
    let mut reconnect = false;
    let mut last = shared.last.clone();
    let mut ended: Option<(u64, Instant)> = None;
    let mut heard = Instant::now();
    loop {
        if ended.is_none() {
            if let Some(n) = *last.borrow_and_update() {
                ended = Some((n, Instant::now() + DRAIN));
            }
        }
        if let Some((n, deadline)) = ended {
            if stream.caught_up(n) || Instant::now() > deadline {
                break;
            }
        }
        if lag_at.is_some_and(|at| Instant::now() >= at) && stream.lost_open.is_none() {
            lag_at = None;
            let kept = let_go(&mut resuming, &mut stream, Duration::from_secs(2)).await;
            away(&shared, stream.next - 1 + history + LAG_MARGIN).await;
            resuming = open(kept);
            reconnect = true;
            heard = Instant::now();
        }
        let due = shared.published.load(Ordering::Relaxed) >= stream.next;
        if due && heard.elapsed() >= QUIET {
            let kept = let_go(&mut resuming, &mut stream, Duration::from_secs(1)).await;
            resuming = open(kept);
            reconnect = true;
            stream.quiet_reconnects += 1;
            heard = Instant::now();
        }
        // `next` is cancel-safe; it is cancelled only to look at the
        // conditions above, a few times per client.
        let far = Instant::now() + Duration::from_secs(3600);
        let event = tokio::select! {
            event = resuming.next() => event,
            _ = last.changed(), if ended.is_none() => continue,
            () = tokio::time::sleep_until(lag_at.unwrap_or(far)), if lag_at.is_some() => continue,
            () = tokio::time::sleep_until(ended.map_or(far, |e| e.1)), if ended.is_some() => continue,
            () = tokio::time::sleep_until(heard + QUIET), if due => continue,
        };
        heard = Instant::now();
        let Some(event) = event else { break };
        match event {
            Event::Connected { .. } => {
                stream.connected(reconnect);
                reconnect = false;
            }
            Event::Reconnected { .. } => stream.connected(true),
            Event::Disconnected { .. } => stream.disconnects += 1,
            Event::Lost { .. } => stream.lost(),
            Event::Message { data, .. } if data == "joined" => stream.joined(),
            Event::Message { data, .. } => match number(&data) {
                Some(seq) => stream.message(seq),
                None => stream.problem(format!("unexpected message {data:?}")),
            },
            other => stream.problem(format!("unexpected event {other:?}")),
        }
    }
    let done = Instant::now();
    stream.repaired(&resuming);
    let _ = timeout(Duration::from_secs(2), resuming.close()).await;
    let published = shared.last.borrow().unwrap_or(0);
    stream.finish(published);
    ClientEnd {
        id,
        transport,
        laggard,
        stream,
        done,
    }
}

/// Closes `resuming` (waiting at most `wait`), taking in what it repaired;
/// returns the positions it had reached, for the next one.
async fn let_go(
    resuming: &mut Resuming,
    stream: &mut Stream,
    wait: Duration,
) -> Vec<(String, String)> {
    let kept = resuming
        .positions_seen()
        .iter()
        .map(|(r, p)| (r.clone(), p.clone()))
        .collect();
    stream.repaired(resuming);
    let _ = timeout(wait, resuming.close()).await;
    kept
}

/// Waits until the publisher has passed `seq`, or has finished.
async fn away(shared: &Shared, seq: u64) {
    let mut last = shared.last.clone();
    while shared.published.load(Ordering::Relaxed) < seq && last.borrow_and_update().is_none() {
        let _ = timeout(Duration::from_millis(50), last.changed()).await;
    }
}

/// What the phase measured, for its report.
struct Outcome {
    ran: Duration,
    /// From the end of the stream until the last client had it all.
    drain: Duration,
    published: u64,
    history: u64,
    faults: bool,
    /// `/cluster_resume_cut` requests, and the sessions they closed.
    cuts: (u64, u64),
    toxics: Vec<(&'static str, u64)>,
    ends: Vec<ClientEnd>,
    leftover_ms: Option<u64>,
}

impl Outcome {
    fn rows(&self) -> Vec<(String, usize, Stream)> {
        let mut rows: Vec<(String, usize, Stream)> = KINDS
            .iter()
            .map(|t| (t.name().to_string(), 0, Stream::default()))
            .collect();
        let mut all = ("all".to_string(), 0, Stream::default());
        for end in &self.ends {
            let k = KINDS.iter().position(|&t| t == end.transport).unwrap_or(0);
            rows[k].1 += 1;
            rows[k].2.merge(&end.stream);
            all.1 += 1;
            all.2.merge(&end.stream);
        }
        rows.push(all);
        rows
    }

    fn total(&self) -> Stream {
        let mut all = Stream::default();
        for end in &self.ends {
            all.merge(&end.stream);
        }
        all
    }

    fn json(&self) -> Value {
        let total = self.total();
        let transports: serde_json::Map<String, Value> = self
            .rows()
            .into_iter()
            .map(|(name, n, s)| {
                let mut v = s.to_json();
                v["clients"] = n.into();
                (name, v)
            })
            .collect();
        let clients: Vec<Value> = self
            .ends
            .iter()
            .map(|e| {
                let mut v = e.stream.to_json();
                v["id"] = e.id.into();
                v["transport"] = e.transport.name().into();
                v["laggard"] = e.laggard.into();
                v
            })
            .collect();
        json!({
            "phase": "resume",
            "seconds": self.ran.as_secs_f64(),
            "drain_ms": self.drain.as_millis() as u64,
            "resume_clients": self.ends.len(),
            "published": self.published,
            "rate_per_s": RATE,
            "history": self.history,
            "through_fault_proxy": self.faults,
            "server_cuts": self.cuts.0,
            "sessions_cut": self.cuts.1,
            "expected": total.expected,
            "received": total.received,
            "replayed": total.replayed,
            "reconnects": total.reconnects,
            "quiet_reconnects": total.quiet_reconnects,
            "disconnects": total.disconnects,
            "lost_answers": total.lost_answers,
            "lost_reported": total.lost_reported,
            "lost_silent": total.lost_silent,
            "duplicated": total.duplicated,
            "out_of_order": total.out_of_order,
            "needless_lost": total.needless_lost,
            "repaired_gaps": total.repaired_gaps,
            "repaired_repeats": total.repaired_repeats,
            "leftover_check_ms": self.leftover_ms,
            "toxics": self
                .toxics
                .iter()
                .map(|(name, n)| (name.to_string(), Value::from(*n)))
                .collect::<serde_json::Map<_, _>>(),
            "transports": transports,
            "clients": clients,
        })
    }

    fn md(&self) -> String {
        let via = if self.faults {
            let toxics = faulty::toxics_line(&self.toxics);
            format!("through the userland fault proxy (connections: {toxics}), ")
        } else {
            String::new()
        };
        let mut md = format!(
            "{:.0} s: a publisher sent {} numbered messages ({RATE} a second) into a room of \
             `/cluster_resume` keeping the last {}; {} resuming clients (`sockjs_client::resume`, \
             one in four a laggard that stays away past the history once) received them {via}\
             while the server cut every member {} times ({} sessions closed with 4000 `cut`).\n\n\
             | clients | expected | received | replayed on resume | reconnects | `lost` answers | \
             lost, reported | **lost silently** | **duplicated** | **out of order** | \
             **needless `lost`** |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
            self.ran.as_secs_f64(),
            self.published,
            self.history,
            self.ends.len(),
            self.cuts.0,
            self.cuts.1,
        );
        for (name, n, s) in self.rows() {
            md.push_str(&format!(
                "| {n} {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                s.expected,
                s.received,
                s.replayed,
                s.reconnects,
                s.lost_answers,
                s.lost_reported,
                s.lost_silent,
                s.duplicated,
                s.out_of_order,
                s.needless_lost
            ));
        }
        let total = self.total();
        md.push_str(&format!(
            "\nOf the reconnects, {} were the client's own after {} s without a message while \
             some were due (a stalled or half-open link). The last client had the whole stream \
             {:.1} s after it ended.\n",
            total.quiet_reconnects,
            QUIET.as_secs(),
            self.drain.as_secs_f64()
        ));
        md.push_str(&format!(
            "\nEach client resumes from the position of an anchor message sent before the \
             stream, so it expects all of it, each message once and in order; a gap is allowed \
             only where the server answered `lost`, and only if larger than the history. \
             Left over: {}.\n",
            match self.leftover_ms {
                Some(ms) => format!("none (`open_sessions` 0, {ms} ms after the last client)"),
                None => "**sessions left over**".into(),
            }
        ));
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(history: u64, events: &str) -> Stream {
        let mut s = Stream::new(history);
        for e in events.split_whitespace() {
            match e {
                "open" => s.connected(false),
                "re" => s.connected(true),
                "joined" => s.joined(),
                "lost" => s.lost(),
                n => s.message(n.parse().unwrap()),
            }
        }
        s
    }

    #[test]
    fn a_resumed_stream_is_whole() {
        let mut s = fed(10, "open 1 2 joined 3 re 4 5 joined 6");
        s.finish(6);
        assert_eq!((s.received, s.replayed, s.reconnects), (6, 4, 1));
        assert!(!s.failed(), "{s:?}");
    }

    #[test]
    fn a_gap_without_lost_is_silent_loss() {
        // On resuming (before `joined`), on a live stream, and at the end.
        let mut s = fed(10, "open joined 1 re 4 joined 5 7");
        s.finish(9);
        assert_eq!(s.lost_silent, 2 + 1 + 2);
        assert!(s.failed());
    }

    #[test]
    fn a_gap_answered_with_lost_is_reported_if_larger_than_history() {
        // `lost` may come after a live message; and an unneeded one fails.
        let mut s = fed(3, "open joined 1 re 6 lost joined 7 re lost joined 9");
        s.finish(9);
        assert_eq!(
            (s.lost_reported, s.lost_silent, s.lost_answers),
            (4 + 1, 0, 2)
        );
        assert_eq!(s.needless_lost, 1);
        // A `lost`, a reconnect without a position, a fresh join: one gap.
        let mut s = fed(3, "open joined 1 re lost joined re joined 8");
        s.finish(8);
        assert_eq!((s.lost_reported, s.needless_lost), (6, 0));
        assert!(!s.failed());
        // Still open at the end: the tail is reported.
        let mut s = fed(3, "open joined 1 re lost joined");
        s.finish(9);
        assert_eq!((s.lost_reported, s.lost_silent), (8, 0));
    }

    #[test]
    fn duplicates_and_reorders_fail() {
        let mut s = fed(10, "open joined 1 2 2 re 5 3 joined");
        s.finish(5);
        assert_eq!((s.duplicated, s.out_of_order), (1, 1));
        assert!(s.failed());
    }

    #[test]
    fn numbers() {
        assert_eq!(number("resume 17"), Some(17));
        assert_eq!(number("joined"), None);
    }
}
