//! What one soak session will do, drawn at random: which transport and
//! service, how many bursts of how many messages, whether it stops reading
//! for a while, whether it sends a bad payload, and how it ends.

use std::time::Duration;

use super::rng::Rng;
use super::Transport;

/// The test server's service a session talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// `/echo`: every message comes back.
    Echo,
    /// `/close`: `o`, then at once `c[3000,"Go away!"]`.
    Close,
    /// `/goodbye`: `1` to `20`, then `c[3000,"Go away!"]`.
    Goodbye,
}

impl Service {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Service::Echo => "/echo",
            Service::Close => "/close",
            Service::Goodbye => "/goodbye",
        }
    }
}

/// The client stops reading, sends `messages` meanwhile, and resumes
/// reading after `pause`: the server must hold the echoes back (bounded
/// queues, then TCP) and lose none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stall {
    /// Before which burst.
    pub(crate) at: usize,
    pub(crate) messages: u64,
    pub(crate) pause: Duration,
}

/// A payload the server must refuse with 500, leaving the session usable
/// (HTTP transports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadSend {
    /// `["broken` → `Broken JSON encoding.`
    BrokenJson,
    /// An empty body (jsonp: `d=`) → `Payload expected.`
    Empty,
}

/// How an echo session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// After every echo arrived: a websocket close handshake; on HTTP the
    /// client just stops and the server times the session out.
    Client,
    /// During the last burst, after at least `read` of its echoes: the
    /// receiving connection is dropped. With `follow_up` (HTTP), a new
    /// receiving request then reads what the session still had.
    Abort { read: u64, follow_up: bool },
    /// The last burst, then a framed websocket message that is not JSON:
    /// the server closes with 3000 `Broken framing.`
    BrokenFraming,
}

/// One session's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) transport: Transport,
    pub(crate) service: Service,
    /// Messages per burst; each burst's echoes are awaited before the next.
    pub(crate) bursts: Vec<u64>,
    /// Longest pause between bursts.
    pub(crate) think: Duration,
    pub(crate) stall: Option<Stall>,
    /// Before which burst, and what.
    pub(crate) bad_send: Option<(usize, BadSend)>,
    pub(crate) end: End,
    /// Server-closed HTTP sessions: ask again and expect the same close
    /// frame (the protocol repeats it until the session is forgotten).
    pub(crate) ask_again: bool,
}

impl Plan {
    /// A random plan. `disconnect_delay` bounds how long an HTTP client may
    /// stop reading: beyond it the server would (rightly) forget the session.
    pub(crate) fn random(rng: &mut Rng, disconnect_delay: Duration) -> Plan {
        let transport = rng.pick(&Transport::ALL);
        let service = match rng.range(0, 99) {
            0..=5 => Service::Close,
            6..=11 => Service::Goodbye,
            _ => Service::Echo,
        };
        let rounds = rng.range(1, 30) as usize;
        let big = rng.chance(10);
        let bursts = (0..rounds)
            .map(|_| rng.range(1, if big { 50 } else { 12 }))
            .collect::<Vec<_>>();
        let think = Duration::from_millis(rng.range(0, 30));
        let stall = rng.chance(12).then(|| {
            let messages = match rng.range(0, 9) {
                0..=4 => rng.range(20, 200),
                5..=7 => rng.range(200, 1000),
                _ => rng.range(1000, 3000),
            };
            let longest = if transport.is_websocket() {
                3000
            } else {
                // At most 40% of the delay: a streaming response may end
                // (response_limit) while the client is not reading, and the
                // session waits for the next one without a receiver.
                (disconnect_delay.as_millis() as u64 * 2 / 5).max(100)
            };
            Stall {
                at: rng.range(0, rounds as u64 - 1) as usize,
                messages,
                pause: Duration::from_millis(rng.range(100, longest)),
            }
        });
        let bad_send = (!transport.is_websocket() && rng.chance(10)).then(|| {
            let what = if rng.chance(50) {
                BadSend::BrokenJson
            } else {
                BadSend::Empty
            };
            (rng.range(0, rounds as u64 - 1) as usize, what)
        });
        let last = *bursts.last().expect("at least one burst");
        let end = match rng.range(0, 99) {
            0..=69 => End::Client,
            70..=89 => End::Abort {
                read: rng.range(0, last - 1),
                follow_up: !transport.is_websocket() && rng.chance(60),
            },
            _ if transport == Transport::WebSocket => End::BrokenFraming,
            _ => End::Client,
        };
        Plan {
            transport,
            service,
            bursts,
            think,
            stall,
            bad_send,
            end,
            ask_again: rng.chance(50),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_case_and_respect_the_limits() {
        let mut rng = Rng::new(1);
        let delay = Duration::from_millis(2000);
        let plans: Vec<Plan> = (0..5000).map(|_| Plan::random(&mut rng, delay)).collect();
        for t in Transport::ALL {
            assert!(plans.iter().any(|p| p.transport == t));
        }
        for s in [Service::Echo, Service::Close, Service::Goodbye] {
            assert!(plans.iter().any(|p| p.service == s));
        }
        assert!(plans.iter().any(|p| p.end == End::BrokenFraming));
        assert!(plans.iter().any(|p| matches!(
            p.end,
            End::Abort {
                follow_up: true,
                ..
            }
        )));
        assert!(plans
            .iter()
            .any(|p| p.stall.is_some_and(|s| s.messages > 2048)));
        assert!(plans.iter().any(|p| p.bad_send.is_some()));
        for p in &plans {
            assert!(!p.bursts.is_empty() && p.bursts.iter().all(|&b| b >= 1));
            if let Some(s) = p.stall {
                assert!(s.at < p.bursts.len());
                if !p.transport.is_websocket() {
                    assert!(s.pause <= delay / 2, "{s:?}");
                }
            }
            if let End::Abort { read, follow_up } = p.end {
                assert!(read < *p.bursts.last().unwrap());
                assert!(!(follow_up && p.transport.is_websocket()));
            }
            if p.end == End::BrokenFraming {
                assert_eq!(p.transport, Transport::WebSocket);
            }
            if p.transport.is_websocket() {
                assert!(p.bad_send.is_none());
            }
        }
    }
}
