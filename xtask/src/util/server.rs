//! Servers started for a task: free ports, a child process killed on drop,
//! and waiting for readiness by polling a plain HTTP/1.0 `GET`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The ports [`free_port`] hands out: below Linux's ephemeral range
/// (32768–60999), which the kernel gives to outgoing connections and to
/// `bind(0)`. A port taken from that range, let go and then given to a
/// server could meanwhile become the local end of one of the suites'
/// own client connections ("Address already in use": `protocol-test
/// --mutations` failed so once, its 48 servers starting four at a time).
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port that was free a moment ago on 127.0.0.1, and that no other
/// call in this process was given: the ports are handed out in turn from
/// [`PORTS`], from a start that differs between runs, skipping any that
/// cannot be bound now.
pub(crate) fn free_port() -> Result<u16, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(PORTS.end - PORTS.start);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        // Two xtask runs at once (a local run beside CI) start apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let start = (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % span;
        let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = PORTS.start + offset as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(format!("no free port in {PORTS:?}"))
}

/// A child process that is killed when dropped, so no server outlives its task.
pub(crate) struct Server {
    child: Child,
    /// What it was started as, for messages.
    pub(crate) name: String,
}

impl Server {
    /// Starts `cmd` with stdout/stderr inherited (or to a log file when given).
    pub(crate) fn start(name: &str, mut cmd: Command, log: Option<&Path>) -> Result<Self, String> {
        if let Some(log) = log {
            let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
            let err = file.try_clone().map_err(|e| e.to_string())?;
            cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
        }
        cmd.stdin(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Server {
            child,
            name: name.to_string(),
        })
    }

    /// The operating-system process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it now (SIGKILL: no shutdown, no goodbye to its clients).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Polls `GET path` on `addr` until it answers 200, the process exits, or
    /// `timeout` passes.
    pub(crate) fn wait_ready(
        &mut self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited before it was ready ({status})",
                    self.name
                ));
            }
            if http_get_status(addr, path) == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{} not ready after {timeout:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// Sends SIGTERM (through `kill(1)`), asking for a graceful shutdown.
    pub(crate) fn terminate(&self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "kill -TERM {} ({}): {status}",
                self.pid(),
                self.name
            ))
        }
    }

    /// Polls until the process exits or `timeout` passes; returns its status.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("{} still running after {timeout:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status and body of a plain `GET path` over HTTP/1.0, or `None` when
/// nothing answers (within 2 s).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.get(9..12)?.parse().ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some((status, body.to_owned()))
}

/// The status code of a plain `GET path` over HTTP/1.0, or `None` when
/// nothing answers.
pub(crate) fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_outside_the_ephemeral_range_and_never_handed_out_twice() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        for &port in &ports {
            assert!(PORTS.contains(&port), "{port} outside {PORTS:?}");
        }
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ports.len(),
            "a port handed out twice: {ports:?}"
        );
    }

    #[test]
    fn a_port_in_use_is_skipped() {
        let first = free_port().unwrap();
        // Take the port after `first` (in turn) before asking again.
        let next = PORTS.start + (first - PORTS.start + 1) % (PORTS.end - PORTS.start);
        let held = TcpListener::bind(("127.0.0.1", next));
        let second = free_port().unwrap();
        if held.is_ok() {
            assert_ne!(second, next, "a port in use was handed out");
        }
        assert!(TcpListener::bind(("127.0.0.1", second)).is_ok());
    }
}
