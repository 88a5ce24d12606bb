//! The echo scenarios: C sessions, each in a closed loop (send, await the
//! echo; with `--pipeline D` on websockets, D messages in flight), every
//! echo compared with what was sent, in order.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::frame::{self, clip, payload, Frame};
use crate::http::{Poller, Sender, Stream, StreamKind};
use crate::net::{Net, Ws};
use crate::stats::{run_clients, Rec, Start, Window};
use crate::Ctx;

/// Which transport the sessions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ws,
    RawWs,
    XhrStreaming,
    EventSource,
    XhrPolling,
}

/// How long a client may take to connect and open its session.
pub(crate) const SETUP: Duration = Duration::from_secs(20);

pub(crate) async fn run(ctx: Arc<Ctx>, kind: Kind) -> Result<Value, String> {
    let n = ctx.args.clients;
    run_clients(ctx, n, move |i, ctx, start| client(i, ctx, start, kind)).await
}

/// Awaits `fut` until `deadline`; past it, says what was being waited for.
pub(crate) async fn within<T>(
    deadline: Instant,
    what: &str,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(format!("timed out waiting for {what}")),
    }
}

/// Pops the oldest outstanding message, checks that `got` is it, and records
/// the round trip.
fn check(
    out: &mut VecDeque<(String, Instant)>,
    got: &str,
    rec: &mut Rec,
    w: &Window,
    now: Instant,
) -> Result<(), String> {
    let Some((want, sent)) = out.pop_front() else {
        return Err(format!("unexpected message {}", clip(got)));
    };
    if want != got {
        return Err(format!("expected {} but got {}", clip(&want), clip(got)));
    }
    rec.record(w, sent, now);
    Ok(())
}

/// Checks every message of a frame; heartbeats pass, anything else fails.
fn check_frame(
    out: &mut VecDeque<(String, Instant)>,
    text: &str,
    rec: &mut Rec,
    w: &Window,
    now: Instant,
) -> Result<(), String> {
    match frame::parse(text)? {
        Frame::Messages(ms) => ms.iter().try_for_each(|m| check(out, m, rec, w, now)),
        Frame::Heartbeat => Ok(()),
        Frame::Open => Err("a second o frame".into()),
        Frame::Close { code, reason } => {
            Err(format!("session closed by the server: {code} {reason:?}"))
        }
    }
}

async fn client(i: usize, ctx: Arc<Ctx>, start: Arc<Start>, kind: Kind) -> Rec {
    let mut rec = Rec::default();
    let result = match kind {
        Kind::Ws | Kind::RawWs => ws_client(i, &ctx, &start, kind == Kind::Ws, &mut rec).await,
        Kind::XhrStreaming => {
            stream_client(i, &ctx, &start, StreamKind::XhrStreaming, &mut rec).await
        }
        Kind::EventSource => {
            stream_client(i, &ctx, &start, StreamKind::EventSource, &mut rec).await
        }
        Kind::XhrPolling => polling_client(i, &ctx, &start, &mut rec).await,
    };
    if let Err(e) = result {
        ctx.errors.report(format!("client {i}: {e}"));
    }
    rec
}

/// Sets up with a time limit, then waits at the start line whatever
/// happened (so one failing client does not hold the others back).
async fn setup_then_start<T>(
    start: &Start,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<(T, Window), String> {
    let r = within(Instant::now() + SETUP, "session setup", fut).await;
    let w = start.ready().await;
    r.map(|t| (t, w))
}

pub(crate) async fn open_ws(net: &Net, path: &str, framed: bool) -> Result<Ws, String> {
    let mut ws = net.websocket(path).await?;
    if framed {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == "o" => {}
            other => return Err(format!("{path}: expected the o frame, got {other:?}")),
        }
    }
    Ok(ws)
}

async fn ws_client(
    i: usize,
    ctx: &Ctx,
    start: &Start,
    framed: bool,
    rec: &mut Rec,
) -> Result<(), String> {
    let path = if framed {
        format!("{}/websocket", ctx.session_base(i))
    } else {
        format!("{}/websocket", ctx.prefix())
    };
    let (mut ws, w) = setup_then_start(start, open_ws(ctx.net_for(i), &path, framed)).await?;
    let depth = ctx.args.pipeline.max(1);
    let mut out: VecDeque<(String, Instant)> = VecDeque::with_capacity(depth);
    let mut seq = 0u64;
    let result = async {
        loop {
            let now = Instant::now();
            if now < w.to && out.len() < depth {
                while out.len() < depth {
                    let p = payload(i, seq);
                    seq += 1;
                    let text = if framed {
                        format!("[\"{p}\"]")
                    } else {
                        p.clone()
                    };
                    ws.feed(Message::text(text))
                        .await
                        .map_err(|e| format!("send: {e}"))?;
                    out.push_back((p, now));
                }
                ws.flush().await.map_err(|e| format!("send: {e}"))?;
            }
            if out.is_empty() {
                return Ok(());
            }
            let msg = match tokio::time::timeout_at(w.grace, ws.next()).await {
                Err(_) => return Err(format!("{} echoes never came", out.len())),
                Ok(None) => return Err("connection closed by the server".into()),
                Ok(Some(Err(e))) => return Err(format!("receive: {e}")),
                Ok(Some(Ok(m))) => m,
            };
            let now = Instant::now();
            match msg {
                Message::Text(t) if framed => check_frame(&mut out, t.as_str(), rec, &w, now)?,
                Message::Text(t) => check(&mut out, t.as_str(), rec, &w, now)?,
                Message::Close(c) => return Err(format!("closed by the server: {c:?}")),
                Message::Binary(_) => return Err("unexpected binary message".into()),
                _ => {}
            }
        }
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    result
}

async fn stream_client(
    i: usize,
    ctx: &Ctx,
    start: &Start,
    kind: StreamKind,
    rec: &mut Rec,
) -> Result<(), String> {
    let base = ctx.session_base(i);
    let send_path = format!("{base}/xhr_send");
    let net = ctx.net_for(i);
    let (mut stream, w) = setup_then_start(start, Stream::open(net, &base, kind)).await?;
    let mut sender = Sender::new();
    let mut out: VecDeque<(String, Instant)> = VecDeque::with_capacity(1);
    let mut seq = 0u64;
    while Instant::now() < w.to {
        let p = payload(i, seq);
        seq += 1;
        let body = format!("[\"{p}\"]");
        out.push_back((p, Instant::now()));
        within(
            w.grace,
            "xhr_send",
            sender.send(ctx.send_net(i), &send_path, body.as_bytes()),
        )
        .await?;
        while !out.is_empty() {
            let f = within(w.grace, "the echo", stream.next_frame(net)).await?;
            check_frame(&mut out, &f, rec, &w, Instant::now())?;
        }
    }
    Ok(())
}

async fn polling_client(i: usize, ctx: &Ctx, start: &Start, rec: &mut Rec) -> Result<(), String> {
    let base = ctx.session_base(i);
    let send_path = format!("{base}/xhr_send");
    let open = async {
        let mut poller = Poller::open(ctx.net_for(i), &base).await?;
        poller.ask(ctx.net_for(i)).await?;
        let first = poller.answer().await?;
        if first != "o" {
            return Err(format!("{base}/xhr: first frame {}", clip(&first)));
        }
        if ctx.poll_net.is_some() {
            // The session stays where it opened; later polls go elsewhere.
            poller = Poller::open(ctx.poll_net(i), &base).await?;
        }
        Ok(poller)
    };
    let (mut poller, w) = setup_then_start(start, open).await?;
    let mut sender = Sender::new();
    let mut out: VecDeque<(String, Instant)> = VecDeque::with_capacity(1);
    let mut seq = 0u64;
    while Instant::now() < w.to {
        let p = payload(i, seq);
        seq += 1;
        let body = format!("[\"{p}\"]");
        poller.ask(ctx.poll_net(i)).await?;
        out.push_back((p, Instant::now()));
        within(
            w.grace,
            "xhr_send",
            sender.send(ctx.send_net(i), &send_path, body.as_bytes()),
        )
        .await?;
        loop {
            let f = within(w.grace, "the poll", poller.answer()).await?;
            check_frame(&mut out, &f, rec, &w, Instant::now())?;
            if out.is_empty() {
                break;
            }
            poller.ask(ctx.poll_net(i)).await?;
        }
    }
    Ok(())
}
