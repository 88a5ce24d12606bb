//! A userland TCP fault proxy for the soak (`cargo xtask soak --faults`):
//! the kernel here has no netem or nftables, so faults are made between
//! two sockets. It listens on a loopback port and forwards each connection
//! to the server, with one [`Toxic`] per connection, modelled on
//! toxiproxy's toxics:
//!
//! - [`Toxic::Latency`]: every chunk held `base` plus up to `jitter`
//!   (order kept: a chunk never overtakes the one before);
//! - [`Toxic::Bandwidth`]: at most so many bytes a second each way;
//! - [`Toxic::Stall`]: after so many bytes towards the client, nothing is
//!   forwarded either way and nothing is closed (the sockets stay open,
//!   unread, until `hold` has passed);
//! - [`Toxic::Cut`]: after so many bytes towards the client (mid-frame,
//!   as the count falls), both connections are reset (`SO_LINGER` 0: RST,
//!   no FIN);
//! - [`Toxic::HalfOpen`]: after so many bytes in one direction, that
//!   direction is no longer forwarded (nor read), without a FIN; the other
//!   goes on.
//!
//! Every connection is bounded by `hold` after its toxic struck (and by
//! [`MAX_LIFE`] in all), so the proxy never keeps a socket for ever.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The longest a proxied connection lives, faults or not.
pub(crate) const MAX_LIFE: Duration = Duration::from_secs(300);

/// Which way bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// What happens to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Toxic {
    /// Forwarded as it comes.
    None,
    /// Each chunk, both ways, waits `base` plus up to `jitter`.
    Latency { base: Duration, jitter: Duration },
    /// Each way at most `bytes_per_s`.
    Bandwidth { bytes_per_s: u64 },
    /// After `after` bytes down, nothing more either way for `hold`, then
    /// both closed.
    Stall { after: u64, hold: Duration },
    /// After `after` bytes down, both connections reset.
    Cut { after: u64 },
    /// After `after` bytes in `direction`, that direction stops silently
    /// for `hold`, then both closed.
    HalfOpen {
        direction: Direction,
        after: u64,
        hold: Duration,
    },
}

impl Toxic {
    /// The label of its kind, for reports.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Toxic::None => "none",
            Toxic::Latency { .. } => "latency",
            Toxic::Bandwidth { .. } => "bandwidth",
            Toxic::Stall { .. } => "stall",
            Toxic::Cut { .. } => "cut",
            Toxic::HalfOpen { .. } => "half_open",
        }
    }
}

/// Chooses the toxic of the `n`th connection.
pub(crate) type Pick = Arc<dyn Fn(u64) -> Toxic + Send + Sync>;

/// A running proxy.
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy on a loopback port forwarding to `upstream`.
pub(crate) async fn start(upstream: SocketAddr, pick: Pick) -> io::Result<Proxy> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            let Ok((client, _)) = listener.accept().await else {
                // Out of descriptors for a moment: let connections end.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let toxic = pick(n);
            n += 1;
            tokio::spawn(async move {
                let Ok(Ok(server)) =
                    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(upstream))
                        .await
                else {
                    let _ = client.set_zero_linger();
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let _ = tokio::time::timeout(MAX_LIFE, connection(client, server, toxic)).await;
            });
        }
    });
    Ok(Proxy { addr, task })
}

/// How one direction's pump ended.
enum Pumped {
    /// EOF from the reader, forwarded as a FIN.
    Eof,
    /// The toxic struck: cut everything.
    Cut,
    /// The toxic struck: stop, hold, close.
    Held(Duration),
    /// A read or write failed (a reset from one side).
    Failed,
}

async fn connection(mut client: TcpStream, mut server: TcpStream, toxic: Toxic) {
    let ended = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let up = pump(cr, sw, Direction::Up, toxic);
        let down = pump(sr, cw, Direction::Down, toxic);
        tokio::pin!(up, down);
        // The first direction to end decides, unless it just ended cleanly
        // (a FIN forwarded): then the other's end decides.
        tokio::select! {
            first = &mut up => match first { Pumped::Eof => down.await, other => other },
            first = &mut down => match first { Pumped::Eof => up.await, other => other },
        }
    };
    match ended {
        Pumped::Eof => {}
        Pumped::Cut | Pumped::Failed => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
        Pumped::Held(hold) => tokio::time::sleep(hold).await,
    }
}

/// Forwards `from` to `to` under `toxic`.
async fn pump<R, W>(mut from: R, mut to: W, direction: Direction, toxic: Toxic) -> Pumped
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    let mut moved = 0u64;
    // Jitter: a small xorshift, seeded per direction.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ direction as u64;
    let mut jitter_us = move |hi: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if hi == 0 {
            0
        } else {
            seed % hi
        }
    };
    // Latency: when the previous chunk was released (order is kept).
    let mut released = Instant::now();
    // A limit of this direction: (after bytes, then what).
    let limit = match toxic {
        Toxic::Stall { after, hold } if direction == Direction::Down => {
            Some((after, Pumped::Held(hold)))
        }
        Toxic::Cut { after } if direction == Direction::Down => Some((after, Pumped::Cut)),
        Toxic::HalfOpen {
            direction: d,
            after,
            hold,
        } if d == direction => Some((after, Pumped::Held(hold))),
        _ => None,
    };
    let (limit, then) = match limit {
        Some((after, then)) => (after, Some(then)),
        None => (u64::MAX, None),
    };
    loop {
        let room = (limit - moved).min(buf.len() as u64) as usize;
        if room == 0 {
            let then = then.expect("a limit comes with what follows");
            return match then {
                // Half-open: this direction stops (unread, no FIN) while
                // the other goes on; after `hold` the connection closes.
                Pumped::Held(hold) if matches!(toxic, Toxic::HalfOpen { .. }) => {
                    tokio::time::sleep(hold).await;
                    Pumped::Held(Duration::ZERO)
                }
                other => other,
            };
        }
        let n = match from.read(&mut buf[..room]).await {
            Ok(0) => {
                let _ = to.shutdown().await;
                return Pumped::Eof;
            }
            Ok(n) => n,
            Err(_) => return Pumped::Failed,
        };
        match toxic {
            Toxic::Latency { base, jitter } => {
                let extra = jitter_us(jitter.as_micros() as u64);
                let due = (Instant::now() + base + Duration::from_micros(extra)).max(released);
                tokio::time::sleep_until(due).await;
                released = due;
            }
            Toxic::Bandwidth { bytes_per_s } => {
                let pause = Duration::from_secs_f64(n as f64 / bytes_per_s.max(1) as f64);
                tokio::time::sleep(pause).await;
            }
            _ => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return Pumped::Failed;
        }
        moved += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    /// An upstream that echoes everything and reports each connection's
    /// bytes received once it ends (or fails).
    async fn echo_upstream() -> (
        SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<io::Result<u64>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 8192];
                    let mut total = 0u64;
                    let result = loop {
                        match s.read(&mut buf).await {
                            Ok(0) => break Ok(total),
                            Ok(n) => {
                                total += n as u64;
                                if let Err(e) = s.write_all(&buf[..n]).await {
                                    break Err(e);
                                }
                            }
                            Err(e) => break Err(e),
                        }
                    };
                    let _ = tx.send(result);
                });
            }
        });
        (addr, rx)
    }

    async fn through(
        toxic: Toxic,
    ) -> (Proxy, tokio::sync::mpsc::UnboundedReceiver<io::Result<u64>>) {
        let (upstream, ends) = echo_upstream().await;
        let proxy = start(upstream, Arc::new(move |_| toxic)).await.unwrap();
        (proxy, ends)
    }

    async fn connect(proxy: &Proxy) -> TcpStream {
        tokio::time::timeout(T, TcpStream::connect(proxy.addr))
            .await
            .unwrap()
            .unwrap()
    }

    /// Reads exactly `n` bytes.
    async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        tokio::time::timeout(T, s.read_exact(&mut buf))
            .await
            .expect("in time")
            .unwrap();
        buf
    }

    #[tokio::test]
    async fn none_forwards_both_ways_and_the_fin() {
        let (proxy, mut ends) = through(Toxic::None).await;
        let mut s = connect(&proxy).await;
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let (mut r, mut w) = s.split();
        let (_, back) = tokio::join!(
            async {
                w.write_all(&data).await.unwrap();
                w.shutdown().await.unwrap();
            },
            async {
                let mut back = Vec::new();
                tokio::time::timeout(T, r.read_to_end(&mut back))
                    .await
                    .unwrap()
                    .unwrap();
                back
            }
        );
        assert_eq!(back, data);
        assert_eq!(ends.recv().await.unwrap().unwrap(), 100_000);
    }

    #[tokio::test]
    async fn latency_delays_every_chunk_and_keeps_order() {
        let base = Duration::from_millis(40);
        let toxic = Toxic::Latency {
            base,
            jitter: Duration::from_millis(30),
        };
        let (proxy, _ends) = through(toxic).await;
        let mut s = connect(&proxy).await;
        let t0 = Instant::now();
        s.write_all(b"ping").await.unwrap();
        assert_eq!(read_n(&mut s, 4).await, b"ping");
        // Up and down: twice the base at least.
        assert!(t0.elapsed() >= base * 2, "{:?}", t0.elapsed());
        // Chunks written apart keep their order despite the jitter.
        let mut want = Vec::new();
        for i in 0..30u8 {
            s.write_all(&[i]).await.unwrap();
            want.push(i);
            tokio::task::yield_now().await;
        }
        assert_eq!(read_n(&mut s, 30).await, want);
    }

    #[tokio::test]
    async fn bandwidth_limits_the_rate() {
        let (proxy, _ends) = through(Toxic::Bandwidth {
            bytes_per_s: 200_000,
        })
        .await;
        let mut s = connect(&proxy).await;
        let t0 = Instant::now();
        let data = vec![7u8; 60_000];
        let (mut r, mut w) = s.split();
        let (_, back) = tokio::join!(w.write_all(&data), async {
            let mut back = vec![0; data.len()];
            tokio::time::timeout(T, r.read_exact(&mut back))
                .await
                .unwrap()
                .unwrap();
            back
        });
        assert_eq!(back, data);
        // 60 kB up then down at 200 kB/s: at least 0.3 s.
        assert!(
            t0.elapsed() >= Duration::from_millis(290),
            "{:?}",
            t0.elapsed()
        );
    }

    #[tokio::test]
    async fn stall_stops_both_ways_without_closing() {
        let toxic = Toxic::Stall {
            after: 10,
            hold: Duration::from_secs(2),
        };
        let (proxy, _ends) = through(toxic).await;
        let mut s = connect(&proxy).await;
        s.write_all(b"0123456789abcdef").await.unwrap();
        // The first 10 bytes come back; then nothing, and no EOF either.
        assert_eq!(read_n(&mut s, 10).await, b"0123456789");
        let mut buf = [0; 16];
        let more = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        assert!(more.is_err(), "got {more:?} from a stalled connection");
        s.write_all(b"still accepted").await.unwrap();
        // After the hold, it ends.
        let end = tokio::time::timeout(T, s.read(&mut buf))
            .await
            .expect("closed after hold");
        assert!(matches!(end, Ok(0) | Err(_)), "{end:?}");
    }

    #[tokio::test]
    async fn cut_resets_both_sides_mid_stream() {
        let (proxy, mut ends) = through(Toxic::Cut { after: 1000 }).await;
        let mut s = connect(&proxy).await;
        s.write_all(&[1u8; 5000]).await.unwrap();
        assert_eq!(read_n(&mut s, 1000).await, vec![1u8; 1000]);
        let mut buf = [0; 64];
        let end = tokio::time::timeout(T, s.read(&mut buf))
            .await
            .expect("in time");
        match end {
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            Ok(n) => panic!("read {n} bytes instead of a reset"),
        }
        // The server's side was reset too (or had sent all it had).
        let upstream = tokio::time::timeout(T, ends.recv()).await.unwrap().unwrap();
        if let Err(e) = upstream {
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn half_open_stops_one_direction_silently() {
        // Down stops after 4 bytes; up goes on.
        let toxic = Toxic::HalfOpen {
            direction: Direction::Down,
            after: 4,
            hold: Duration::from_secs(2),
        };
        let (proxy, _ends) = through(toxic).await;
        let mut s = connect(&proxy).await;
        s.write_all(b"abcd").await.unwrap();
        assert_eq!(read_n(&mut s, 4).await, b"abcd");
        s.write_all(b"efgh").await.unwrap();
        let mut buf = [0; 8];
        let more = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        assert!(more.is_err(), "got {more:?} through the dead direction");

        // Up stops after 4 bytes: the echo of what got through comes back,
        // the rest never reaches the server; no FIN anywhere.
        let toxic = Toxic::HalfOpen {
            direction: Direction::Up,
            after: 4,
            hold: Duration::from_secs(2),
        };
        let (proxy, mut ends) = through(toxic).await;
        let mut s = connect(&proxy).await;
        s.write_all(b"abcdefgh").await.unwrap();
        assert_eq!(read_n(&mut s, 4).await, b"abcd");
        let more = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
        assert!(more.is_err(), "got {more:?} past the dead direction");
        assert!(ends.try_recv().is_err(), "the server saw an end");
    }
}
