//! The server under test seen from outside: `GET /stats`, the signal that
//! shuts it down, whether it is idle, whether it has exited.

use std::time::Duration;

use tokio::time::Instant;

use crate::http::Conn;
use crate::net::Net;
use crate::procfs;

/// What `GET /stats` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) open_sessions: u64,
    pub(crate) shutting_down: bool,
}

/// `GET /stats` on a connection of its own.
pub(crate) async fn stats(net: &Net) -> Result<Stats, String> {
    let mut conn = Conn::connect(net).await?;
    conn.request("GET", "/stats", b"").await?;
    let head = conn.head("GET").await?.ok_or("GET /stats: no response")?;
    let body = conn.body(&head).await?;
    if head.status != 200 {
        return Err(format!("GET /stats: status {}", head.status));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("GET /stats: {e}"))?;
    Ok(Stats {
        open_sessions: v["open_sessions"]
            .as_u64()
            .ok_or("GET /stats: no open_sessions")?,
        shutting_down: v["shutting_down"].as_bool().unwrap_or(false),
    })
}

/// Polls `GET /stats` until `open_sessions` is 0; returns how long it took.
pub(crate) async fn until_no_sessions(net: &Net, limit: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut last = None;
    while t0.elapsed() < limit {
        match stats(net).await {
            Ok(s) if s.open_sessions == 0 => return Ok(t0.elapsed()),
            Ok(s) => last = Some(s.open_sessions),
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "sessions left over: GET /stats still says open_sessions {} after {limit:?}",
        last.unwrap_or(0)
    ))
}

/// Sends SIGTERM to `pid` (through `kill(1)`: no unsafe code here).
pub(crate) fn terminate(pid: u32) -> Result<(), String> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -TERM {pid}: {status}"))
    }
}

/// Waits until no thread of `pid` is running, three samples in a row a
/// millisecond apart: every task the server had to run (echoing the last
/// messages into their queues) has run.
pub(crate) async fn until_idle(pid: u32, limit: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut quiet = 0;
    while t0.elapsed() < limit {
        match procfs::running_threads(pid) {
            None => return Err(format!("process {pid} is gone")),
            Some(0) => quiet += 1,
            Some(_) => quiet = 0,
        }
        if quiet == 3 {
            return Ok(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Err(format!("the server was never idle within {limit:?}"))
}

/// Polls until `pid` has exited; returns when, measured from `since`.
pub(crate) async fn until_exited(
    pid: u32,
    since: Instant,
    limit: Duration,
) -> Result<Duration, String> {
    while since.elapsed() < limit {
        if procfs::has_exited(pid) {
            return Ok(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(format!("the server had not exited {limit:?} after SIGTERM"))
}

/// `GET path` on a connection of its own: status and body.
pub(crate) async fn get(net: &Net, path: &str) -> Result<(u16, Vec<u8>), String> {
    let mut conn = Conn::connect(net).await?;
    conn.request("GET", path, b"").await?;
    let head = conn
        .head("GET")
        .await?
        .ok_or_else(|| format!("GET {path}: no response"))?;
    let body = conn.body(&head).await?;
    Ok((head.status, body))
}
