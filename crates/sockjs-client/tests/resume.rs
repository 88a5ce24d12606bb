//! `resume::Resuming` against a sockjs-axum server on a real socket: a
//! numbered room stream (history on), the connection cut by the server 100
//! times per transport in the middle of it, each cut followed at once by
//! more of the stream; every number must arrive exactly once, in order.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use sockjs::rooms::History;
use sockjs::{Rooms, Session, SockJsRouter};
use sockjs_client::resume::{Backoff, Event, Resuming};
use sockjs_client::{Client, Error, Transport};
use tokio::time::{timeout, Instant};

const CUTS: usize = 100;
const CHUNK: usize = 5;
const ROOM: &str = "stream";

struct Server {
    url: String,
    rooms: Rooms,
    /// The open sessions' senders, for cutting them.
    members: Arc<Mutex<Vec<sockjs::Sender>>>,
}

async fn start() -> Server {
    let members: Arc<Mutex<Vec<sockjs::Sender>>> = Arc::default();
    let held = members.clone();
    let service = SockJsRouter::new(move |session: Session| {
        let held = held.clone();
        async move {
            let since = session
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
                .map(str::parse::<sockjs::rooms::Position>);
            let (tx, mut rx) = session.split();
            match since {
                Some(Ok(position)) => {
                    if tx.join_since(ROOM, position).await.is_err() {
                        let _ = tx.send("lost").await;
                    }
                }
                _ => tx.join(ROOM),
            }
            held.lock().unwrap().push(tx.clone());
            let _ = tx.send("joined").await;
            while rx.recv().await.is_some() {}
        }
    })
    .rooms(Rooms::new().history(History::messages(100_000)));
    let rooms = service.rooms_handle();
    let app: Router = Router::new().nest("/stream", service.into_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url: format!("http://{addr}/stream"),
        rooms,
        members,
    }
}

#[derive(Default)]
struct Tally {
    got: Vec<usize>,
    positions: Vec<String>,
    joins: usize,
    lost: usize,
    reconnects: usize,
    cut_closes: usize,
    /// Ends other than the cuts (attempts that failed to open, say).
    other_ends: Vec<String>,
}

impl Tally {
    fn take(&mut self, event: Event) {
        match event {
            Event::Message {
                position: Some(position),
                data,
                ..
            } => {
                self.got.push(data.parse().expect("a number"));
                self.positions.push(position);
            }
            Event::Message { data, .. } if data == "joined" => self.joins += 1,
            Event::Lost { .. } => self.lost += 1,
            Event::Reconnected { .. } => self.reconnects += 1,
            Event::Disconnected {
                error: Error::Closed { code: 4000, .. },
                ..
            } => self.cut_closes += 1,
            Event::Disconnected { error, .. } => self.other_ends.push(error.to_string()),
            _ => {}
        }
    }
}

/// Takes events until `done`, within a deadline.
async fn until(r: &mut Resuming, tally: &mut Tally, what: &str, done: impl Fn(&Tally) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(tally) {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, r.next()).await {
            Ok(Some(event)) => tally.take(event),
            Ok(None) => panic!("{what}: the connection gave up"),
            Err(_) => panic!(
                "{what}: not within 20 s ({} numbers, {} joins, {} reconnects, other ends {:?})",
                tally.got.len(),
                tally.joins,
                tally.reconnects,
                tally.other_ends
            ),
        }
    }
}

async fn cut_cycles(transport: Transport) {
    let server = start().await;
    let client = Client::new()
        .transport(transport)
        .timeout(Duration::from_secs(5));
    let backoff = Backoff::new()
        .initial(Duration::from_millis(1))
        .max(Duration::from_millis(50));
    let mut r = Resuming::new(client, &server.url).backoff(backoff);
    let mut tally = Tally::default();
    let mut next = 0;
    let mut publish = |n: usize| {
        for _ in 0..n {
            server.rooms.send(ROOM, next.to_string());
            next += 1;
        }
    };
    // The stream starts once the first session is in the room (it has no
    // position to resume from before that).
    until(&mut r, &mut tally, "the first join", |t| t.joins == 1).await;
    for k in 0..CUTS {
        publish(CHUNK);
        // Mid-stream: some of this part arrived on the (k+1)-th connection.
        until(&mut r, &mut tally, &format!("cut {k}"), |t| {
            t.joins == k + 1 && t.got.len() > k * CHUNK
        })
        .await;
        let members: Vec<_> = server.members.lock().unwrap().drain(..).collect();
        let open: Vec<_> = members.into_iter().filter(|tx| tx.is_open()).collect();
        assert_eq!(open.len(), 1, "cut {k}: one open session");
        open[0].close(4000, "cut");
    }
    publish(CHUNK);
    let total = (CUTS + 1) * CHUNK;
    until(&mut r, &mut tally, "the whole stream", |t| {
        t.got.len() >= total && t.joins == CUTS + 1
    })
    .await;
    // The server's promise, not the client's repairs: nothing skipped,
    // nothing repeated.
    assert_eq!(r.repairs(), (0, 0), "{}", transport.name());
    r.close().await;

    let mut seen = vec![0usize; total];
    for n in &tally.got {
        seen[*n] += 1;
    }
    let lost = seen.iter().filter(|c| **c == 0).count();
    let duplicated: usize = seen.iter().map(|c| c.saturating_sub(1)).sum();
    let out_of_order = tally.got.windows(2).filter(|w| w[1] <= w[0]).count();
    let offsets: Vec<u64> = tally
        .positions
        .iter()
        .map(|p| p.split_once('-').unwrap().1.parse().unwrap())
        .collect();
    println!(
        "{}: {CUTS} cuts, {total} messages: {lost} lost, {duplicated} duplicated, {out_of_order} out of order; \
         {} reconnects, {} failed attempts",
        transport.name(),
        tally.reconnects,
        tally.other_ends.len()
    );
    assert_eq!((lost, duplicated, out_of_order), (0, 0, 0));
    assert!(offsets.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(tally.lost, 0);
    assert_eq!(tally.cut_closes, CUTS);
    assert_eq!(tally.reconnects, CUTS);
}

#[tokio::test]
async fn hundred_cuts_over_websocket() {
    cut_cycles(Transport::WebSocket).await;
}

#[tokio::test]
async fn hundred_cuts_over_xhr_streaming() {
    cut_cycles(Transport::XhrStreaming).await;
}

#[tokio::test]
async fn hundred_cuts_over_xhr_polling() {
    cut_cycles(Transport::XhrPolling).await;
}

/// A position of another epoch (history gone): `Lost`, then live again.
#[tokio::test]
async fn a_lost_position_is_reported_and_forgotten() {
    let server = start().await;
    server.rooms.send(ROOM, "0");
    let mut first = Resuming::new(Client::new(), &server.url);
    let mut tally = Tally::default();
    until(&mut first, &mut tally, "joined", |t| t.joins == 1).await;
    server.rooms.send(ROOM, "1");
    until(&mut first, &mut tally, "a message", |t| t.got.len() == 1).await;
    let (epoch, _) = tally.positions[0].split_once('-').unwrap();
    let other = format!("{:x}-1", u64::from_str_radix(epoch, 16).unwrap() + 1);

    let mut late = Resuming::new(Client::new(), &server.url).positions([(ROOM, other.as_str())]);
    assert!(late.connect_url().ends_with(&format!("?since={other}")));
    let mut late_tally = Tally::default();
    until(&mut late, &mut late_tally, "lost, then joined", |t| {
        t.joins == 1
    })
    .await;
    assert_eq!(late_tally.lost, 1);
    assert!(
        late.positions_seen().is_empty(),
        "the lost position is forgotten"
    );
    server.rooms.send(ROOM, "2");
    until(&mut late, &mut late_tally, "live after lost", |t| {
        t.got.len() == 1
    })
    .await;
    assert_eq!(late_tally.got, [2]);
    assert!(late.positions_seen().contains_key(ROOM));
    first.close().await;
    late.close().await;
}

/// Room messages lost on the way (a gap in the positions) make `Resuming`
/// drop the connection and resume from the last position it saw; a
/// message seen already is not given twice. The server here is written by
/// hand: the first connection skips position 2, the second (since 1)
/// sends 2 twice, then 3.
#[tokio::test]
async fn a_gap_in_positions_resumes_from_the_last_and_repeats_are_dropped() {
    let envelope = |n: u32| format!(r#"{{"room":"r","pos":"e-{n}","data":"{n}"}}"#);
    let service = SockJsRouter::new(move |session: Session| async move {
        let since = session
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("since=")))
            .map(str::to_owned);
        let (tx, mut rx) = session.split();
        let sent: &[u32] = match since.as_deref() {
            None => &[1, 3],
            Some("e-1") => &[2, 2, 3],
            Some(other) => panic!("resumed from {other}"),
        };
        for n in sent {
            let _ = tx.send(envelope(*n)).await;
        }
        while rx.recv().await.is_some() {}
    });
    let app: Router = Router::new().nest("/gap", service.into_router());
    let backoff = Backoff::new()
        .initial(Duration::from_millis(10))
        .jitter(0.0);
    let mut r = Resuming::new(
        Client::in_process(app).transport(Transport::WebSocket),
        "/gap",
    )
    .backoff(backoff);
    let mut got = Vec::new();
    let mut gaps = Vec::new();
    while got.len() < 3 {
        match timeout(Duration::from_secs(5), r.next())
            .await
            .expect("in time")
        {
            Some(Event::Message { data, .. }) => got.push(data),
            Some(Event::Disconnected { error, .. }) => gaps.push(error),
            Some(_) => {}
            None => panic!("gave up"),
        }
    }
    assert_eq!(got, ["1", "2", "3"]);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(
        matches!(&gaps[0], Error::Protocol(why) if why.contains("position e-3 after e-1")),
        "{gaps:?}"
    );
    assert_eq!(r.positions_seen().get("r").map(String::as_str), Some("e-3"));
    assert_eq!(
        r.repairs(),
        (1, 1),
        "one gap resumed from, one repeat dropped"
    );
    r.close().await;
}
