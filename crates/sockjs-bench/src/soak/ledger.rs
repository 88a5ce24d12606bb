//! Loss accounting for one session: every message sent gets the next
//! sequence number, and every message received must be the next one
//! expected, byte for byte.
//!
//! The rules (see the crate README):
//!
//! - [`Rule::All`]: what was received is exactly what was sent, in order.
//!   Sessions the client ends normally, every shutdown client, every storm
//!   client.
//! - [`Rule::Prefix`]: what was received is an in-order prefix of what was
//!   sent: no gap, no duplicate, but the tail may be missing. Only where
//!   the protocol lets messages go: a receiving connection the client
//!   aborted (the frames in flight in its response are gone with it), and
//!   a websocket the server closed because the client broke the framing
//!   (echoes not yet queued when the session started closing are never
//!   queued).
//! - After an aborted HTTP receiver, a follow-up receiving request may get
//!   what was still queued in the session: [`Ledger::allow_gap`] then lets
//!   the sequence jump forward exactly once (over the frames lost with the
//!   aborted response), after which it must again be contiguous.

use std::fmt;

use super::payload;

/// What the end of a session requires of what was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Everything sent was received.
    All,
    /// An in-order prefix (with at most the one allowed gap) was received.
    Prefix,
}

/// A broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// Not a message of the soak at all.
    Corrupt(String),
    /// A message of another session.
    Foreign { session: u64, seq: u64 },
    /// A sequence number that was never sent.
    Unsent { seq: u64, sent: u64 },
    /// A message that came again, or later than a newer one.
    Duplicate { seq: u64, expected: u64 },
    /// A newer message while an older one is still missing.
    Gap { seq: u64, expected: u64 },
    /// The right number, the wrong bytes.
    Altered { seq: u64, got: String },
    /// Messages missing where all had to arrive.
    Missing { received: u64, sent: u64 },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Corrupt(m) => write!(f, "unrecognised message {m}"),
            Violation::Foreign { session, seq } => {
                write!(f, "got message {seq} of another session ({session})")
            }
            Violation::Unsent { seq, sent } => {
                write!(f, "got message {seq}, but only {sent} were sent")
            }
            Violation::Duplicate { seq, expected } => write!(
                f,
                "duplicated or reordered: got message {seq} again while expecting {expected}"
            ),
            Violation::Gap { seq, expected } => write!(
                f,
                "lost or reordered: got message {seq} while expecting {expected}"
            ),
            Violation::Altered { seq, got } => write!(f, "message {seq} altered: got {got}"),
            Violation::Missing { received, sent } => {
                write!(f, "lost messages: {received} of {sent} arrived")
            }
        }
    }
}

/// One session's accounts.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    session: u64,
    /// Messages sent: sequence numbers `0..sent`.
    sent: u64,
    /// The next sequence number expected.
    next: u64,
    /// Messages received.
    received: u64,
    gap_allowed: bool,
    /// The range skipped by the one allowed gap.
    gap: Option<(u64, u64)>,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
}

impl Ledger {
    pub(crate) fn new(session: u64) -> Self {
        Ledger {
            session,
            sent: 0,
            next: 0,
            received: 0,
            gap_allowed: false,
            gap: None,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// The next message to send, counted as sent.
    pub(crate) fn next_message(&mut self) -> String {
        let m = payload::message(self.session, self.sent);
        self.sent += 1;
        self.bytes_sent += m.len() as u64;
        m
    }

    /// `n` next messages.
    pub(crate) fn next_messages(&mut self, n: u64) -> Vec<String> {
        (0..n).map(|_| self.next_message()).collect()
    }

    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// The next sequence number expected (all before it are accounted for).
    pub(crate) fn next_expected(&self) -> u64 {
        self.next
    }

    /// Lets the sequence jump forward once, from now on (see the module).
    pub(crate) fn allow_gap(&mut self) {
        self.gap_allowed = true;
    }

    /// Accounts for one received message.
    pub(crate) fn receive(&mut self, message: &str) -> Result<(), Violation> {
        let Some((session, seq)) = payload::head(message) else {
            return Err(Violation::Corrupt(crate::frame::clip(message)));
        };
        if session != self.session {
            return Err(Violation::Foreign { session, seq });
        }
        if seq >= self.sent {
            return Err(Violation::Unsent {
                seq,
                sent: self.sent,
            });
        }
        if seq < self.next {
            return Err(Violation::Duplicate {
                seq,
                expected: self.next,
            });
        }
        if seq > self.next {
            if !self.gap_allowed || self.gap.is_some() {
                return Err(Violation::Gap {
                    seq,
                    expected: self.next,
                });
            }
            self.gap = Some((self.next, seq));
        }
        if message != payload::message(self.session, seq) {
            return Err(Violation::Altered {
                seq,
                got: crate::frame::clip(message),
            });
        }
        self.next = seq + 1;
        self.received += 1;
        self.bytes_received += message.len() as u64;
        Ok(())
    }

    /// Checks the end of the session against `rule`; returns how many
    /// messages were lost (allowed by the rule).
    pub(crate) fn finish(&self, rule: Rule) -> Result<u64, Violation> {
        let lost = self.sent - self.received;
        match rule {
            Rule::All if lost > 0 => Err(Violation::Missing {
                received: self.received,
                sent: self.sent,
            }),
            _ => Ok(lost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(n: u64) -> (Ledger, Vec<String>) {
        let mut l = Ledger::new(9);
        let m = l.next_messages(n);
        (l, m)
    }

    #[test]
    fn all_in_order_is_complete() {
        let (mut l, m) = sent(5);
        for x in &m {
            l.receive(x).unwrap();
        }
        assert_eq!(l.next_expected(), l.sent());
        assert_eq!(l.finish(Rule::All), Ok(0));
        assert_eq!(l.bytes_sent, l.bytes_received);
    }

    #[test]
    fn duplicates_gaps_and_reorders_fail() {
        let (mut l, m) = sent(4);
        l.receive(&m[0]).unwrap();
        assert_eq!(
            l.receive(&m[0]),
            Err(Violation::Duplicate {
                seq: 0,
                expected: 1
            })
        );
        assert_eq!(
            l.receive(&m[2]),
            Err(Violation::Gap {
                seq: 2,
                expected: 1
            })
        );
        // Reordered: 2 before 1 is a gap; 1 after 2 would be a duplicate.
        let (mut l, m) = sent(3);
        l.allow_gap();
        l.receive(&m[1]).unwrap();
        assert!(matches!(l.receive(&m[0]), Err(Violation::Duplicate { .. })));
    }

    #[test]
    fn foreign_unsent_altered_and_corrupt_fail() {
        let (mut l, _) = sent(2);
        let other = payload::message(10, 0);
        assert_eq!(
            l.receive(&other),
            Err(Violation::Foreign {
                session: 10,
                seq: 0
            })
        );
        assert_eq!(
            l.receive(&payload::message(9, 2)),
            Err(Violation::Unsent { seq: 2, sent: 2 })
        );
        assert!(matches!(
            l.receive("9:0:not what was sent"),
            Err(Violation::Altered { seq: 0, .. })
        ));
        assert!(matches!(l.receive("hello"), Err(Violation::Corrupt(_))));
    }

    #[test]
    fn prefix_allows_a_missing_tail_only() {
        let (mut l, m) = sent(6);
        l.receive(&m[0]).unwrap();
        l.receive(&m[1]).unwrap();
        assert_eq!(
            l.finish(Rule::All),
            Err(Violation::Missing {
                received: 2,
                sent: 6
            })
        );
        assert_eq!(l.finish(Rule::Prefix), Ok(4));
    }

    #[test]
    fn one_gap_after_an_abort_then_contiguous() {
        let (mut l, m) = sent(8);
        l.receive(&m[0]).unwrap();
        l.allow_gap();
        l.receive(&m[3]).unwrap();
        l.receive(&m[4]).unwrap();
        assert_eq!(
            l.receive(&m[6]),
            Err(Violation::Gap {
                seq: 6,
                expected: 5
            })
        );
        assert_eq!(l.finish(Rule::Prefix), Ok(5));
    }
}
