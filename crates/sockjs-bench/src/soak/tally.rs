//! Per-transport counts of the mixed phase, summed over its sessions.

use serde_json::{json, Value};

use super::session::{EndKind, FollowUp, Outcome};
use super::Transport;

/// One transport's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) sessions: u64,
    pub(crate) opened: u64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) lost_allowed: u64,
    pub(crate) server_messages: u64,
    pub(crate) client_close: u64,
    pub(crate) client_left: u64,
    pub(crate) server_close: u64,
    pub(crate) aborted: u64,
    pub(crate) failed: u64,
    pub(crate) stalls: u64,
    pub(crate) bad_sends: u64,
    pub(crate) heartbeats: u64,
    pub(crate) follow_up_interrupted: u64,
    pub(crate) follow_up_heartbeat: u64,
    pub(crate) recovered: u64,
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        self.sessions += 1;
        self.opened += u64::from(o.opened);
        self.sent += o.sent;
        self.received += o.received;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.lost_allowed += o.lost;
        self.server_messages += o.server_messages;
        match o.end {
            EndKind::ClientClose => self.client_close += 1,
            EndKind::ClientLeft => self.client_left += 1,
            EndKind::ServerClose => self.server_close += 1,
            EndKind::Aborted => self.aborted += 1,
            EndKind::Failed => self.failed += 1,
        }
        self.stalls += u64::from(o.stalled);
        self.bad_sends += o.bad_sends;
        self.heartbeats += o.heartbeats;
        match o.follow_up {
            Some(FollowUp::Interrupted) => self.follow_up_interrupted += 1,
            Some(FollowUp::Heartbeat) => self.follow_up_heartbeat += 1,
            None => {}
        }
        self.recovered += o.recovered;
    }

    fn merge(&mut self, o: &Counts) {
        self.sessions += o.sessions;
        self.opened += o.opened;
        self.sent += o.sent;
        self.received += o.received;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.lost_allowed += o.lost_allowed;
        self.server_messages += o.server_messages;
        self.client_close += o.client_close;
        self.client_left += o.client_left;
        self.server_close += o.server_close;
        self.aborted += o.aborted;
        self.failed += o.failed;
        self.stalls += o.stalls;
        self.bad_sends += o.bad_sends;
        self.heartbeats += o.heartbeats;
        self.follow_up_interrupted += o.follow_up_interrupted;
        self.follow_up_heartbeat += o.follow_up_heartbeat;
        self.recovered += o.recovered;
    }

    fn to_json(&self) -> Value {
        json!({
            "sessions": self.sessions,
            "opened": self.opened,
            "messages_sent": self.sent,
            "messages_received": self.received,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "lost_allowed": self.lost_allowed,
            "server_messages": self.server_messages,
            "ended_client_close": self.client_close,
            "ended_client_left": self.client_left,
            "ended_server_close": self.server_close,
            "ended_aborted": self.aborted,
            "failed": self.failed,
            "stalls": self.stalls,
            "bad_payloads": self.bad_sends,
            "heartbeats": self.heartbeats,
            "follow_ups_interrupted": self.follow_up_interrupted,
            "follow_ups_heartbeat": self.follow_up_heartbeat,
            "follow_ups_recovered_messages": self.recovered,
        })
    }
}

/// Counts for every transport.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    per: [Counts; Transport::ALL.len()],
}

impl Tally {
    pub(crate) fn add(&mut self, o: &Outcome) {
        self.per[o.transport.index()].add(o);
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        for (a, b) in self.per.iter_mut().zip(&other.per) {
            a.merge(b);
        }
    }

    pub(crate) fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in &self.per {
            t.merge(c);
        }
        t
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = serde_json::Map::new();
        for t in Transport::ALL {
            v.insert(t.name().into(), self.per[t.index()].to_json());
        }
        v.insert("all".into(), self.total().to_json());
        Value::Object(v)
    }

    /// The markdown table: one row per transport and the total.
    pub(crate) fn table(&self) -> String {
        let mut s = String::from(
            "| transport | sessions opened | msgs sent | msgs received | lost (allowed) | MiB sent | MiB received \
             | ended: client close / client left / server close / aborted | stalls | bad payloads | failures |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        let mib = |b: u64| format!("{:.1}", b as f64 / 1024.0 / 1024.0);
        let mut row = |name: &str, c: &Counts| {
            s.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} | {} | {} | {} |\n",
                c.opened,
                c.sent,
                c.received,
                c.lost_allowed,
                mib(c.bytes_sent),
                mib(c.bytes_received),
                c.client_close,
                c.client_left,
                c.server_close,
                c.aborted,
                c.stalls,
                c.bad_sends,
                c.failed
            ));
        };
        for t in Transport::ALL {
            row(t.name(), &self.per[t.index()]);
        }
        row("**all**", &self.total());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(transport: Transport, end: EndKind) -> Outcome {
        Outcome {
            transport,
            opened: true,
            end,
            sent: 10,
            received: 8,
            bytes_sent: 100,
            bytes_received: 80,
            lost: 2,
            server_messages: 0,
            stalled: true,
            bad_sends: 1,
            heartbeats: 3,
            follow_up: Some(FollowUp::Interrupted),
            recovered: 1,
        }
    }

    #[test]
    fn sums_per_transport_and_in_all() {
        let mut a = Tally::default();
        a.add(&outcome(Transport::WebSocket, EndKind::Aborted));
        let mut b = Tally::default();
        b.add(&outcome(Transport::JsonpPolling, EndKind::ClientLeft));
        b.add(&outcome(Transport::JsonpPolling, EndKind::Failed));
        a.merge(&b);
        let t = a.total();
        assert_eq!(
            (t.sessions, t.sent, t.received, t.lost_allowed),
            (3, 30, 24, 6)
        );
        assert_eq!((t.aborted, t.client_left, t.failed), (1, 1, 1));
        assert_eq!(a.per[Transport::JsonpPolling.index()].sessions, 2);
        assert_eq!((t.follow_up_interrupted, t.recovered), (3, 3));
        let table = a.table();
        assert!(table.contains("| jsonp-polling | 2 | 20 | 16 |"), "{table}");
        assert_eq!(a.to_json()["all"]["sessions"], 3);
    }
}
