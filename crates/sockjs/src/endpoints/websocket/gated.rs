//! [`Gated`]: a future polled only once something woke it, for the timers
//! of the session loop.
//!
//! The session loop looks at its timers whenever it has nothing else to
//! do, twice per echoed message. A tokio timer costs about as much to poll
//! as a third of the echo's own work in the loop (its budget, its state,
//! its waker); behind a gate it is polled when its deadline came or when it
//! was reset. The gate is a bit of the task's [`Wakes`]: looking at a
//! closed gate reads the word the task's poll has just read.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::wakes::{Wakes, MAIN};

/// Wraps a future so that it is polled only after it woke its task.
pub(crate) struct Gated<F> {
    inner: Pin<Box<F>>,
    wakes: Arc<Wakes>,
    /// This gate's bit in `wakes`: set, the gate is open.
    bit: u8,
    /// The inner future's waker: it opens the gate and wakes the session
    /// loop.
    waker: Waker,
}

impl<F: Future> Gated<F> {
    /// Open at first: the first poll registers the inner future's wake-up.
    /// `bit` is the gate's own bit of `wakes`; the task polling the gate
    /// must be polled when [`MAIN`] is set.
    pub(crate) fn new(inner: F, wakes: &Arc<Wakes>, bit: u8) -> Self {
        wakes.set(bit);
        Gated {
            inner: Box::pin(inner),
            waker: wakes.waker(bit | MAIN),
            wakes: wakes.clone(),
            bit,
        }
    }

    /// The inner future, to look at (a timer's deadline).
    pub(crate) fn get(&self) -> &F {
        &self.inner
    }

    /// The inner future, for a change after which it must be polled again
    /// (a timer reset): the gate opens.
    pub(crate) fn inner(&mut self) -> Pin<&mut F> {
        self.wakes.set(self.bit);
        self.inner.as_mut()
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Closed: nothing woke the inner future since its last poll, so its
        // wake-up is still registered.
        if !this.wakes.is_set(this.bit) {
            return Poll::Pending;
        }
        // Only this gate clears its bit: it is still set.
        this.wakes.clear(this.bit);
        let polled = this
            .inner
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker));
        if polled.is_ready() {
            // Done, and no wake-up left behind: the next poll must look.
            this.wakes.set(this.bit);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::super::probe::{Probe, Task};
    use super::super::wakes::{HEARTBEAT, KEEPALIVE};
    use super::*;
    use std::time::Duration;

    #[test]
    fn polls_the_inner_future_only_after_it_woke_or_was_touched() {
        let probe = Probe::default();
        let wakes = Wakes::new(0);
        let mut gated = Gated::new(probe.clone(), &wakes, HEARTBEAT);
        let task = Arc::new(Task::default());
        let task_waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&task_waker);
        // As the task's poll does, every time.
        let mut poll = |g: &mut Gated<Probe>| {
            wakes.register(&task_waker);
            Pin::new(g).poll(&mut cx)
        };

        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 1, "the first poll looks");
        assert!(poll(&mut gated).is_pending());
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 1, "not woken: not polled");

        // Its wake-up wakes the task, marks the session loop as woken and
        // opens the gate once.
        assert!(!wakes.is_set(MAIN));
        probe.wake();
        assert_eq!(task.count(), 1);
        assert!(wakes.is_set(MAIN));
        assert!(poll(&mut gated).is_pending());
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 2);
        probe.wake();
        assert_eq!(task.count(), 2);
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 3);

        // Touched (a reset): polled again.
        let _touched = gated.inner();
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 4);

        // Ready: the next poll looks again, with no wake-up needed.
        probe.ready.store(true, std::sync::atomic::Ordering::SeqCst);
        probe.wake();
        assert!(poll(&mut gated).is_ready());
        assert!(poll(&mut gated).is_ready());
        assert_eq!(probe.polls(), 6);
    }

    #[test]
    fn gates_of_one_task_open_alone() {
        let (first, second) = (Probe::default(), Probe::default());
        let wakes = Wakes::new(0);
        let mut a = Gated::new(first.clone(), &wakes, HEARTBEAT);
        let mut b = Gated::new(second.clone(), &wakes, KEEPALIVE);
        let task_waker = Waker::from(Arc::new(Task::default()));
        let mut cx = Context::from_waker(&task_waker);
        assert!(Pin::new(&mut a).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut b).poll(&mut cx).is_pending());
        second.wake();
        assert!(Pin::new(&mut a).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut b).poll(&mut cx).is_pending());
        assert_eq!((first.polls(), second.polls()), (1, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_gated_timer_fires_and_fires_again_after_a_reset() {
        let start = tokio::time::Instant::now();
        let wakes = Wakes::new(0);
        let mut timer = Gated::new(
            tokio::time::sleep(Duration::from_secs(5)),
            &wakes,
            HEARTBEAT,
        );
        // As the task's poll does: the task's waker registered each time.
        // On the paused clock a timer that never wakes its task would hang
        // the test; the deadline (virtual time) makes it a failure.
        async fn fired(wakes: &Arc<Wakes>, timer: &mut Gated<tokio::time::Sleep>) {
            let polled = std::future::poll_fn(|cx| {
                wakes.register(cx.waker());
                Pin::new(&mut *timer).poll(cx)
            });
            tokio::time::timeout(Duration::from_secs(60), polled)
                .await
                .expect("fired");
        }
        fired(&wakes, &mut timer).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        timer
            .inner()
            .reset(tokio::time::Instant::now() + Duration::from_secs(3));
        fired(&wakes, &mut timer).await;
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }
}
