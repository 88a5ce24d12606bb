//! Room messages with a position, in position order: pub/sub may lose a
//! message (at most once, nothing kept while a node is not subscribed),
//! so a message that comes after a gap is held briefly; if the gap is
//! still there then, it is filled from the room's stream (`XRANGE`), and
//! what the stream no longer has is skipped and counted. [`Order`] is the
//! pure bookkeeping; [`run`] is the task around it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use sockjs::rooms::Position;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::script;
use crate::stats::Counters;

/// How long a message after a gap waits for the missing ones to arrive
/// before they are read from the stream.
pub(crate) const HOLD: Duration = Duration::from_millis(100);

/// Most messages held for one room: past that the gap is filled at once.
const MAX_HELD: usize = 10_000;

/// How long a room without messages is remembered.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// One positioned message from pub/sub.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) channel: Arc<str>,
    pub(crate) room: Box<str>,
    pub(crate) position: Position,
    pub(crate) message: String,
}

/// A room: `(channel, room)`.
type Key = (Arc<str>, Box<str>);

/// One room's place in its history.
struct RoomOrder {
    epoch: u64,
    /// The offset expected next.
    next: u64,
    /// Messages after a gap, by offset.
    held: BTreeMap<u64, String>,
    /// When the oldest gap opened.
    gap_since: Option<Instant>,
    last_heard: Instant,
}

/// What to do now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Step {
    /// To deliver, in this order.
    pub(crate) deliver: Vec<(Position, String)>,
    /// A message already delivered (sent twice).
    pub(crate) duplicate: bool,
    /// Offsets that never came and were skipped.
    pub(crate) skipped: u64,
}

/// The ordering of every room of a node.
#[derive(Default)]
pub(crate) struct Order {
    rooms: HashMap<Key, RoomOrder>,
    /// The rooms with a gap (held messages), so that looking for gaps
    /// costs nothing per message when there are none.
    gaps: HashSet<Key>,
}

impl Order {
    /// A message arrived: deliver it (and what it completes), hold it
    /// after a gap, or drop it as a duplicate.
    pub(crate) fn receive(
        &mut self,
        key: Key,
        position: Position,
        message: String,
        now: Instant,
    ) -> Step {
        let (epoch, offset) = (position.epoch(), position.offset());
        let mut step = Step::default();
        let room = match self.rooms.get_mut(&key) {
            // The first message heard in this room: what came before was
            // before this node listened (a resume reads it from the
            // stream).
            None => {
                self.rooms.insert(
                    key,
                    RoomOrder {
                        epoch,
                        next: offset + 1,
                        held: BTreeMap::new(),
                        gap_since: None,
                        last_heard: now,
                    },
                );
                step.deliver.push((position, message));
                return step;
            }
            Some(room) => room,
        };
        room.last_heard = now;
        let had_gap = room.gap_since.is_some();
        if room.epoch != epoch {
            // A new epoch (Redis lost the room's history): what is held of
            // the old one goes first, the gaps in it skipped; the new one
            // counts from 1.
            flush(room, &mut step);
            room.epoch = epoch;
            room.next = 1;
        }
        if offset < room.next || room.held.contains_key(&offset) {
            step.duplicate = true;
            if had_gap && room.gap_since.is_none() {
                // The new epoch's flush closed the old one's gap.
                self.gaps.remove(&key);
            }
            return step;
        }
        room.held.insert(offset, message);
        drain(room, &mut step);
        if room.held.is_empty() {
            room.gap_since = None;
        } else if room.gap_since.is_none() {
            room.gap_since = Some(now);
        }
        match (had_gap, room.gap_since.is_some()) {
            (false, true) => {
                self.gaps.insert(key);
            }
            (true, false) => {
                self.gaps.remove(&key);
            }
            _ => {}
        }
        step
    }

    /// The rooms whose gap has waited long enough, with the offsets to
    /// read from their streams (`from..=to`).
    pub(crate) fn due(&self, now: Instant) -> Vec<(Key, u64, u64)> {
        self.gaps
            .iter()
            .filter_map(|key| Some((key, self.rooms.get(key)?)))
            .filter(|(_, room)| {
                room.gap_since
                    .is_some_and(|since| now >= since + HOLD || room.held.len() > MAX_HELD)
            })
            .filter_map(|(key, room)| {
                let last = *room.held.keys().next_back()?;
                Some((key.clone(), room.next, last))
            })
            .collect()
    }

    /// When the next gap is due, if any.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.gaps
            .iter()
            .filter_map(|key| self.rooms.get(key)?.gap_since)
            .min()
            .map(|since| since + HOLD)
    }

    /// What the stream had of a gap (`found`, by offset, of `epoch`):
    /// delivers it with what was held, in order, and skips what neither
    /// has.
    pub(crate) fn fill(&mut self, key: &Key, epoch: u64, found: Vec<(u64, String)>) -> Step {
        let mut step = Step::default();
        let Some(room) = self.rooms.get_mut(key) else {
            return step;
        };
        self.gaps.remove(key);
        if room.epoch == epoch {
            for (offset, message) in found {
                if offset >= room.next {
                    room.held.entry(offset).or_insert(message);
                }
            }
        }
        flush(room, &mut step);
        step
    }

    /// Forgets the rooms not heard from since `when`.
    pub(crate) fn forget_older_than(&mut self, when: Instant) {
        self.rooms
            .retain(|_, room| room.last_heard >= when || !room.held.is_empty());
    }
}

/// Moves the held messages that follow on from `next` to `step`.
fn drain(room: &mut RoomOrder, step: &mut Step) {
    while let Some(message) = room.held.remove(&room.next) {
        step.deliver
            .push((Position::new(room.epoch, room.next), message));
        room.next += 1;
    }
}

/// Moves every held message to `step`, in order, skipping the gaps.
fn flush(room: &mut RoomOrder, step: &mut Step) {
    for (offset, message) in std::mem::take(&mut room.held) {
        step.skipped += offset - room.next;
        step.deliver
            .push((Position::new(room.epoch, offset), message));
        room.next = offset + 1;
    }
    room.gap_since = None;
}

/// Orders the positioned messages of every channel of a node and hands
/// them to `deliver`, until every sender is gone.
pub(crate) async fn run(
    mut incoming: mpsc::UnboundedReceiver<Incoming>,
    mut conn: ConnectionManager,
    prefix: String,
    counters: Arc<Counters>,
    timeout: Duration,
    deliver: impl Fn(&str, &str, Position, &str) + Send + 'static,
) {
    let mut order = Order::default();
    let mut last_forget = Instant::now();
    loop {
        let wake = order.next_due();
        let message = tokio::select! {
            message = incoming.recv() => match message {
                Some(message) => Some(message),
                None => return,
            },
            () = sleep_until(wake) => None,
        };
        let now = Instant::now();
        if let Some(m) = message {
            let key: Key = (m.channel, m.room);
            let step = order.receive(key.clone(), m.position, m.message, now);
            if step.duplicate {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            hand(&key, step, &counters, &deliver);
        }
        for (key, from, to) in order.due(now) {
            let epoch = order.rooms.get(&key).map_or(0, |room| room.epoch);
            let found = read(&mut conn, &prefix, &key, from, to, timeout).await;
            let found_count = found.len() as u64;
            let step = order.fill(&key, epoch, found);
            counters.filled.fetch_add(
                found_count.min(step.deliver.len() as u64),
                Ordering::Relaxed,
            );
            hand(&key, step, &counters, &deliver);
        }
        if now >= last_forget + FORGET_AFTER {
            order.forget_older_than(now - FORGET_AFTER);
            last_forget = now;
        }
    }
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => std::future::pending().await,
    }
}

fn hand(key: &Key, step: Step, counters: &Counters, deliver: &impl Fn(&str, &str, Position, &str)) {
    if step.skipped > 0 {
        counters.skipped.fetch_add(step.skipped, Ordering::Relaxed);
        tracing::warn!(
            channel = %key.0,
            room = %key.1,
            skipped = step.skipped,
            "room messages lost: neither pub/sub nor the room's stream has them"
        );
    }
    for (position, message) in step.deliver {
        deliver(&key.0, &key.1, position, &message);
        counters.received.fetch_add(1, Ordering::Relaxed);
    }
}

/// The entries `from..=to` of a room's stream; none when Redis does not
/// answer in time.
async fn read(
    conn: &mut ConnectionManager,
    prefix: &str,
    key: &Key,
    from: u64,
    to: u64,
    timeout: Duration,
) -> Vec<(u64, String)> {
    let log = script::log_key(prefix, &key.0, &key.1);
    let mut command = redis::cmd("XRANGE");
    command
        .arg(&log)
        .arg(format!("{from}-0"))
        .arg(format!("{to}-0"));
    // A few tries: right after Redis came back, the first command on the
    // connection may fail while it reconnects.
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let entries = loop {
        let query = command.query_async::<Vec<(String, Vec<(String, String)>)>>(conn);
        let error = match tokio::time::timeout(timeout, query).await {
            Ok(Ok(entries)) => break entries,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        if started.elapsed() + pause >= timeout * 2 {
            tracing::warn!(%log, %error, "cannot read a room's stream to fill a gap");
            return Vec::new();
        }
        tracing::debug!(%log, %error, "reading a room's stream again");
        tokio::time::sleep(pause).await;
        pause *= 2;
    };
    entries
        .into_iter()
        .filter_map(|(id, fields)| {
            let offset = script::offset_of(&id)?;
            let (_, message) = fields.into_iter().find(|(name, _)| name == "d")?;
            Some((offset, message))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(room: &str) -> Key {
        ("c".into(), room.into())
    }

    fn at(offset: u64) -> Position {
        Position::new(7, offset)
    }

    fn offsets(step: &Step) -> Vec<u64> {
        step.deliver.iter().map(|(p, _)| p.offset()).collect()
    }

    #[test]
    fn in_order_at_once_duplicates_dropped() {
        let mut order = Order::default();
        let t = Instant::now();
        // The first message heard is delivered whatever its offset.
        let step = order.receive(key("r"), at(5), "m5".into(), t);
        assert_eq!(step.deliver, vec![(at(5), "m5".to_owned())]);
        assert_eq!(
            offsets(&order.receive(key("r"), at(6), "m6".into(), t)),
            [6]
        );
        let again = order.receive(key("r"), at(6), "m6".into(), t);
        assert!(again.duplicate && again.deliver.is_empty());
        assert!(order.receive(key("r"), at(2), "m2".into(), t).duplicate);
        // Rooms are apart.
        assert_eq!(
            offsets(&order.receive(key("s"), at(1), "s1".into(), t)),
            [1]
        );
        assert!(order.next_due().is_none());
        assert!(order.due(t + HOLD).is_empty());
    }

    #[test]
    fn a_gap_is_held_then_closed_by_the_late_message() {
        let mut order = Order::default();
        let t = Instant::now();
        order.receive(key("r"), at(1), "1".into(), t);
        // 3 and 4 before 2: held.
        assert!(order
            .receive(key("r"), at(3), "3".into(), t)
            .deliver
            .is_empty());
        let later = t + Duration::from_millis(10);
        assert!(order
            .receive(key("r"), at(4), "4".into(), later)
            .deliver
            .is_empty());
        // Held twice is a duplicate too.
        assert!(order.receive(key("r"), at(4), "4".into(), later).duplicate);
        // Due HOLD after the gap opened, not after the last message.
        assert_eq!(order.next_due(), Some(t + HOLD));
        assert!(order.due(t + HOLD - Duration::from_millis(1)).is_empty());
        assert_eq!(order.due(t + HOLD), vec![(key("r"), 2, 4)]);
        // 2 arrives: 2, 3, 4 in order, no gap left.
        let step = order.receive(key("r"), at(2), "2".into(), later);
        assert_eq!(offsets(&step), [2, 3, 4]);
        assert_eq!(step.skipped, 0);
        assert!(order.next_due().is_none());
        assert!(order.gaps.is_empty());
        assert_eq!(
            offsets(&order.receive(key("r"), at(5), "5".into(), later)),
            [5]
        );
    }

    #[test]
    fn a_gap_is_filled_from_the_stream_and_what_it_lacks_skipped() {
        let mut order = Order::default();
        let t = Instant::now();
        order.receive(key("r"), at(1), "1".into(), t);
        order.receive(key("r"), at(4), "4".into(), t);
        order.receive(key("r"), at(7), "7".into(), t);
        assert_eq!(order.due(t + HOLD), vec![(key("r"), 2, 7)]);
        // The stream has 3 and 5 (2 and 6 trimmed), and 4 again.
        let found = vec![
            (3, "3".to_owned()),
            (4, "4'".to_owned()),
            (5, "5".to_owned()),
        ];
        let step = order.fill(&key("r"), 7, found);
        assert_eq!(offsets(&step), [3, 4, 5, 7]);
        // What pub/sub brought wins over the stream's copy (the same text).
        assert_eq!(step.deliver[1].1, "4");
        assert_eq!(step.skipped, 2);
        assert!(order.next_due().is_none());
        assert!(order.gaps.is_empty());
        // Late ones are duplicates now.
        assert!(order.receive(key("r"), at(6), "6".into(), t).duplicate);
        assert_eq!(offsets(&order.receive(key("r"), at(8), "8".into(), t)), [8]);
        // A fill of another epoch (the stream was reset) adds nothing.
        order.receive(key("r"), at(10), "10".into(), t);
        let step = order.fill(&key("r"), 8, vec![(9, "9".to_owned())]);
        assert_eq!((offsets(&step), step.skipped), (vec![10], 1));
        // A fill for a room not known: nothing.
        assert_eq!(order.fill(&key("x"), 7, Vec::new()), Step::default());
    }

    #[test]
    fn a_new_epoch_starts_at_one_after_what_was_held() {
        let mut order = Order::default();
        let t = Instant::now();
        order.receive(key("r"), at(1), "1".into(), t);
        order.receive(key("r"), at(3), "3".into(), t);
        // Epoch 8 begins with its 2 before its 1: 3 of epoch 7 goes (2
        // skipped), 2 of epoch 8 waits for 1.
        assert_eq!(order.gaps.len(), 1);
        let step = order.receive(key("r"), Position::new(8, 2), "b".into(), t);
        assert_eq!(step.deliver, vec![(at(3), "3".to_owned())]);
        assert_eq!(step.skipped, 1);
        assert_eq!(order.gaps.len(), 1, "epoch 8's own gap");
        let step = order.receive(key("r"), Position::new(8, 1), "a".into(), t);
        assert_eq!(
            step.deliver,
            vec![
                (Position::new(8, 1), "a".to_owned()),
                (Position::new(8, 2), "b".to_owned())
            ]
        );
        assert!(order.gaps.is_empty());
        // A new epoch whose first message is 1 closes the old one's gap.
        order.receive(key("r"), Position::new(8, 4), "d".into(), t);
        assert_eq!(order.gaps.len(), 1);
        let step = order.receive(key("r"), Position::new(9, 1), "x".into(), t);
        assert_eq!(offsets(&step), [4, 1]);
        assert!(order.gaps.is_empty());
    }

    #[test]
    fn many_held_are_due_at_once_and_quiet_rooms_forgotten() {
        let mut order = Order::default();
        let t = Instant::now();
        order.receive(key("r"), at(1), "1".into(), t);
        for i in 3..(MAX_HELD as u64 + 4) {
            order.receive(key("r"), at(i), String::new(), t);
        }
        assert_eq!(order.due(t).len(), 1);
        order.receive(key("q"), at(1), "1".into(), t);
        order.forget_older_than(t + Duration::from_secs(1));
        // The room with held messages stays; the quiet one goes.
        assert!(order.rooms.contains_key(&key("r")));
        assert!(!order.rooms.contains_key(&key("q")));
    }
}
