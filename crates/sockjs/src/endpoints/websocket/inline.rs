//! [`Inline`]: the application's handler, polled inside its connection's
//! task while the connection lives.
//!
//! A WebSocket session used to be two tasks: the connection's loop and the
//! handler. Every echoed message then woke three task polls (the loop reads,
//! the handler answers, the loop writes) and two hand-offs through the
//! scheduler. Here both futures share one task, each behind its own waker,
//! and a wake-up that comes while the task is being polled is served in the
//! same poll: one task poll per message, as a server with one task per
//! connection has. The shutdown's cut-off is polled beside them, only when
//! it woke (its deadline came), and ends the connection when it is done.
//!
//! When the connection's loop ends, what is left of the handler goes on in
//! a task of its own (the caller spawns it): a handler outlives its
//! connection as it always did. A panic in the handler ends the handler
//! alone, as it did in its own task: its session halves are dropped, which
//! closes the session (1000), and the connection goes on to its closing
//! handshake.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::wakes::{Wakes, CUT_OFF, HANDLER, MAIN};

/// What a round of the poll takes.
const WOKEN: u8 = MAIN | HANDLER | CUT_OFF;

/// How many rounds one poll runs while wake-ups keep coming, before it
/// yields to the scheduler (a handler that yields in a loop, or an
/// exhausted cooperative budget, would otherwise keep the poll going).
const ROUNDS: usize = 16;

pin_project_lite::pin_project! {
    /// Polls `main` and, beside it, the handler until `main` is done
    /// (`Some` of its output) or `cut_off` is (`None`); the handler is
    /// dropped when it ends (or panics), and what is left of it is taken
    /// back with [`take_handler`](Self::take_handler).
    ///
    /// Laid out in the order it is read (`repr(C)`): the word and the
    /// wakers, the handler, then `main`. Not aligned to a cache line: the
    /// task's cell is, and an aligned future starts a line after the
    /// task's header, leaving the header's task id alone on a line of its
    /// own (one more line read per message at thousands of sessions).
    #[repr(C)]
    pub(crate) struct Inline<M, H, C> {
        wakes: Arc<Wakes>,
        main_waker: Waker,
        handler_waker: Waker,
        cut_off_waker: Waker,
        handler: Option<H>,
        #[pin]
        main: M,
        #[pin]
        cut_off: C,
    }
}

impl<M: Future, H: Future<Output = ()> + Unpin, C: Future<Output = ()>> Inline<M, H, C> {
    /// Every future is polled at the first poll, `cut_off` first, then
    /// `main`. `wakes` must have [`CUT_OFF`], [`MAIN`] and [`HANDLER`]
    /// set; the futures in `main` may take other bits of it (its timers'
    /// gates).
    pub(crate) fn new(wakes: &Arc<Wakes>, main: M, handler: H, cut_off: C) -> Self {
        Inline {
            main,
            handler: Some(handler),
            cut_off,
            main_waker: wakes.waker(MAIN),
            handler_waker: wakes.waker(HANDLER),
            cut_off_waker: wakes.waker(CUT_OFF),
            wakes: wakes.clone(),
        }
    }

    /// The handler, unless it ended.
    pub(crate) fn take_handler(self: Pin<&mut Self>) -> Option<H> {
        self.project().handler.take()
    }
}

impl<M: Future, H: Future<Output = ()> + Unpin, C: Future<Output = ()>> Future for Inline<M, H, C> {
    type Output = Option<M::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let wakes = &**this.wakes;
        wakes.register(cx.waker());
        for _ in 0..ROUNDS {
            // Take the marks, and from now on let wake-ups only mark.
            let woken = wakes.start_round(WOKEN);
            if woken == 0 {
                // Nothing to do. Leave, unless a mark came meanwhile.
                if wakes.try_end(WOKEN) {
                    return Poll::Pending;
                }
                continue;
            }
            if woken & CUT_OFF != 0 {
                let polled = this
                    .cut_off
                    .as_mut()
                    .poll(&mut Context::from_waker(this.cut_off_waker));
                if polled.is_ready() {
                    return Poll::Ready(None);
                }
            }
            if woken & MAIN != 0 {
                let polled = this
                    .main
                    .as_mut()
                    .poll(&mut Context::from_waker(this.main_waker));
                if let Poll::Ready(output) = polled {
                    // No more polls: the wakers may mark what they like.
                    return Poll::Ready(Some(output));
                }
            }
            if woken & HANDLER != 0 {
                if let Some(handler) = this.handler.as_mut() {
                    let mut hcx = Context::from_waker(this.handler_waker);
                    let polled =
                        catch_unwind(AssertUnwindSafe(|| Pin::new(handler).poll(&mut hcx)));
                    // Done, or panicked (the panic hook has reported it):
                    // dropping it drops its session halves.
                    if !matches!(polled, Ok(Poll::Pending)) {
                        *this.handler = None;
                    }
                }
            }
        }
        // Still woken after every round: let other tasks run first. The
        // marks stay for the next poll to look at, and so does POLLING: the
        // task is woken, wake-ups until its next poll need not wake it.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::super::probe::{Probe, Task};
    use super::*;
    use std::sync::atomic::Ordering;

    /// A cut-off that never comes.
    fn never() -> std::future::Pending<()> {
        std::future::pending()
    }

    fn wakes() -> Arc<Wakes> {
        Wakes::new(MAIN | HANDLER | CUT_OFF)
    }

    fn poll_once<F: Future + Unpin>(f: &mut F, task: &Arc<Task>) -> Poll<F::Output> {
        let waker = Waker::from(task.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn each_future_is_polled_only_when_woken_and_a_wake_during_the_poll_is_served_in_it() {
        let main = Probe::default();
        let handler = Probe::default();
        let handler_future = handler.clone();
        let task = Arc::new(Task::default());
        let main_future = main.clone();
        let cut = never();
        let mut inline = Inline::new(&wakes(), main_future, handler_future, cut);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!((main.polls(), handler.polls()), (1, 1));
        // Nothing woke either: a spurious poll polls neither.
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!((main.polls(), handler.polls()), (1, 1));
        // The handler woken from outside: the task is woken, and only the
        // handler is polled.
        handler.wake();
        assert_eq!(task.count(), 1);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!((main.polls(), handler.polls()), (1, 2));
        main.wake();
        assert_eq!(task.count(), 2);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!((main.polls(), handler.polls()), (2, 2));
        assert!(Pin::new(&mut inline).take_handler().is_some());
    }

    /// Wakes the other future at its first poll, like a loop handing a
    /// message to the handler.
    struct WakesOther {
        other: Probe,
        polls: usize,
    }

    impl Future for WakesOther {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            self.polls += 1;
            if self.polls == 2 {
                self.other.wake();
            }
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_up_within_the_poll_does_not_wake_the_task() {
        let handler = Probe::default();
        let handler_future = handler.clone();
        let task = Arc::new(Task::default());
        let main = WakesOther {
            other: handler.clone(),
            polls: 0,
        };
        let cut = never();
        let mut inline = Inline::new(&wakes(), main, handler_future, cut);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!(handler.polls(), 1);
        // Now main is woken from outside, and wakes the handler while it is
        // polled: the handler is polled in the same task poll, and the task
        // is not woken again for it.
        let main_waker = inline.main_waker.clone();
        main_waker.wake();
        assert_eq!(task.count(), 1);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!(handler.polls(), 2);
        assert_eq!(task.count(), 1);
    }

    #[test]
    fn the_handler_is_taken_out_when_done_and_main_ends_the_whole() {
        let main = Probe::default();
        let handler = Probe::default();
        let handler_future = handler.clone();
        let task = Arc::new(Task::default());
        let main_future = main.clone();
        let cut = never();
        let mut inline = Inline::new(&wakes(), main_future, handler_future, cut);
        assert!(poll_once(&mut inline, &task).is_pending());
        handler.ready.store(true, Ordering::SeqCst);
        handler.wake();
        assert!(poll_once(&mut inline, &task).is_pending());
        main.ready.store(true, Ordering::SeqCst);
        main.wake();
        assert!(poll_once(&mut inline, &task).is_ready());
        assert!(Pin::new(&mut inline).take_handler().is_none());
    }

    struct Panics;

    impl Future for Panics {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            panic!("the handler's bug");
        }
    }

    #[test]
    fn a_panicking_handler_is_dropped_and_main_goes_on() {
        let main = Probe::default();
        let handler_future = Panics;
        let task = Arc::new(Task::default());
        let main_future = main.clone();
        let cut = never();
        let mut inline = Inline::new(&wakes(), main_future, handler_future, cut);
        assert!(poll_once(&mut inline, &task).is_pending());
        main.ready.store(true, Ordering::SeqCst);
        main.wake();
        assert!(poll_once(&mut inline, &task).is_ready());
        assert!(Pin::new(&mut inline).take_handler().is_none());
    }

    /// Wakes itself at every poll, like `yield_now` outside a runtime.
    struct Restless(usize);

    impl Future for Restless {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.0 += 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_handler_that_keeps_waking_itself_yields_the_task_after_some_rounds() {
        let main = Probe::default();
        let handler_future = Restless(0);
        let task = Arc::new(Task::default());
        let main_future = main.clone();
        let cut = never();
        let mut inline = Inline::new(&wakes(), main_future, handler_future, cut);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!(
            Pin::new(&mut inline).take_handler().map(|r| r.0),
            Some(ROUNDS)
        );
        assert_eq!(task.count(), 1);
        assert_eq!(main.polls(), 1);
    }

    #[test]
    fn the_cut_off_is_polled_only_when_it_woke_and_ends_the_whole() {
        let main = Probe::default();
        let cut = Probe::default();
        let task = Arc::new(Task::default());
        let main_future = main.clone();
        let cut_future = cut.clone();
        let mut inline = Inline::new(&wakes(), main_future, Probe::default(), cut_future);
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!((cut.polls(), main.polls()), (1, 1));
        // Main woken: the cut-off is not looked at.
        main.wake();
        assert!(poll_once(&mut inline, &task).is_pending());
        assert_eq!((cut.polls(), main.polls()), (1, 2));
        // The deadline: the cut-off wakes the task, and ends it before
        // main is polled again, handing the handler back.
        cut.ready.store(true, Ordering::SeqCst);
        cut.wake();
        assert_eq!(task.count(), 2);
        main.wake();
        assert_eq!(poll_once(&mut inline, &task), Poll::Ready(None));
        assert_eq!(main.polls(), 2);
        assert!(Pin::new(&mut inline).take_handler().is_some());
    }
}
