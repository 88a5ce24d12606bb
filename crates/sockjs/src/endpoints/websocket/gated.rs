//! [`Gated`]: a future polled only once something woke it, for the timers
//! of the session loop.
//!
//! `select!` polls every branch each time the task wakes up, and a
//! WebSocket session's task wakes up twice per echoed message (the client's
//! message, then the application's answer). A tokio timer costs about as
//! much to poll as a third of the echo's own work in the loop (its budget,
//! its state, its waker); behind a gate it is polled when its deadline
//! came, when it was reset, or when the task's waker changed.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Wraps a future so that it is polled only after it woke its task.
pub(crate) struct Gated<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    /// The task's waker last registered in `signal`, to skip registering
    /// the same one at every poll.
    task: Option<Waker>,
}

/// The waker the inner future is given: it opens the gate, then wakes the
/// task that polled the gate last.
struct Signal {
    open: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.open.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> Gated<F> {
    /// Open at first: the first poll registers the inner future's wake-up.
    pub(crate) fn new(inner: F) -> Self {
        Gated {
            inner: Box::pin(inner),
            signal: Arc::new(Signal {
                open: AtomicBool::new(true),
                task: AtomicWaker::new(),
            }),
            task: None,
        }
    }

    /// The inner future, to look at (a timer's deadline).
    pub(crate) fn get(&self) -> &F {
        &self.inner
    }

    /// The inner future, for a change after which it must be polled again
    /// (a timer reset): the gate opens.
    pub(crate) fn inner(&mut self) -> Pin<&mut F> {
        self.signal.open.store(true, Ordering::Release);
        self.inner.as_mut()
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let same = this.task.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if !same {
            // Before looking at the gate: a wake-up from now on finds it.
            this.signal.task.register(cx.waker());
            this.task = Some(cx.waker().clone());
        }
        if !this.signal.open.swap(false, Ordering::AcqRel) {
            // Closed: nothing woke the inner future since the task's waker
            // was registered, so it is still there.
            return Poll::Pending;
        }
        if same {
            // Open: a wake-up may have taken the registered waker
            // (`AtomicWaker::wake` takes it). Before the inner future is
            // polled, so a wake-up of that poll finds it.
            this.signal.task.register(cx.waker());
        }
        let waker = Waker::from(this.signal.clone());
        let polled = this.inner.as_mut().poll(&mut Context::from_waker(&waker));
        if polled.is_ready() {
            // Done, and no wake-up left behind: the next poll must look.
            this.signal.open.store(true, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::super::probe::{Probe, Wakes};
    use super::*;
    use std::time::Duration;

    #[test]
    fn polls_the_inner_future_only_after_it_woke_or_was_touched() {
        let probe = Probe::default();
        let mut gated = Gated::new(probe.clone());
        let task = Arc::new(Wakes::default());
        let task_waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&task_waker);
        let mut poll = |g: &mut Gated<Probe>| Pin::new(g).poll(&mut cx);

        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 1, "the first poll looks");
        assert!(poll(&mut gated).is_pending());
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 1, "not woken: not polled");

        // Its wake-up wakes the task and opens the gate once.
        probe.wake();
        assert_eq!(task.count(), 1);
        assert!(poll(&mut gated).is_pending());
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 2);
        // The wake-up took the task's waker; the poll that found the gate
        // open registered it again, so the next wake-up wakes the task too.
        probe.wake();
        assert_eq!(task.count(), 2);
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 3);

        // Touched (a reset): polled again.
        let _touched = gated.inner();
        assert!(poll(&mut gated).is_pending());
        assert_eq!(probe.polls(), 4);

        // Ready: the next poll looks again, with no wake-up needed.
        probe.ready.store(true, Ordering::SeqCst);
        probe.wake();
        assert!(poll(&mut gated).is_ready());
        assert!(poll(&mut gated).is_ready());
        assert_eq!(probe.polls(), 6);
    }

    #[test]
    fn a_wake_up_goes_to_the_task_that_polled_last() {
        let probe = Probe::default();
        let mut gated = Gated::new(probe.clone());
        let (first, second) = (Arc::new(Wakes::default()), Arc::new(Wakes::default()));
        for task in [&first, &second] {
            let task_waker = Waker::from(task.clone());
            assert!(Pin::new(&mut gated)
                .poll(&mut Context::from_waker(&task_waker))
                .is_pending());
        }
        probe.wake();
        assert_eq!(first.count(), 0);
        assert_eq!(second.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_gated_timer_fires_and_fires_again_after_a_reset() {
        let start = tokio::time::Instant::now();
        let mut timer = Gated::new(tokio::time::sleep(Duration::from_secs(5)));
        // On the paused clock a timer that never wakes its task would hang
        // the test; the deadline (virtual time) makes it a failure.
        let deadline = Duration::from_secs(60);
        tokio::time::timeout(deadline, &mut timer)
            .await
            .expect("fired");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        timer
            .inner()
            .reset(tokio::time::Instant::now() + Duration::from_secs(3));
        tokio::time::timeout(deadline, &mut timer)
            .await
            .expect("fired again");
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }
}
