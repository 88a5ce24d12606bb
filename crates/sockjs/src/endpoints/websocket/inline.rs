//! [`Inline`]: the application's handler, polled inside its connection's
//! task while the connection lives.
//!
//! A WebSocket session used to be two tasks: the connection's loop and the
//! handler. Every echoed message then woke three task polls (the loop reads,
//! the handler answers, the loop writes) and two hand-offs through the
//! scheduler. Here both futures share one task, each behind its own waker,
//! and a wake-up that comes while the task is being polled is served in the
//! same poll: one task poll per message, as a server with one task per
//! connection has.
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
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The task is being polled: a wake-up only marks its future.
const POLLING: u8 = 1;
/// The connection's loop was woken.
const MAIN: u8 = 2;
/// The handler was woken.
const HANDLER: u8 = 4;
/// Either was woken.
const WOKEN: u8 = MAIN | HANDLER;

/// How many rounds one poll runs while wake-ups keep coming, before it
/// yields to the scheduler (a handler that yields in a loop, or an
/// exhausted cooperative budget, would otherwise keep the poll going).
const ROUNDS: usize = 16;

/// What the wakers of both futures share: which of them were woken, and
/// the task's own waker.
struct Shared {
    state: AtomicU8,
    task: AtomicWaker,
}

/// The waker of one of the two futures.
struct Part {
    shared: Arc<Shared>,
    bit: u8,
}

impl Wake for Part {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let before = self.shared.state.fetch_or(self.bit, Ordering::AcqRel);
        if before & POLLING == 0 {
            self.shared.task.wake();
        }
    }
}

/// Polls `main` and, beside it, the handler in `handler` until `main` is
/// done; the handler is taken out of `handler` when it ends (or panics).
pub(crate) struct Inline<'h, M, H> {
    main: Pin<&'h mut M>,
    handler: &'h mut Option<H>,
    shared: Arc<Shared>,
    main_waker: Waker,
    handler_waker: Waker,
}

impl<'h, M: Future, H: Future<Output = ()> + Unpin> Inline<'h, M, H> {
    /// Both futures are polled at the first poll, `main` first.
    pub(crate) fn new(main: Pin<&'h mut M>, handler: &'h mut Option<H>) -> Self {
        let shared = Arc::new(Shared {
            state: AtomicU8::new(WOKEN),
            task: AtomicWaker::new(),
        });
        let waker = |bit| {
            Waker::from(Arc::new(Part {
                shared: shared.clone(),
                bit,
            }))
        };
        Inline {
            main,
            handler,
            main_waker: waker(MAIN),
            handler_waker: waker(HANDLER),
            shared,
        }
    }
}

impl<M: Future, H: Future<Output = ()> + Unpin> Future for Inline<'_, M, H> {
    type Output = M::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<M::Output> {
        let this = self.get_mut();
        this.shared.task.register(cx.waker());
        let state = &this.shared.state;
        for _ in 0..ROUNDS {
            // Take the marks, and from now on let wake-ups only mark.
            let woken = state.swap(POLLING, Ordering::AcqRel);
            if woken & WOKEN == 0 {
                // Nothing to do. Leave, unless a mark came meanwhile.
                match state.compare_exchange(POLLING, 0, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Poll::Pending,
                    Err(_) => continue,
                }
            }
            if woken & MAIN != 0 {
                let polled = this
                    .main
                    .as_mut()
                    .poll(&mut Context::from_waker(&this.main_waker));
                if polled.is_ready() {
                    // No more polls: the wakers may mark what they like.
                    return polled;
                }
            }
            if woken & HANDLER != 0 {
                if let Some(handler) = this.handler.as_mut() {
                    let mut hcx = Context::from_waker(&this.handler_waker);
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
    use super::super::probe::{Probe, Wakes};
    use super::*;

    fn poll_once<F: Future + Unpin>(f: &mut F, task: &Arc<Wakes>) -> Poll<F::Output> {
        let waker = Waker::from(task.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn each_future_is_polled_only_when_woken_and_a_wake_during_the_poll_is_served_in_it() {
        let main = Probe::default();
        let handler = Probe::default();
        let mut slot = Some(handler.clone());
        let task = Arc::new(Wakes::default());
        let mut main_future = main.clone();
        let mut inline = Inline::new(Pin::new(&mut main_future), &mut slot);
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
        drop(inline);
        assert!(slot.is_some());
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
        let mut slot = Some(handler.clone());
        let task = Arc::new(Wakes::default());
        let main = WakesOther {
            other: handler.clone(),
            polls: 0,
        };
        let mut main = main;
        let mut inline = Inline::new(Pin::new(&mut main), &mut slot);
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
        let mut slot = Some(handler.clone());
        let task = Arc::new(Wakes::default());
        let mut main_future = main.clone();
        let mut inline = Inline::new(Pin::new(&mut main_future), &mut slot);
        assert!(poll_once(&mut inline, &task).is_pending());
        handler.ready.store(true, Ordering::SeqCst);
        handler.wake();
        assert!(poll_once(&mut inline, &task).is_pending());
        main.ready.store(true, Ordering::SeqCst);
        main.wake();
        assert!(poll_once(&mut inline, &task).is_ready());
        drop(inline);
        assert!(slot.is_none());
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
        let mut slot = Some(Panics);
        let task = Arc::new(Wakes::default());
        let mut main_future = main.clone();
        let mut inline = Inline::new(Pin::new(&mut main_future), &mut slot);
        assert!(poll_once(&mut inline, &task).is_pending());
        main.ready.store(true, Ordering::SeqCst);
        main.wake();
        assert!(poll_once(&mut inline, &task).is_ready());
        drop(inline);
        assert!(slot.is_none());
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
        let mut slot = Some(Restless(0));
        let task = Arc::new(Wakes::default());
        let mut main_future = main.clone();
        let mut inline = Inline::new(Pin::new(&mut main_future), &mut slot);
        assert!(poll_once(&mut inline, &task).is_pending());
        drop(inline);
        assert_eq!(slot.as_ref().map(|r| r.0), Some(ROUNDS));
        assert_eq!(task.count(), 1);
        assert_eq!(main.polls(), 1);
    }
}
