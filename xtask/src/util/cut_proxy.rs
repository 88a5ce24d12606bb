//! A userland TCP proxy that cuts its connections on command: the kernel
//! here has no netem or nftables, so a cut is made between two sockets.
//! It listens on a loopback port, forwards each connection to `upstream`
//! as it comes, and [`CutProxy::cut`] resets (`SO_LINGER` 0: RST, no FIN)
//! every connection open at that moment, both sides.
//!
//! A connection is reset when the next bytes towards the client arrive
//! (they are dropped, not forwarded): a stream is cut mid-message and a
//! poll while its answer is on the way, never between two exchanges, where
//! a pooled HTTP client would just open another connection unnoticed. One
//! with nothing coming for [`IDLE_GRACE`] is reset then, and counted
//! apart: as awaiting when the client's last bytes were not answered yet
//! (a request whose answer is slow: the client sees the reset), as idle
//! otherwise (a keep-alive connection between requests: it may not).
//!
//! [`CutProxy::freeze`] is the silent fault: every connection open at
//! that moment stops passing bytes either way and closes nothing (a peer
//! or middlebox that vanished without a word), until [`FROZEN_HOLD`] has
//! passed; only a client that bounds silence notices.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a connection marked by a cut may wait for bytes towards the
/// client before it is reset anyway.
pub(crate) const IDLE_GRACE: Duration = Duration::from_millis(300);

/// How long a frozen connection is held before it is reset.
pub(crate) const FROZEN_HOLD: Duration = Duration::from_secs(30);

/// What happens to the connections open at a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Reset (see the module docs).
    Reset,
    /// Nothing passes, nothing is closed.
    Freeze,
}

/// What one [`CutProxy::cut`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Connections reset as bytes came towards the client.
    pub(crate) mid_stream: usize,
    /// Connections reset after [`IDLE_GRACE`] with nothing coming, the
    /// client's last bytes unanswered.
    pub(crate) awaiting: usize,
    /// Connections reset after [`IDLE_GRACE`] with nothing coming, idle.
    pub(crate) idle: usize,
}

/// How a proxied connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// A side closed (or failed) on its own.
    Closed,
    /// Reset by a cut, as bytes came towards the client.
    MidStream,
    /// Reset by a cut, nothing coming, the client's last bytes unanswered.
    Awaiting,
    /// Reset by a cut, idle.
    Idle,
    /// Frozen, then reset after [`FROZEN_HOLD`].
    Frozen,
}

/// The connections open now, by id.
/// The connections open now: id → the number of faults before it was
/// born (one born before the latest fault has had it).
type Live = Arc<Mutex<HashMap<u64, u64>>>;

/// A running proxy; dropping it stops it and closes its connections.
pub(crate) struct CutProxy {
    addr: SocketAddr,
    live: Live,
    /// The number of faults so far, and the latest one's kind; a
    /// connection opened before the latest gets it.
    cuts: watch::Sender<(u64, Fault)>,
    ended: Mutex<mpsc::Receiver<(u64, Ended)>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CutProxy {
    /// Starts a proxy on a loopback port forwarding to `upstream`, on a
    /// thread (and current-thread runtime) of its own.
    pub(crate) fn start(upstream: SocketAddr) -> io::Result<CutProxy> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let live: Live = Arc::default();
        let (cuts, cut_seen) = watch::channel((0u64, Fault::Reset));
        let (ended_tx, ended) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread_live = live.clone();
        let thread = std::thread::spawn(move || {
            let next = AtomicU64::new(0);
            runtime.block_on(async move {
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        // Entered (and its cut generation read) under the
                        // lock `cut` takes: a connection is either in a
                        // cut's list or born after it.
                        let born = {
                            let mut live = thread_live.lock().unwrap_or_else(|e| e.into_inner());
                            let born = cut_seen.borrow().0;
                            live.insert(id, born);
                            born
                        };
                        let cuts = cut_seen.clone();
                        let live = thread_live.clone();
                        let ended = ended_tx.clone();
                        tokio::spawn(async move {
                            let how = match TcpStream::connect(upstream).await {
                                Ok(server) => forward(client, server, born, cuts).await,
                                Err(_) => {
                                    let _ = client.set_zero_linger();
                                    Ended::Closed
                                }
                            };
                            live.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                            let _ = ended.send((id, how));
                        });
                    }
                };
                tokio::select! {
                    () = accepting => {}
                    _ = stopped => {}
                }
            });
        });
        Ok(CutProxy {
            addr,
            live,
            cuts,
            ended: Mutex::new(ended),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Resets every connection open now (see the module docs) and waits
    /// until each is reset or has ended on its own.
    pub(crate) fn cut(&self) -> Cut {
        let mut waiting = {
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            let now = self.cuts.borrow().0;
            self.cuts
                .send_modify(|(n, fault)| (*n, *fault) = (*n + 1, Fault::Reset));
            untouched(&live, now)
        };
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let mut cut = Cut::default();
        let until = std::time::Instant::now() + IDLE_GRACE + Duration::from_secs(2);
        while !waiting.is_empty() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            let Ok((id, how)) = ended.recv_timeout(left) else {
                break;
            };
            if waiting.remove(&id) {
                match how {
                    Ended::MidStream => cut.mid_stream += 1,
                    Ended::Awaiting => cut.awaiting += 1,
                    Ended::Idle => cut.idle += 1,
                    Ended::Closed | Ended::Frozen => {}
                }
            }
        }
        cut
    }

    /// Freezes every connection open now (see the module docs); returns
    /// how many, at once.
    pub(crate) fn freeze(&self) -> usize {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.cuts.borrow().0;
        self.cuts
            .send_modify(|(n, fault)| (*n, *fault) = (*n + 1, Fault::Freeze));
        untouched(&live, now).len()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The connections of `live` that no fault has touched yet: born after
/// the `faults`-th (those before are reset, or frozen and held).
fn untouched(live: &HashMap<u64, u64>, faults: u64) -> HashSet<u64> {
    live.iter()
        .filter(|(_, born)| **born == faults)
        .map(|(id, _)| *id)
        .collect()
}

/// Forwards between `client` and `server` until one closes, or a cut
/// after `born` resets both.
async fn forward(
    client: TcpStream,
    server: TcpStream,
    born: u64,
    mut cuts: watch::Receiver<(u64, Fault)>,
) -> Ended {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let mut doomed: Option<Instant> = None;
    // Whether the last bytes went towards the server.
    let mut awaiting = false;
    let reset = |how: Ended| {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
        how
    };
    loop {
        tokio::select! {
            ready = client.readable() => {
                if ready.is_err() {
                    return reset(Ended::Closed);
                }
                match client.try_read(&mut buf) {
                    Ok(0) => return Ended::Closed,
                    Ok(n) => {
                        awaiting = true;
                        if write_all(&server, &buf[..n]).await.is_err() {
                            return reset(Ended::Closed);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return reset(Ended::Closed),
                }
            }
            ready = server.readable() => {
                if ready.is_err() {
                    return reset(Ended::Closed);
                }
                match server.try_read(&mut buf) {
                    Ok(0) => return Ended::Closed,
                    // Cut: these bytes are never forwarded.
                    Ok(_) if doomed.is_some() => return reset(Ended::MidStream),
                    Ok(n) => {
                        awaiting = false;
                        if write_all(&client, &buf[..n]).await.is_err() {
                            return reset(Ended::Closed);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return reset(Ended::Closed),
                }
            }
            changed = cuts.changed(), if doomed.is_none() => {
                if changed.is_err() {
                    return Ended::Closed;
                }
                let (n, fault) = *cuts.borrow_and_update();
                if n > born {
                    if fault == Fault::Freeze {
                        // Hold both sockets, unread and unwritten.
                        tokio::time::sleep(FROZEN_HOLD).await;
                        return reset(Ended::Frozen);
                    }
                    doomed = Some(Instant::now() + IDLE_GRACE);
                }
            }
            () = tokio::time::sleep_until(doomed.unwrap_or_else(Instant::now)), if doomed.is_some() => {
                return reset(if awaiting { Ended::Awaiting } else { Ended::Idle });
            }
        }
    }
}

/// Writes all of `bytes` to `to` (a shared reference: the proxy reads the
/// same socket meanwhile).
async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        to.writable().await?;
        match to.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An upstream that echoes what it reads, on a thread per connection.
    fn echo_server() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn connect(proxy: &CutProxy) -> std::net::TcpStream {
        let s = std::net::TcpStream::connect(proxy.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn echo(s: &mut std::net::TcpStream, text: &[u8]) -> io::Result<Vec<u8>> {
        s.write_all(text)?;
        let mut got = vec![0u8; text.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn forwards_then_resets_mid_stream_and_spares_later_connections() {
        let proxy = CutProxy::start(echo_server()).expect("proxy");
        let mut a = connect(&proxy);
        assert_eq!(echo(&mut a, b"hello").expect("echo"), b"hello");
        // The cut waits for bytes towards the client: send some meanwhile.
        let mut writer = a.try_clone().expect("clone");
        let sending = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let _ = writer.write_all(b"lost");
        });
        let cut = proxy.cut();
        sending.join().expect("thread");
        assert_eq!(
            cut,
            Cut {
                mid_stream: 1,
                ..Cut::default()
            }
        );
        let mut buf = [0u8; 16];
        let err = a.read(&mut buf).expect_err("a reset, not an EOF or data");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        // A connection opened after the cut goes on.
        let mut b = connect(&proxy);
        assert_eq!(echo(&mut b, b"again").expect("echo"), b"again");
    }

    #[test]
    fn resets_idle_connections_after_the_grace() {
        let proxy = CutProxy::start(echo_server()).expect("proxy");
        let mut a = connect(&proxy);
        assert_eq!(echo(&mut a, b"x").expect("echo"), b"x");
        let started = std::time::Instant::now();
        assert_eq!(
            proxy.cut(),
            Cut {
                idle: 1,
                ..Cut::default()
            }
        );
        assert!(started.elapsed() >= IDLE_GRACE);
        let mut buf = [0u8; 16];
        let err = a.read(&mut buf).expect_err("a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        // Nothing open: nothing to cut.
        assert_eq!(proxy.cut(), Cut::default());
    }

    #[test]
    fn tells_a_slow_answer_from_an_idle_connection() {
        // An upstream that never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let upstream = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(1).collect();
            std::thread::sleep(Duration::from_secs(5));
            drop(held);
        });
        let proxy = CutProxy::start(upstream).expect("proxy");
        let mut a = connect(&proxy);
        a.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            proxy.cut(),
            Cut {
                awaiting: 1,
                ..Cut::default()
            }
        );
    }

    #[test]
    fn a_frozen_connection_passes_nothing_and_closes_nothing() {
        let proxy = CutProxy::start(echo_server()).expect("proxy");
        let mut a = connect(&proxy);
        assert_eq!(echo(&mut a, b"x").expect("echo"), b"x");
        assert_eq!(proxy.freeze(), 1);
        a.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        a.write_all(b"y").expect("written: nothing is closed");
        let mut buf = [0u8; 16];
        let err = a.read(&mut buf).expect_err("no echo, no end");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        // A connection opened after the freeze goes on; the next freeze
        // counts it alone.
        let mut b = connect(&proxy);
        assert_eq!(echo(&mut b, b"again").expect("echo"), b"again");
        assert_eq!(proxy.freeze(), 1);
    }
}
