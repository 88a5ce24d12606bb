//! Runs one soak session from its [`Plan`] and accounts for every message.

use std::time::Duration;

use super::ledger::{Ledger, Rule};
use super::link::{self, Event, Link, Rx};
use super::plan::{End, Plan, Service, Stall};
use super::rng::Rng;
use super::Transport;
use crate::net::Net;
use crate::Errors;

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndKind {
    /// Websocket closing handshake started by the client.
    ClientClose,
    /// HTTP client that stopped; the server times the session out.
    ClientLeft,
    /// `/close`, `/goodbye`, or broken framing.
    ServerClose,
    /// The client dropped its receiving connection.
    Aborted,
    /// A rule was broken (reported).
    Failed,
}

/// What one session did.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) transport: Transport,
    pub(crate) opened: bool,
    pub(crate) end: EndKind,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    /// Messages the rules allowed to be lost (aborts, broken framing).
    pub(crate) lost: u64,
    /// Messages the server sent of its own (`/goodbye`).
    pub(crate) server_messages: u64,
    pub(crate) stalled: bool,
    pub(crate) bad_sends: u64,
    pub(crate) heartbeats: u64,
    /// How a follow-up request after an abort ended, and how many
    /// messages it still got.
    pub(crate) follow_up: Option<FollowUp>,
    pub(crate) recovered: u64,
}

/// What ended a follow-up request after an aborted receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FollowUp {
    /// `c[1002,"Connection interrupted"]`: the server saw the abort.
    Interrupted,
    /// A heartbeat: the aborted response had ended by itself (a poll
    /// answered, a stream at `response_limit`), so the session lives on.
    Heartbeat,
}

/// What a session needs from its run.
pub(crate) struct Env<'a> {
    pub(crate) net: &'a Net,
    pub(crate) nonce: &'a str,
    pub(crate) errors: &'a Errors,
    /// Stalls allowed at the same time: each holds up to two full queues
    /// of messages in the server, and their number must not swing the
    /// server's memory more than the RSS bound allows. A planned stall
    /// that finds none free is skipped.
    pub(crate) stalls: &'a tokio::sync::Semaphore,
}

/// The longest a session may take, stalls and all.
const SESSION_LIMIT: Duration = Duration::from_secs(90);

struct State {
    ledger: Ledger,
    step: &'static str,
    opened: bool,
    stalled: bool,
    lost: u64,
    server_messages: u64,
    bad_sends: u64,
    heartbeats: u64,
    follow_up: Option<FollowUp>,
    recovered: u64,
}

/// Runs session `id`; a broken rule is reported through `env.errors`.
pub(crate) async fn run(env: &Env<'_>, id: u64, plan: &Plan, rng: &mut Rng) -> Outcome {
    let mut st = State {
        ledger: Ledger::new(id),
        step: "opening",
        opened: false,
        stalled: false,
        lost: 0,
        server_messages: 0,
        bad_sends: 0,
        heartbeats: 0,
        follow_up: None,
        recovered: 0,
    };
    let result = tokio::time::timeout(SESSION_LIMIT, drive(env, id, plan, rng, &mut st)).await;
    let end = match result {
        Ok(Ok(end)) => end,
        Ok(Err(e)) => {
            env.errors.report(format!(
                "{} session {id} ({:?}, {}): {e}",
                plan.transport, plan.service, st.step
            ));
            EndKind::Failed
        }
        Err(_) => {
            env.errors.report(format!(
                "{} session {id} ({:?}): not over after {SESSION_LIMIT:?}, {}",
                plan.transport, plan.service, st.step
            ));
            EndKind::Failed
        }
    };
    Outcome {
        transport: plan.transport,
        opened: st.opened,
        end,
        sent: st.ledger.sent(),
        received: st.ledger.received(),
        bytes_sent: st.ledger.bytes_sent,
        bytes_received: st.ledger.bytes_received,
        lost: st.lost,
        server_messages: st.server_messages,
        stalled: st.stalled,
        bad_sends: st.bad_sends,
        heartbeats: st.heartbeats,
        follow_up: st.follow_up,
        recovered: st.recovered,
    }
}

async fn drive(
    env: &Env<'_>,
    id: u64,
    plan: &Plan,
    rng: &mut Rng,
    st: &mut State,
) -> Result<EndKind, String> {
    let net = env.net;
    let prefix = plan.service.prefix();
    let base = link::base(prefix, env.nonce, id);
    let mut link = Link::open(net, plan.transport, prefix, &base, rng.fork()).await?;
    st.opened = true;
    match plan.service {
        Service::Close => return server_close(net, plan, &base, link, 0, st).await,
        Service::Goodbye => return server_close(net, plan, &base, link, 20, st).await,
        Service::Echo => {}
    }
    let last = plan.bursts.len() - 1;
    for (i, &n) in plan.bursts.iter().enumerate() {
        if let Some(stall) = plan.stall.filter(|s| s.at == i) {
            if let Ok(_permit) = env.stalls.try_acquire() {
                st.step = "stalled (not reading while sending)";
                stalled(net, &mut link, stall, rng, st).await?;
            }
        }
        if let Some((_, bad)) = plan.bad_send.filter(|b| b.0 == i) {
            st.step = "sending a bad payload";
            link.tx.send_bad(net, bad).await?;
            st.bad_sends += 1;
        }
        st.step = "sending";
        let messages = st.ledger.next_messages(n);
        link.tx.send(net, &messages).await?;
        if i == last {
            match plan.end {
                End::Abort { read, follow_up } => {
                    let first = st.ledger.sent() - n;
                    return abort(net, plan, &base, link, first + read, follow_up, rng, st).await;
                }
                End::BrokenFraming => return broken_framing(net, link, st).await,
                End::Client => {}
            }
        }
        st.step = "reading echoes";
        let target = st.ledger.sent();
        read_until(
            net,
            &mut link.rx,
            &mut st.ledger,
            &mut st.heartbeats,
            target,
        )
        .await?;
        if !plan.think.is_zero() {
            let ms = rng.range(0, plan.think.as_millis() as u64);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    st.ledger.finish(Rule::All).map_err(|v| v.to_string())?;
    if plan.transport.is_websocket() {
        st.step = "closing handshake";
        link.tx.close_ws().await?;
        let close = loop {
            match link.rx.next(net).await? {
                Event::Heartbeat => st.heartbeats += 1,
                Event::WsClose(close) => break close,
                other => return Err(format!("after our close frame: {other:?}")),
            }
        };
        if close.as_ref().map(|c| c.0) != Some(1000) {
            return Err(format!("close reply {close:?}, expected code 1000"));
        }
        link.rx.expect_clean_eof(net).await?;
        Ok(EndKind::ClientClose)
    } else {
        // The client leaves; the server forgets the session after
        // disconnect_delay (checked at the end: no session left over).
        Ok(EndKind::ClientLeft)
    }
}

/// Reads until every message up to `target` (exclusive) arrived,
/// counting heartbeats; anything else is an error.
pub(crate) async fn read_until(
    net: &Net,
    rx: &mut Rx,
    ledger: &mut Ledger,
    heartbeats: &mut u64,
    target: u64,
) -> Result<(), String> {
    while ledger.next_expected() < target {
        match rx.next(net).await? {
            Event::Messages(ms) => {
                for m in &ms {
                    ledger.receive(m).map_err(|v| v.to_string())?;
                }
            }
            Event::Heartbeat => *heartbeats += 1,
            other => {
                return Err(format!(
                    "{other:?} while {} echoes were due",
                    target - ledger.next_expected()
                ))
            }
        }
    }
    Ok(())
}

/// Sends `stall.messages` while not reading for `stall.pause`, then reads
/// them all back. Sending goes on while reading is paused: the server must
/// hold back (its queues are bounded, then TCP pushes back) and lose none.
async fn stalled(
    net: &Net,
    link: &mut Link,
    stall: Stall,
    rng: &mut Rng,
    st: &mut State,
) -> Result<(), String> {
    st.stalled = true;
    let messages = st.ledger.next_messages(stall.messages);
    let target = st.ledger.sent();
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < messages.len() {
        let k = rng.range(1, 40) as usize;
        chunks.push(&messages[i..(i + k).min(messages.len())]);
        i += k;
    }
    let Link { tx, rx } = link;
    let send = async {
        for chunk in chunks {
            tx.send(net, chunk).await?;
        }
        Ok::<(), String>(())
    };
    let read = async {
        tokio::time::sleep(stall.pause).await;
        read_until(net, rx, &mut st.ledger, &mut st.heartbeats, target).await
    };
    tokio::try_join!(send, read)?;
    Ok(())
}

/// Reads up to `read_to` of the last burst, sends a few more messages (so
/// that echoes are on their way), drops the receiving connection (a poll
/// is sent and dropped unanswered, at once or a moment later), and with
/// `follow_up` reads what the session still has on a new request.
#[allow(clippy::too_many_arguments)]
async fn abort(
    net: &Net,
    plan: &Plan,
    base: &str,
    mut link: Link,
    read_to: u64,
    follow_up: bool,
    rng: &mut Rng,
    st: &mut State,
) -> Result<EndKind, String> {
    st.step = "reading before the abort";
    read_until(
        net,
        &mut link.rx,
        &mut st.ledger,
        &mut st.heartbeats,
        read_to,
    )
    .await?;
    st.step = "sending before the abort";
    let more = st.ledger.next_messages(rng.range(1, 20));
    link.tx.send(net, &more).await?;
    link.rx.ask_only(net).await?;
    if rng.chance(50) {
        tokio::time::sleep(Duration::from_millis(rng.range(0, 3))).await;
    }
    drop(link);
    if follow_up {
        st.step = "follow-up request after the abort";
        st.ledger.allow_gap();
        let before = st.ledger.received();
        st.follow_up = Some(follow(net, plan.transport, base, st).await?);
        st.recovered = st.ledger.received() - before;
    }
    st.lost = st.ledger.finish(Rule::Prefix).map_err(|v| v.to_string())?;
    Ok(EndKind::Aborted)
}

/// After an abort: a new receiving request gets what is still queued
/// (contiguous, after the one gap), then `c[1002,"Connection interrupted"]`
/// if the server saw the abort, or a heartbeat if the aborted response had
/// ended by itself (nothing queued: the session lives on). `c[2010,...]`
/// means the aborted request is still attached (its end not yet noticed):
/// ask again.
async fn follow(
    net: &Net,
    transport: Transport,
    base: &str,
    st: &mut State,
) -> Result<FollowUp, String> {
    for _ in 0..300 {
        let mut rx = link::reattach(net, transport, base).await?;
        loop {
            match rx.next(net).await? {
                Event::Messages(ms) => {
                    for m in &ms {
                        st.ledger.receive(m).map_err(|v| v.to_string())?;
                    }
                }
                Event::Heartbeat => {
                    st.heartbeats += 1;
                    return Ok(FollowUp::Heartbeat);
                }
                Event::Close(1002, r) if r == "Connection interrupted" => {
                    rx.expect_response_end().await?;
                    return Ok(FollowUp::Interrupted);
                }
                Event::Close(2010, r) if r == "Another connection still open" => break,
                other => return Err(format!("after the abort: {other:?}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("still c[2010] 300 requests after the abort".into())
}

/// The last burst was followed by a framed message that is not JSON: the
/// echoes come while the session lasts, then the close frame 3000.
async fn broken_framing(net: &Net, mut link: Link, st: &mut State) -> Result<EndKind, String> {
    link.tx.send_broken_framing().await?;
    st.step = "reading to the close after broken framing";
    loop {
        match link.rx.next(net).await? {
            Event::Messages(ms) => {
                for m in &ms {
                    st.ledger.receive(m).map_err(|v| v.to_string())?;
                }
            }
            Event::Heartbeat => st.heartbeats += 1,
            Event::WsClose(Some((3000, r))) if r == "Broken framing." => break,
            other => return Err(format!("after broken framing: {other:?}")),
        }
    }
    link.rx.expect_clean_eof(net).await?;
    st.lost = st.ledger.finish(Rule::Prefix).map_err(|v| v.to_string())?;
    Ok(EndKind::ServerClose)
}

/// `/close` (`messages` 0) and `/goodbye` (`1`..`20`): exactly those
/// messages, then `c[3000,"Go away!"]` (framed and HTTP) and the websocket
/// close frame 3000 `Go away!`; HTTP asked again gets the same close frame.
async fn server_close(
    net: &Net,
    plan: &Plan,
    base: &str,
    mut link: Link,
    messages: u64,
    st: &mut State,
) -> Result<EndKind, String> {
    st.step = "reading to the server's close";
    let raw = plan.transport == Transport::RawWebSocket;
    let go_away = |code: u16, reason: &str| code == 3000 && reason == "Go away!";
    let mut got: Vec<String> = Vec::new();
    loop {
        match link.rx.next(net).await? {
            Event::Messages(ms) => got.extend(ms),
            Event::Heartbeat => st.heartbeats += 1,
            Event::Close(code, reason) if !raw && go_away(code, &reason) => break,
            Event::WsClose(Some((code, reason))) if raw && go_away(code, &reason) => break,
            other => {
                return Err(format!(
                    "expected the close 3000 \"Go away!\", got {other:?}"
                ))
            }
        }
    }
    let want: Vec<String> = (1..=messages).map(|i| i.to_string()).collect();
    if got != want {
        return Err(format!("expected the messages {want:?}, got {got:?}"));
    }
    st.server_messages += messages;
    if plan.transport.is_websocket() {
        if !raw {
            match link.rx.next(net).await? {
                Event::WsClose(Some((code, reason))) if go_away(code, &reason) => {}
                other => return Err(format!("after c[3000,...]: {other:?}")),
            }
        }
        link.rx.expect_clean_eof(net).await?;
        return Ok(EndKind::ServerClose);
    }
    link.rx.expect_response_end().await?;
    if plan.ask_again {
        st.step = "asking a closed session again";
        let mut rx = link::reattach(net, plan.transport, base).await?;
        match rx.next(net).await? {
            Event::Close(code, reason) if go_away(code, &reason) => {}
            other => return Err(format!("a closed session asked again: {other:?}")),
        }
        rx.expect_response_end().await?;
    }
    Ok(EndKind::ServerClose)
}
