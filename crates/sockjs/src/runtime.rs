//! [`runtime`]: a tokio runtime that stays fair to every session when
//! thousands of them are busy at once.

/// How often (in scheduler ticks) a worker takes a task from the shared
/// queue before its own. See [`runtime`].
pub const FAIR_GLOBAL_QUEUE_INTERVAL: u32 = 2;

/// A multi-threaded tokio runtime builder (I/O and time enabled) that
/// serves every session in turn, however many are busy; build it and run
/// the server on it.
///
/// tokio's default scheduler favours the tasks in a worker's own queue,
/// which holds 256. When more sessions than that are ready at once, the
/// surplus moves to the shared queue, which a worker serves one task per
/// tuning interval (up to 127 of its own tasks in between) while the
/// sessions in its own queue keep coming round. With 5,000 WebSocket
/// sessions echoing on one worker, the default served a few hundred of
/// them in about 2 ms and left the others waiting half a second (p99
/// 520 ms against a median of 1.8 ms). This builder sets tokio's
/// `global_queue_interval` to [`FAIR_GLOBAL_QUEUE_INTERVAL`]: the shared
/// queue is served every other tick, and every session is served alike:
/// at 5,000 sessions p50 88 ms, p99 155 ms, p99.9 157 ms (the default in
/// the same run: 59 / 605 / 681 ms). The price is the locality the unfair
/// order had: more CPU per message at a few hundred busy sessions
/// (BENCHMARKS.md, "Fair under many sessions", has the figures).
///
/// `#[tokio::main]` cannot set this; build the runtime instead:
///
/// ```no_run
/// fn main() -> std::io::Result<()> {
///     sockjs::runtime().build()?.block_on(async {
///         // let listener = tokio::net::TcpListener::bind(..).await?;
///         // sockjs::serve(listener, app).await
///         Ok(())
///     })
/// }
/// ```
///
/// Further settings go on the returned builder, the interval included:
/// each step up buys CPU with tail (at 10,000 echoing sessions, 3 and 4
/// cost 4% and 6% less CPU per message than 2, with p99 1.4 and 1.9 times
/// as long; BENCHMARKS.md, "The interval, measured"):
///
/// ```
/// let runtime = sockjs::runtime()
///     .worker_threads(2)
///     .global_queue_interval(4)
///     .build()
///     .unwrap();
/// runtime.block_on(async { /* the server */ });
/// ```
#[must_use]
pub fn runtime() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .enable_all()
        .global_queue_interval(FAIR_GLOBAL_QUEUE_INTERVAL);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_multi_threaded_runtime_with_io_and_time() {
        let runtime = runtime().worker_threads(1).build().unwrap();
        assert_eq!(
            runtime.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
        runtime.block_on(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            assert!(listener.local_addr().is_ok());
        });
    }
}
