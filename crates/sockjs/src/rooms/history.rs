//! Room history: what a room keeps of the messages sent to it, each at a
//! [`Position`], so that a session that comes back can take up where it
//! left off ([`Sender::join_since`](crate::Sender::join_since)).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::member::SharedText;

/// How much each room keeps of what was sent to it: off by default; turn
/// it on with [`Rooms::history`](crate::Rooms::history). The
/// oldest messages go first when any bound is reached.
///
/// ```
/// use std::time::Duration;
/// use sockjs::rooms::History;
///
/// // The last 1,000 messages of each room, at most 1 MiB, none older than
/// // two minutes.
/// let history = History::messages(1000)
///     .bytes(1 << 20)
///     .max_age(Duration::from_secs(120));
/// # let _ = history;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    messages: usize,
    bytes: usize,
    max_age: Duration,
}

impl History {
    /// At most `messages` messages per room (and by default at most 1 MiB
    /// of them, none older than five minutes).
    ///
    /// ```
    /// let history = sockjs::rooms::History::messages(100);
    /// # let _ = history;
    /// ```
    #[must_use]
    pub fn messages(messages: usize) -> Self {
        History {
            messages,
            bytes: 1 << 20,
            max_age: Duration::from_secs(300),
        }
    }

    /// At most `bytes` bytes of messages per room. Default: 1 MiB.
    ///
    /// ```
    /// let history = sockjs::rooms::History::messages(10_000).bytes(4 << 20);
    /// # let _ = history;
    /// ```
    #[must_use]
    pub fn bytes(mut self, bytes: usize) -> Self {
        self.bytes = bytes;
        self
    }

    /// No message older than `age` is kept. Default: five minutes.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let history = sockjs::rooms::History::messages(100).max_age(Duration::from_secs(30));
    /// # let _ = history;
    /// ```
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// The most messages kept per room.
    ///
    /// ```
    /// assert_eq!(sockjs::rooms::History::messages(100).message_limit(), 100);
    /// ```
    pub fn message_limit(&self) -> usize {
        self.messages
    }

    /// The most bytes of messages kept per room.
    ///
    /// ```
    /// assert_eq!(sockjs::rooms::History::messages(100).byte_limit(), 1 << 20);
    /// ```
    pub fn byte_limit(&self) -> usize {
        self.bytes
    }

    /// The age past which a message is no longer kept.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert_eq!(sockjs::rooms::History::messages(100).age_limit(), Duration::from_secs(300));
    /// ```
    pub fn age_limit(&self) -> Duration {
        self.max_age
    }
}

/// Where a message stands in its room's history: the history's epoch and
/// the message's offset in it. Offsets count from 1 within an epoch; the
/// epoch changes when history is lost (a new process). Written
/// `<epoch>-<offset>` (hexadecimal epoch), which is what a client keeps
/// and sends back to resume.
///
/// ```
/// use sockjs::rooms::Position;
///
/// let position: Position = "5f3a9c-17".parse().unwrap();
/// assert_eq!(position.offset(), 17);
/// assert_eq!(position.to_string(), "5f3a9c-17");
/// assert!("17".parse::<Position>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    epoch: u64,
    offset: u64,
}

impl Position {
    /// The position before the first message of `epoch`: resuming from it
    /// replays the whole history.
    pub(crate) fn start(epoch: u64) -> Self {
        Position { epoch, offset: 0 }
    }

    /// The position `offset` of `epoch`: what a
    /// [`SharedHistory`](crate::rooms::SharedHistory) gives a message.
    ///
    /// ```
    /// use sockjs::rooms::Position;
    ///
    /// assert_eq!(Position::new(0x5f3a9c, 17).to_string(), "5f3a9c-17");
    /// ```
    pub fn new(epoch: u64, offset: u64) -> Self {
        Position { epoch, offset }
    }

    /// The epoch of the history the position is in.
    ///
    /// ```
    /// let position: sockjs::rooms::Position = "a-3".parse().unwrap();
    /// assert_eq!(position.epoch(), 10);
    /// ```
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The offset of the message within its epoch (from 1).
    ///
    /// ```
    /// let position: sockjs::rooms::Position = "a-3".parse().unwrap();
    /// assert_eq!(position.offset(), 3);
    /// ```
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.offset)
    }
}

/// A string that is not `<hex epoch>-<offset>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadPosition;

impl fmt::Display for BadPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a room position (<hex epoch>-<offset>)")
    }
}

impl std::error::Error for BadPosition {}

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Self, BadPosition> {
        let (epoch, offset) = s.split_once('-').ok_or(BadPosition)?;
        // Digits only (the integer parsers below would take a sign); too
        // many of them overflow there.
        let digits = |t: &str, hex: bool| {
            !t.is_empty()
                && t.bytes().all(|b| {
                    if hex {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
        };
        if !digits(epoch, true) || !digits(offset, false) {
            return Err(BadPosition);
        }
        Ok(Position {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| BadPosition)?,
            offset: offset.parse().map_err(|_| BadPosition)?,
        })
    }
}

/// A resume could not be served from history: the position is from
/// another epoch (history lost since) or older than what is kept. The
/// session joined the room anyway and gets what is sent from now on;
/// `now` is the room's latest position. The application reloads its
/// state.
///
/// ```
/// async fn resume(tx: &sockjs::Sender, last: sockjs::rooms::Position) {
///     if let Err(lost) = tx.join_since("game-7", last).await {
///         let _ = tx.send(format!("reload; now at {}", lost.now)).await;
///     }
/// }
/// # let _ = resume;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lost {
    /// The room's latest position.
    pub now: Position,
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "room history lost; it is now at {}", self.now)
    }
}

impl std::error::Error for Lost {}

/// One room's kept messages, by offset.
pub(crate) struct Log {
    epoch: u64,
    /// The offset the next message gets.
    next: u64,
    kept: VecDeque<Kept>,
    bytes: usize,
}

struct Kept {
    offset: u64,
    at: Instant,
    text: Arc<SharedText>,
}

impl Log {
    pub(crate) fn new(epoch: u64) -> Self {
        Log {
            epoch,
            next: 1,
            kept: VecDeque::new(),
            bytes: 0,
        }
    }

    /// The latest position (the start of the epoch before any message).
    pub(crate) fn now(&self) -> Position {
        Position {
            epoch: self.epoch,
            offset: self.next - 1,
        }
    }

    /// Keeps the message `text` (as `wrap` words it for its position) and
    /// returns it as the members get it.
    pub(crate) fn append(
        &mut self,
        limits: &History,
        wrap: impl FnOnce(Position) -> String,
    ) -> Arc<SharedText> {
        let position = Position {
            epoch: self.epoch,
            offset: self.next,
        };
        self.next += 1;
        let text = wrap(position);
        self.bytes += text.len();
        // Two copies, not one shared: the members' copy gets its JSON
        // encoding when the first of them frames it and is freed once all
        // have sent it; the kept one holds the text alone (its encoding is
        // made only if a resume replays it). Shared, every kept message
        // would hold both for as long as it is kept: about twice the
        // memory (BENCHMARKS.md, "Room history").
        let live = SharedText::new(text.clone());
        self.kept.push_back(Kept {
            offset: position.offset,
            at: Instant::now(),
            text: SharedText::new(text),
        });
        self.trim(limits);
        live
    }

    /// Drops what is past the bounds, oldest first.
    pub(crate) fn trim(&mut self, limits: &History) {
        let now = Instant::now();
        while let Some(oldest) = self.kept.front() {
            let over = self.kept.len() > limits.messages
                || self.bytes > limits.bytes
                || now.duration_since(oldest.at) > limits.max_age;
            if !over {
                break;
            }
            self.bytes -= oldest.text.text().len();
            self.kept.pop_front();
        }
    }

    /// Whether nothing is kept (the room may be forgotten once empty).
    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Every kept message after `since`, or `Lost` when some message after
    /// it is no longer kept or `since` is not of this history.
    pub(crate) fn since(&self, since: Position) -> Result<Vec<Arc<SharedText>>, Lost> {
        let lost = Lost { now: self.now() };
        if since.epoch != self.epoch || since.offset >= self.next {
            return Err(lost);
        }
        // The first message wanted is since + 1; it must still be kept
        // (or be the next one to come).
        let first_kept = self.kept.front().map_or(self.next, |k| k.offset);
        if since.offset + 1 < first_kept {
            return Err(lost);
        }
        Ok(self
            .kept
            .iter()
            .filter(|k| k.offset > since.offset)
            .map(|k| k.text.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn since(log: &Log, p: Position) -> Result<Vec<String>, Lost> {
        log.since(p)
            .map(|v| v.iter().map(|t| t.text().to_owned()).collect())
    }

    #[test]
    fn positions_round_trip_and_refuse_garbage() {
        let p = Position {
            epoch: 0xabc,
            offset: 42,
        };
        assert_eq!(p.to_string(), "abc-42");
        assert_eq!("abc-42".parse(), Ok(p));
        for bad in [
            "", "-", "abc", "abc-", "-1", "xyz-1", "a-b", "a-1-2", "a--1",
            // Signs, which the integer parsers would take.
            "+a-1", "a-+1",
        ] {
            assert_eq!(bad.parse::<Position>(), Err(BadPosition), "{bad}");
        }
        assert_eq!(Position::start(7).to_string(), "7-0");
        assert_eq!(
            Lost { now: p }.to_string(),
            "room history lost; it is now at abc-42"
        );
        assert_eq!(
            BadPosition.to_string(),
            "not a room position (<hex epoch>-<offset>)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn history_is_bounded_and_resumes_exactly_after_a_position() {
        let limits = History::messages(3).bytes(100);
        let mut log = Log::new(9);
        let start = log.now();
        assert_eq!(start, Position::start(9));
        assert_eq!(since(&log, start), Ok(Vec::new()));
        for i in 1..=5 {
            log.append(&limits, |p| format!("m{i}@{p}"));
        }
        // 3 kept: offsets 3, 4, 5.
        assert_eq!(log.now().to_string(), "9-5");
        let at = |offset| Position { epoch: 9, offset };
        assert_eq!(since(&log, at(2)).unwrap(), ["m3@9-3", "m4@9-4", "m5@9-5"]);
        assert_eq!(since(&log, at(4)).unwrap(), ["m5@9-5"]);
        assert_eq!(since(&log, at(5)), Ok(Vec::new()));
        // Offset 2 is gone: resuming after 1 would skip it.
        assert_eq!(since(&log, at(1)), Err(Lost { now: at(5) }));
        assert_eq!(since(&log, start), Err(Lost { now: at(5) }));
        // Another epoch, or a position not reached yet.
        assert_eq!(
            since(
                &log,
                Position {
                    epoch: 8,
                    offset: 5
                }
            ),
            Err(Lost { now: at(5) })
        );
        assert_eq!(since(&log, at(6)), Err(Lost { now: at(5) }));

        // Bytes: a 95-byte message pushes out the older ones.
        log.append(&limits, |_| "x".repeat(95));
        assert!(log.bytes <= 100);
        assert_eq!(log.kept.len(), 1);

        // Bounds are inclusive: exactly the bound is kept.
        let limits = History::messages(2).bytes(12);
        let mut log = Log::new(3);
        assert!(log.is_empty());
        log.append(&limits, |_| "123456".into());
        log.append(&limits, |_| "abcdef".into());
        assert!(!log.is_empty());
        assert_eq!(log.kept.len(), 2);
        assert_eq!(log.now().offset(), 2);
        // The defaults: 1 MiB of messages, five minutes.
        let mut log = Log::new(4);
        log.append(&History::messages(10), |_| "x".repeat(1000));
        assert_eq!(log.kept.len(), 1);

        // Age: a message exactly max_age old stays; older ones go on the
        // next trim.
        let limits = History::messages(10).max_age(Duration::from_secs(1));
        let mut log = Log::new(1);
        log.append(&limits, |_| "old".into());
        tokio::time::advance(Duration::from_secs(1)).await;
        log.trim(&limits);
        assert!(!log.is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        log.trim(&limits);
        assert!(log.is_empty());
        assert_eq!(
            since(
                &log,
                Position {
                    epoch: 1,
                    offset: 0
                }
            ),
            Err(Lost { now: log.now() })
        );
    }
}
