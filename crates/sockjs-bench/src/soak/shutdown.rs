//! The shutdown phase: `--clients` sessions on every transport are open,
//! each has just sent messages whose echoes are queued (it stopped reading
//! first), and the server gets SIGTERM. Every client must then read all
//! its echoes, in order, then `c[1001,"Server shutting down"]` (raw
//! websocket: the close frame 1001 `Server shutting down`), then a clean
//! end: the websocket closing handshake and the server's FIN, or the end of
//! the HTTP response and of the connection, never a TCP reset. Meanwhile
//! new sessions and `/info` must get 503, and the process must exit within
//! its deadline (`--shutdown-deadline-ms`, plus the second the test server
//! allows its last connections).
//!
//! "Queued" is made certain, not hoped for: after the last client has sent
//! its last messages, SIGTERM waits until no thread of the server is
//! running (`/proc/PID/task/*/stat`), so every echo has been handed to its
//! session by then.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::ledger::{Ledger, Rule};
use super::link::{self, Event, Link};
use super::rng::Rng;
use super::session::read_until;
use super::{server, Report, Transport};
use crate::frame::clip;
use crate::http::Sender;
use crate::Ctx;

const REASON: &str = "Server shutting down";

/// One client's result.
#[derive(Debug, Default, Clone, Copy)]
struct Done {
    sent: u64,
    received: u64,
    ok: bool,
}

/// Per transport: clients, clients ok, messages sent, received, failures.
type Row = (u64, u64, u64, u64, u64);

/// A client task, by its transport.
type Task = (Transport, tokio::task::JoinHandle<Done>);

/// What the phase measured, for its report.
struct Outcome {
    /// Sessions open by `/stats` when SIGTERM was sent.
    open: u64,
    /// How long after the last send the server went idle.
    idle: Duration,
    /// How long after SIGTERM `/stats` said it was shutting down.
    begun: Duration,
    /// What was not refused (503) during the shutdown.
    refusals: Vec<String>,
    per_transport: Vec<Row>,
    /// When the last client was done, after SIGTERM.
    last_done: Duration,
    exit_ms: Option<u64>,
    exit_limit: Duration,
}

pub(crate) async fn run(ctx: Arc<Ctx>) -> Result<Report, String> {
    let a = &ctx.args;
    let pid = a
        .server_pid
        .ok_or("the shutdown phase needs --server-pid")?;
    let total = a.clients * Transport::ALL.len();
    let arrived = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let (release, released) = watch::channel(false);
    let tasks = start_clients(&ctx, &arrived, &all_in, &released);
    wait_all_in(&arrived, &all_in, total).await?;
    let open = server::stats(&ctx.net).await?.open_sessions;
    let idle = server::until_idle(pid, Duration::from_secs(5)).await?;

    let signalled = Instant::now();
    server::terminate(pid)?;
    let begun = shutting_down(&ctx, signalled).await?;
    let refusals = refusals(&ctx).await;
    for e in &refusals {
        ctx.errors.report(format!("during the shutdown: {e}"));
    }
    let _ = release.send(true);

    let deadline = a.shutdown_deadline;
    let (per_transport, last_done) = join_clients(&ctx, tasks, signalled, deadline).await;
    // The test server exits once every session is closed, plus at most a
    // second for connections that linger.
    let exit_limit = deadline + Duration::from_secs(1);
    let exit_ms = exit_within(&ctx, pid, signalled, exit_limit).await;
    Ok(Outcome {
        open,
        idle,
        begun,
        refusals,
        per_transport,
        last_done,
        exit_ms,
        exit_limit,
    }
    .report(a.clients, total))
}

/// `--clients` clients on every transport, each opening its session,
/// sending, and counting itself in `arrived` before it waits for
/// `released`.
fn start_clients(
    ctx: &Arc<Ctx>,
    arrived: &Arc<AtomicUsize>,
    all_in: &Arc<Notify>,
    released: &watch::Receiver<bool>,
) -> Vec<Task> {
    let per = ctx.args.clients;
    let mut rng = Rng::new(ctx.args.seed);
    let mut tasks = Vec::with_capacity(per * Transport::ALL.len());
    for (k, transport) in Transport::ALL.into_iter().enumerate() {
        for i in 0..per {
            let id = (k * per + i) as u64;
            tasks.push((
                transport,
                tokio::spawn(client(
                    ctx.clone(),
                    transport,
                    id,
                    rng.fork(),
                    arrived.clone(),
                    all_in.clone(),
                    released.clone(),
                )),
            ));
        }
    }
    tasks
}

/// Waits (at most 60 s) until all `total` clients are set up.
async fn wait_all_in(arrived: &AtomicUsize, all_in: &Notify, total: usize) -> Result<(), String> {
    let setup_until = Instant::now() + Duration::from_secs(60);
    while arrived.load(Ordering::SeqCst) < total {
        let notified = all_in.notified();
        if arrived.load(Ordering::SeqCst) >= total {
            break;
        }
        if tokio::time::timeout_at(setup_until, notified)
            .await
            .is_err()
        {
            return Err(format!(
                "only {} of {total} clients were set up after 60 s",
                arrived.load(Ordering::SeqCst)
            ));
        }
    }
    Ok(())
}

/// How long after SIGTERM (`signalled`) `/stats` says the server is
/// shutting down; an error after 5 s.
async fn shutting_down(ctx: &Ctx, signalled: Instant) -> Result<Duration, String> {
    let begun = async {
        loop {
            if server::stats(&ctx.net).await?.shutting_down {
                return Ok::<_, String>(signalled.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), begun)
        .await
        .map_err(|_| "the server did not begin shutting down within 5 s of SIGTERM")?
}

/// Waits for every client, until `deadline` + 5 s after SIGTERM; the
/// results per transport, and when the last one was done.
async fn join_clients(
    ctx: &Ctx,
    tasks: Vec<Task>,
    signalled: Instant,
    deadline: Duration,
) -> (Vec<Row>, Duration) {
    let fence = signalled + deadline + Duration::from_secs(5);
    let mut per_transport = vec![(0u64, 0u64, 0u64, 0u64, 0u64); Transport::ALL.len()];
    let mut last_done = Duration::ZERO;
    for (transport, task) in tasks {
        let row = &mut per_transport[transport.index()];
        row.0 += 1;
        match tokio::time::timeout_at(fence, task).await {
            Ok(Ok(done)) => {
                row.1 += u64::from(done.ok);
                row.2 += done.sent;
                row.3 += done.received;
                row.4 += u64::from(!done.ok);
            }
            Ok(Err(e)) => {
                row.4 += 1;
                ctx.errors
                    .report(format!("{transport} client task failed: {e}"));
            }
            Err(_) => {
                row.4 += 1;
                ctx.errors.report(format!(
                    "{transport} client not done {deadline:?} + 5 s after SIGTERM"
                ));
            }
        }
        last_done = last_done.max(signalled.elapsed());
    }
    (per_transport, last_done)
}

/// How many ms after SIGTERM the server exited; an error when later than
/// `exit_limit`, or not at all within 2 s more.
async fn exit_within(ctx: &Ctx, pid: u32, signalled: Instant, exit_limit: Duration) -> Option<u64> {
    let exited = server::until_exited(pid, signalled, exit_limit + Duration::from_secs(2)).await;
    match &exited {
        Ok(d) => {
            if *d > exit_limit {
                ctx.errors.report(format!(
                    "the server exited {d:?} after SIGTERM, later than its deadline {exit_limit:?}"
                ));
            }
            Some(d.as_millis() as u64)
        }
        Err(e) => {
            ctx.errors.report(e);
            None
        }
    }
}

impl Outcome {
    /// The JSON and markdown of the phase (`per` clients per transport,
    /// `total` in all).
    fn report(self, per: usize, total: usize) -> Report {
        let per_transport = &self.per_transport;
        let mut rows = serde_json::Map::new();
        let mut md = String::from(
            "| transport | clients | messages sent / received | all + close 1001 + clean end | failures |\n\
             |---|--:|--:|--:|--:|\n",
        );
        for t in Transport::ALL {
            let (n, ok, sent, received, failed) = per_transport[t.index()];
            rows.insert(
                t.name().into(),
                json!({"clients": n, "ok": ok, "sent": sent, "received": received, "failed": failed}),
            );
            md.push_str(&format!(
                "| {} | {n} | {sent} / {received} | {ok} | {failed} |\n",
                t.name()
            ));
        }
        let ms = |d: Duration| d.as_millis() as u64;
        let sum = |f: fn(&Row) -> u64| per_transport.iter().map(f).sum::<u64>();
        let summary = format!(
            "{total} sessions open ({} by `/stats`); idle {} ms after the last send; \
             shutting down {} ms after SIGTERM; 503 for new sessions and `/info`: {}; \
             last client done {} ms after SIGTERM; process exited after {} (limit {} ms).",
            self.open,
            ms(self.idle),
            ms(self.begun),
            if self.refusals.is_empty() {
                "yes"
            } else {
                "**no**"
            },
            ms(self.last_done),
            self.exit_ms
                .map_or("**never**".to_string(), |e| format!("{e} ms")),
            ms(self.exit_limit)
        );
        Report {
            json: json!({
                "phase": "shutdown",
                "clients_per_transport": per,
                "open_sessions": self.open,
                "idle_ms": ms(self.idle),
                "begun_ms": ms(self.begun),
                "refusals_ok": self.refusals.is_empty(),
                "last_client_ms": ms(self.last_done),
                "exit_ms": self.exit_ms,
                "exit_limit_ms": ms(self.exit_limit),
                "clients": sum(|r| r.0),
                "clients_ok": sum(|r| r.1),
                "sent": sum(|r| r.2),
                "received": sum(|r| r.3),
                "failed": sum(|r| r.4),
                "transports": rows,
            }),
            md: format!("{summary}\n\n{md}"),
        }
    }
}

/// New sessions, `/info` and websocket upgrades must get 503 now.
async fn refusals(ctx: &Ctx) -> Vec<String> {
    let mut errors = Vec::new();
    let new = link::base("/echo", &ctx.nonce, 1_000_000);
    let mut sender = Sender::new();
    match sender
        .post(&ctx.net, &format!("{new}/xhr"), None, b"")
        .await
    {
        Ok((503, body)) if body == b"Server shutting down." => {}
        Ok((status, body)) => errors.push(format!(
            "a new session got {status} {}",
            clip(&String::from_utf8_lossy(&body))
        )),
        Err(e) => errors.push(format!("a new session: {e}")),
    }
    match server::get(&ctx.net, "/echo/info").await {
        Ok((503, _)) => {}
        Ok((status, _)) => errors.push(format!("/info got {status}")),
        Err(e) => errors.push(format!("/info: {e}")),
    }
    match ctx.net.websocket(&format!("{new}/websocket")).await {
        Err(e) if e.contains("503") => {}
        Err(e) => errors.push(format!("a new websocket: {e}")),
        Ok(_) => errors.push("a new websocket was accepted".into()),
    }
    errors
}

async fn client(
    ctx: Arc<Ctx>,
    transport: Transport,
    id: u64,
    mut rng: Rng,
    arrived: Arc<AtomicUsize>,
    all_in: Arc<Notify>,
    mut released: watch::Receiver<bool>,
) -> Done {
    let net = &ctx.net;
    let mut ledger = Ledger::new(id);
    let mut heartbeats = 0;
    let setup = async {
        let base = link::base("/echo", &ctx.nonce, id);
        let mut link = Link::open(net, transport, "/echo", &base, rng.fork()).await?;
        // One round trip first, then messages left unread.
        let warm = ledger.next_messages(rng.range(1, 5));
        link.tx.send(net, &warm).await?;
        let target = ledger.sent();
        read_until(net, &mut link.rx, &mut ledger, &mut heartbeats, target).await?;
        let last = ledger.next_messages(rng.range(3, 30));
        link.tx.send(net, &last).await?;
        Ok::<_, String>(link)
    };
    let setup = tokio::time::timeout(Duration::from_secs(30), setup).await;
    arrived.fetch_add(1, Ordering::SeqCst);
    all_in.notify_one();
    let result = match setup {
        Ok(Ok(link)) => {
            let _ = released.wait_for(|r| *r).await;
            to_the_end(&ctx, transport, link, &mut ledger).await
        }
        Ok(Err(e)) => Err(format!("setting up: {e}")),
        Err(_) => Err("setting up: not done in 30 s".into()),
    };
    if let Err(e) = &result {
        ctx.errors
            .report(format!("{transport} shutdown client {id}: {e}"));
    }
    Done {
        sent: ledger.sent(),
        received: ledger.received(),
        ok: result.is_ok(),
    }
}

/// Reads every echo, the close, and the end of the connection.
async fn to_the_end(
    ctx: &Ctx,
    transport: Transport,
    mut link: Link,
    ledger: &mut Ledger,
) -> Result<(), String> {
    let net = &ctx.net;
    let raw = transport == Transport::RawWebSocket;
    loop {
        match link.rx.next(net).await? {
            Event::Messages(ms) => {
                for m in &ms {
                    ledger.receive(m).map_err(|v| v.to_string())?;
                }
            }
            Event::Heartbeat => {}
            Event::Close(1001, r) if !raw && r == REASON => break,
            Event::WsClose(Some((1001, r))) if raw && r == REASON => break,
            other => return Err(format!("expected the close 1001 {REASON:?}, got {other:?}")),
        }
    }
    ledger.finish(Rule::All).map_err(|v| v.to_string())?;
    if transport == Transport::WebSocket {
        match link.rx.next(net).await? {
            Event::WsClose(Some((1001, r))) if r == REASON => {}
            other => return Err(format!("after c[1001,...]: {other:?}")),
        }
    }
    if !transport.is_websocket() {
        link.rx.expect_response_end().await?;
    }
    link.rx.expect_clean_eof(net).await
}
