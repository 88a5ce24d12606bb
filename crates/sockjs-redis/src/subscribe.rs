//! The receiving side of the broker: one pub/sub connection, kept
//! subscribed to every channel a `Rooms` started, by a task that
//! reconnects and resubscribes whenever Redis is lost, and delivers each
//! message of another node to the rooms once, in that node's order.
//! Positioned room messages (history on Redis), every node's, go to the
//! ordering task ([`crate::order`]) instead.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sockjs::rooms::{Inbox, Position, PresenceEvent, Target};
use tokio::sync::mpsc;

use crate::order::Incoming;
use crate::stats::Counters;
use crate::wire;

/// How often the subscription connection is checked with a `PING`.
const PING_EVERY: Duration = Duration::from_secs(1);

/// Longest pause between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long a silent node's last number is remembered.
const FORGET_NODES_AFTER: Duration = Duration::from_secs(600);

/// The channels to be subscribed to, with the rooms their messages go to.
#[derive(Default)]
pub(crate) struct Subscriptions {
    inboxes: Mutex<HashMap<String, Vec<Inbox>>>,
    /// Connected, and subscribed to the channels in `confirmed`.
    connected: AtomicBool,
    confirmed: Mutex<HashSet<String>>,
}

impl Subscriptions {
    /// Adds `inbox` for `channel`; says whether the channel is new.
    pub(crate) fn add(&self, channel: &str, inbox: Inbox) -> bool {
        let mut inboxes = self.inboxes.lock().expect("subscriptions lock");
        let list = inboxes.entry(channel.to_owned()).or_default();
        list.push(inbox);
        list.len() == 1
    }

    /// Connected, and subscribed to every channel.
    pub(crate) fn is_subscribed(&self) -> bool {
        let confirmed = self.confirmed.lock().expect("subscriptions lock").len();
        let channels = self.inboxes.lock().expect("subscriptions lock").len();
        self.connected.load(Ordering::Relaxed) && confirmed >= channels
    }

    fn confirm(&self, channels: &[String]) {
        let mut confirmed = self.confirmed.lock().expect("subscriptions lock");
        confirmed.extend(channels.iter().cloned());
        self.connected.store(true, Ordering::Relaxed);
    }

    fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
        self.confirmed.lock().expect("subscriptions lock").clear();
    }

    fn channels(&self) -> Vec<String> {
        let inboxes = self.inboxes.lock().expect("subscriptions lock");
        inboxes.keys().cloned().collect()
    }

    /// Gives a positioned room message to the rooms of `channel`.
    pub(crate) fn deliver_at(&self, channel: &str, room: &str, position: Position, message: &str) {
        let inboxes = self.inboxes.lock().expect("subscriptions lock");
        for inbox in inboxes.get(channel).into_iter().flatten() {
            inbox.deliver_at(room, position, message);
        }
    }

    /// Tells the rooms of `channel` of a presence change.
    fn presence(&self, channel: &str, room: &str, event: &PresenceEvent) {
        let inboxes = self.inboxes.lock().expect("subscriptions lock");
        for inbox in inboxes.get(channel).into_iter().flatten() {
            inbox.presence(room, event.clone());
        }
    }

    /// Gives a message to the rooms of `channel`.
    fn deliver(&self, channel: &str, target: Target<'_>, message: &str) {
        let inboxes = self.inboxes.lock().expect("subscriptions lock");
        for inbox in inboxes.get(channel).into_iter().flatten() {
            inbox.deliver(target, message.to_owned());
        }
    }
}

/// The last number seen from each node on each channel.
#[derive(Default)]
struct Seen {
    channels: HashMap<String, HashMap<String, (u64, Instant)>>,
}

/// What to do with a message numbered `seq` from `node` on `channel`.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Deliver,
    /// Already delivered (a retried publish).
    Duplicate,
    /// Deliver; this many messages before it never came.
    AfterGap(u64),
}

impl Seen {
    fn check(&mut self, channel: &str, node: &str, seq: u64, now: Instant) -> Verdict {
        let nodes = match self.channels.get_mut(channel) {
            Some(nodes) => nodes,
            None => self.channels.entry(channel.to_owned()).or_default(),
        };
        match nodes.get_mut(node) {
            // The first message heard from a node: whatever it sent before
            // was before this node listened.
            None => {
                nodes.insert(node.to_owned(), (seq, now));
                Verdict::Deliver
            }
            Some((last, _)) if seq <= *last => Verdict::Duplicate,
            Some((last, at)) => {
                let gap = seq - *last - 1;
                *last = seq;
                *at = now;
                if gap == 0 {
                    Verdict::Deliver
                } else {
                    Verdict::AfterGap(gap)
                }
            }
        }
    }

    fn forget_older_than(&mut self, when: Instant) {
        for nodes in self.channels.values_mut() {
            nodes.retain(|_, (_, at)| *at >= when);
        }
        self.channels.retain(|_, nodes| !nodes.is_empty());
    }
}

/// Keeps the subscription up until the handle is gone.
pub(crate) async fn run(
    client: redis::Client,
    subscriptions: Arc<Subscriptions>,
    mut commands: mpsc::UnboundedReceiver<String>,
    ordered: mpsc::UnboundedSender<Incoming>,
    node: String,
    counters: Arc<Counters>,
    timeout: Duration,
) {
    let mut seen = Seen::default();
    let mut lost_since: Option<Instant> = None;
    let mut backoff = Duration::from_millis(20);
    loop {
        let why = match tokio::time::timeout(timeout, client.get_async_pubsub()).await {
            Err(_) => format!("no answer within {timeout:?}"),
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(pubsub)) => {
                let (mut sink, mut stream) = pubsub.split();
                let channels = subscriptions.channels();
                let subscribed = if channels.is_empty() {
                    Ok(Ok(()))
                } else {
                    tokio::time::timeout(timeout, sink.subscribe(&channels)).await
                };
                match subscribed {
                    Err(_) => format!("SUBSCRIBE: no answer within {timeout:?}"),
                    Ok(Err(e)) => format!("SUBSCRIBE: {e}"),
                    Ok(Ok(())) => {
                        subscriptions.confirm(&channels);
                        backoff = Duration::from_millis(20);
                        if let Some(since) = lost_since.take() {
                            tracing::info!(
                                after = ?since.elapsed(),
                                channels = channels.len(),
                                "subscribed to Redis again: room messages of other nodes arrive"
                            );
                        }
                        let mut ping = tokio::time::interval(PING_EVERY);
                        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        let why = loop {
                            tokio::select! {
                                message = stream.next() => match message {
                                    Some(message) => receive(
                                        &message, &node, &subscriptions, &mut seen, &counters, &ordered,
                                    ),
                                    None => break "connection closed".to_owned(),
                                },
                                command = commands.recv() => match command {
                                    Some(channel) => {
                                        let r = tokio::time::timeout(timeout, sink.subscribe(&channel)).await;
                                        match r {
                                            Ok(Ok(())) => subscriptions.confirm(&[channel]),
                                            Ok(Err(e)) => break format!("SUBSCRIBE: {e}"),
                                            Err(_) => break "SUBSCRIBE: no answer".to_owned(),
                                        }
                                    }
                                    None => return,
                                },
                                _ = ping.tick() => {
                                    let r = tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await;
                                    match r {
                                        Ok(Ok(_)) => {}
                                        Ok(Err(e)) => break format!("PING: {e}"),
                                        Err(_) => break format!("PING: no answer within {timeout:?}"),
                                    }
                                    seen.forget_older_than(
                                        Instant::now().checked_sub(FORGET_NODES_AFTER).unwrap_or_else(Instant::now),
                                    );
                                }
                            }
                        };
                        subscriptions.disconnected();
                        why
                    }
                }
            }
        };
        if lost_since.is_none() {
            lost_since = Some(Instant::now());
            tracing::warn!(
                error = %why,
                "Redis subscription lost: this node's sessions are still served; reconnecting"
            );
        } else {
            tracing::debug!(error = %why, "Redis still unreachable");
        }
        // Subscription requests made meanwhile are covered by the
        // resubscription to every channel.
        while commands.try_recv().is_ok() {}
        if commands.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn receive(
    message: &redis::Msg,
    node: &str,
    subscriptions: &Subscriptions,
    seen: &mut Seen,
    counters: &Counters,
    ordered: &mpsc::UnboundedSender<Incoming>,
) {
    let channel = message.get_channel_name();
    let payload = message.get_payload_bytes();
    if wire::is_kept(payload) {
        // Every node's, this one's included: put in order by position.
        match wire::decode_kept(payload) {
            Ok(kept) => {
                let _ = ordered.send(Incoming {
                    channel: channel.into(),
                    room: kept.room.into(),
                    position: Position::new(kept.epoch, kept.offset),
                    message: kept.message.to_owned(),
                });
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "ignoring a message on a rooms channel");
            }
        }
        return;
    }
    if wire::is_notice(payload) {
        // Decided by a script, told to every node, this one included.
        match wire::decode_notice(payload) {
            Ok(notice) => {
                let event = if notice.joined {
                    PresenceEvent::Join(notice.user.to_owned())
                } else {
                    PresenceEvent::Leave(notice.user.to_owned())
                };
                subscriptions.presence(channel, notice.room, &event);
            }
            Err(e) => {
                tracing::warn!(channel, error = %e, "ignoring a message on a rooms channel");
            }
        }
        return;
    }
    let frame = match wire::decode(message.get_payload_bytes()) {
        Ok(frame) => frame,
        Err(e) => {
            tracing::warn!(channel, error = %e, "ignoring a message on a rooms channel");
            return;
        }
    };
    if frame.node == node {
        return;
    }
    match seen.check(channel, frame.node, frame.seq, Instant::now()) {
        Verdict::Duplicate => {
            counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Verdict::AfterGap(gap) => {
            counters.missed.fetch_add(gap, Ordering::Relaxed);
            tracing::warn!(
                channel,
                node = frame.node,
                missed = gap,
                "room messages of another node were lost (published while not subscribed)"
            );
        }
        Verdict::Deliver => {}
    }
    let target = match frame.target {
        wire::Target::All => Target::All,
        wire::Target::Room(room) => Target::Room(room),
        wire::Target::User(user) => Target::User(user),
    };
    subscriptions.deliver(channel, target, frame.message);
    counters.received.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_in_order_and_gaps_counted() {
        let mut seen = Seen::default();
        let t = Instant::now();
        let steps = [
            ("c", "a", 5, Verdict::Deliver),
            ("c", "a", 6, Verdict::Deliver),
            ("c", "a", 6, Verdict::Duplicate),
            ("c", "a", 3, Verdict::Duplicate),
            ("c", "b", 1, Verdict::Deliver),
            ("d", "a", 1, Verdict::Deliver),
            ("c", "a", 9, Verdict::AfterGap(2)),
            ("c", "a", 10, Verdict::Deliver),
        ];
        for (channel, node, seq, verdict) in steps {
            assert_eq!(
                seen.check(channel, node, seq, t),
                verdict,
                "{channel} {node} {seq}"
            );
        }
        seen.forget_older_than(t + Duration::from_secs(1));
        assert!(seen.channels.is_empty());
        assert_eq!(seen.check("c", "a", 2, t), Verdict::Deliver);
    }
}
