//! [`Queue`]: a session's queue of messages, one way, which holds its
//! first message in place.
//!
//! Most of the time a session's queue holds one message or none: the
//! client's message until the application takes it, the application's
//! answer until the connection sends it. A `VecDeque` keeps even that one
//! in a buffer of its own, and at thousands of sessions (where a session's
//! state is out of the cache when its turn comes) each message then costs
//! a cache line in each queue's buffer beside the session's own. Here the
//! first message is held in the queue itself, in the session's lines; the
//! others, when there are any, in a buffer allocated for as long as they
//! last.

use std::collections::VecDeque;

/// A FIFO queue: `first` is the front, `rest` what follows it.
///
/// Invariant: `rest` is `None` or non-empty, and `first` is `Some`
/// whenever `rest` is.
pub(crate) struct Queue<T> {
    first: Option<T>,
    // Boxed on purpose: a pointer here (8 bytes, null while unused)
    // rather than a `VecDeque`'s 32, which would push the session's other
    // per-message fields onto one more line.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<T>>>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            first: None,
            rest: None,
        }
    }
}

impl<T> Queue<T> {
    /// Whether it holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// How many it holds.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.as_ref().map_or(0, |rest| rest.len())
    }

    /// Adds `item` at the back.
    pub(crate) fn push_back(&mut self, item: T) {
        if self.first.is_none() {
            self.first = Some(item);
        } else {
            self.rest.get_or_insert_with(Box::default).push_back(item);
        }
    }

    /// Takes the front.
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let front = self.first.take()?;
        if let Some(rest) = self.rest.as_mut() {
            self.first = rest.pop_front();
            if rest.is_empty() {
                self.rest = None;
            }
        }
        Some(front)
    }

    /// Everything, front first.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            first: self.first.as_ref(),
            rest: self.rest.as_ref().map(|rest| rest.iter()),
        }
    }

    /// Whether it holds a buffer for messages beyond the first.
    #[cfg(test)]
    pub(crate) fn has_buffer(&self) -> bool {
        self.rest.is_some()
    }

    /// Takes everything, front first.
    pub(crate) fn drain(&mut self) -> Drain<T> {
        Drain {
            first: self.first.take(),
            rest: self.rest.take().map(|rest| rest.into_iter()),
        }
    }
}

/// [`Queue::iter`]'s iterator (a chain of two, written out: most queues
/// hold one message, and `Iterator::chain` costs more than that one).
pub(crate) struct Iter<'a, T> {
    first: Option<&'a T>,
    rest: Option<std::collections::vec_deque::Iter<'a, T>>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.first.take().or_else(|| self.rest.as_mut()?.next())
    }
}

/// [`Queue::drain`]'s iterator.
pub(crate) struct Drain<T> {
    first: Option<T>,
    rest: Option<std::collections::vec_deque::IntoIter<T>>,
}

impl<T> Iterator for Drain<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.first.take().or_else(|| self.rest.as_mut()?.next())
    }
}

impl<T> Extend<T> for Queue<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.push_back(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a `VecDeque` doing the same: every operation, in every
    /// order a small program of them reaches.
    #[test]
    fn behaves_as_a_vecdeque() {
        // Programs over the alphabet push, pop, drain, extend by two.
        for program in 0..4u32.pow(7) {
            let mut queue = Queue::default();
            let mut model = VecDeque::new();
            let mut next = 0;
            let mut op = program;
            for _ in 0..7 {
                match op % 4 {
                    0 => {
                        queue.push_back(next);
                        model.push_back(next);
                        next += 1;
                    }
                    1 => assert_eq!(queue.pop_front(), model.pop_front()),
                    2 => assert!(queue.drain().eq(model.drain(..))),
                    _ => {
                        queue.extend([next, next + 1]);
                        model.extend([next, next + 1]);
                        next += 2;
                    }
                }
                op /= 4;
                assert_eq!(queue.len(), model.len());
                assert_eq!(queue.is_empty(), model.is_empty());
                assert!(!queue.rest.as_ref().is_some_and(|r| r.is_empty()));
                assert!(queue.first.is_some() || queue.rest.is_none());
            }
        }
    }

    /// One message at a time, as most sessions go: nothing is allocated.
    #[test]
    fn one_at_a_time_allocates_nothing() {
        let mut queue = Queue::default();
        for i in 0..3 {
            queue.push_back(i);
            assert!(queue.rest.is_none());
            assert_eq!(queue.pop_front(), Some(i));
        }
        queue.extend([1, 2]);
        assert!(queue.rest.is_some());
        assert_eq!(queue.pop_front(), Some(1));
        assert!(queue.rest.is_none(), "the buffer is given back");
    }
}
