//! The Rust client's resuming receivers of a numbered room stream
//! (`sockjs_client::resume::Resuming` on `/cluster_resume`), shared by the
//! kill check ([`super::resume`]) and the cut check ([`super::cuts`]): one
//! on a thread of its own, and the count of what it got.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sockjs_client::Transport;

use super::client::Client;

/// How a receiver runs.
pub(super) struct Options {
    pub(super) transport: Transport,
    /// The stream's numbers are `0..sent`.
    pub(super) sent: usize,
    /// How long it still listens after the last number (for duplicates).
    pub(super) linger: Duration,
    /// The client's bound on silence, when set.
    pub(super) silence: Option<Duration>,
    /// The reconnect back-off's first and longest delay.
    pub(super) backoff: (Duration, Duration),
    /// Counts its `joined` messages (one per session that entered the
    /// room), when given.
    pub(super) joined: Option<Arc<AtomicUsize>>,
}

/// What a receiver got, in the end.
pub(super) struct Tally {
    pub(super) transport: &'static str,
    /// The numbers, in the order they came.
    pub(super) got: Vec<usize>,
    pub(super) reconnects: usize,
    /// `Lost` answers (its position was gone).
    pub(super) lost: usize,
    /// What the client repaired ([`Resuming::repairs`](sockjs_client::resume::Resuming::repairs)):
    /// resumes after positions skipped, repeats dropped.
    pub(super) repairs: (u64, u64),
}

/// Starts a receiver of `url` on a thread of its own (a current-thread
/// runtime): until it has the stream's last number (and the linger more)
/// or `deadline` passes.
pub(super) fn start(
    url: String,
    o: Options,
    deadline: Instant,
) -> std::thread::JoinHandle<Result<Tally, String>> {
    use sockjs_client::resume::{Backoff, Event as R, Resuming};
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let client = sockjs_client::Client::new()
                .transport(o.transport)
                .timeout(Duration::from_secs(5))
                .silence_timeout(o.silence);
            let backoff = Backoff::new().initial(o.backoff.0).max(o.backoff.1);
            let mut r = Resuming::new(client, &url).backoff(backoff);
            let name = o.transport.name();
            let mut tally = Tally {
                transport: name,
                got: Vec::new(),
                reconnects: 0,
                lost: 0,
                repairs: (0, 0),
            };
            let mut done: Option<Instant> = None;
            loop {
                let until = done.unwrap_or(deadline);
                let left = until.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, r.next()).await {
                    Ok(Some(R::Message {
                        position: Some(_),
                        data,
                        ..
                    })) => {
                        tally.got.extend(data.parse::<usize>().ok());
                        if done.is_none() && tally.got.last() == Some(&(o.sent - 1)) {
                            done = Some(Instant::now() + o.linger);
                        }
                    }
                    Ok(Some(R::Message { data, .. })) if data == "joined" => {
                        if let Some(joined) = &o.joined {
                            joined.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(Some(R::Reconnected { .. })) => tally.reconnects += 1,
                    Ok(Some(R::Lost { .. })) => tally.lost += 1,
                    Ok(Some(_)) => {}
                    Ok(None) => return Err(format!("Resuming over {name} gave up")),
                    Err(_) if done.is_some() => break,
                    Err(_) => {
                        return Err(format!(
                            "Resuming over {name}: {} numbers (the last {:?}), {} reconnects, \
                             not the whole stream within the bound",
                            tally.got.len(),
                            tally.got.last(),
                            tally.reconnects
                        ))
                    }
                }
            }
            tally.repairs = r.repairs();
            r.close().await;
            Ok(tally)
        })
    })
}

/// Sends the stream `0..sent` through `publisher` on a thread, one number
/// every `pace`, counting what is sent in `progress`; waits half a second
/// for the last to be through, then gives the publisher back.
pub(super) fn publish(
    publisher: Client,
    sent: usize,
    pace: Duration,
    progress: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Result<Client, String>> {
    std::thread::spawn(move || {
        for i in 0..sent {
            publisher.send(&i.to_string())?;
            progress.store(i + 1, Ordering::Relaxed);
            std::thread::sleep(pace);
        }
        std::thread::sleep(Duration::from_millis(500));
        Ok(publisher)
    })
}

/// Of a stream `0..sent` received as `got`: the numbers never received,
/// the copies beyond the first, and the numbers that came after a larger
/// or equal one.
pub(super) fn count(got: &[usize], sent: usize) -> (usize, usize, usize) {
    let mut seen = vec![0u32; sent];
    for n in got {
        if let Some(c) = seen.get_mut(*n) {
            *c += 1;
        }
    }
    let lost = seen.iter().filter(|c| **c == 0).count();
    let duplicated = seen.iter().map(|c| c.saturating_sub(1) as usize).sum();
    let out_of_order = got.windows(2).filter(|w| w[1] <= w[0]).count();
    (lost, duplicated, out_of_order)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_lost_duplicated_and_out_of_order() {
        assert_eq!(count(&[0, 1, 2, 3], 4), (0, 0, 0));
        assert_eq!(count(&[0, 2, 3], 4), (1, 0, 0));
        assert_eq!(count(&[0, 1, 1, 2, 3], 4), (0, 1, 1));
        assert_eq!(count(&[0, 2, 1, 3], 4), (0, 0, 1));
        assert_eq!(count(&[], 2), (2, 0, 0));
    }
}
