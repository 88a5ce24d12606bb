//! The cluster checks (round-robin setup): broadcast across the nodes, and
//! what happens when one of them is killed.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use super::client::{self, Client, Event, Kind};
use super::{Cluster, Redis};
use crate::util;

/// Clients in all, alternately websocket and xhr-streaming.
const CLIENTS: usize = 12;

/// Messages each sender sends per round.
const PER_SENDER: usize = 20;

/// Bound on each phase.
const PHASE: Duration = Duration::from_secs(10);

/// The clients of the check and what they saw.
struct Crowd {
    clients: Vec<Client>,
    /// client id → node it opened on (None until opened).
    node: HashMap<usize, String>,
    /// client id → messages received, in order.
    got: HashMap<usize, Vec<String>>,
    /// client id → why its connection ended.
    ended: HashMap<usize, String>,
    events: Receiver<Event>,
    sender: std::sync::mpsc::Sender<Event>,
    nonce: String,
}

impl Crowd {
    fn new() -> Crowd {
        let (sender, events) = channel();
        let nonce = super::nonce();
        Crowd {
            clients: Vec::new(),
            node: HashMap::new(),
            got: HashMap::new(),
            ended: HashMap::new(),
            events,
            sender,
            nonce,
        }
    }

    /// Opens a new client of `kind` through the proxy; returns its id.
    fn open(&mut self, cluster: &Cluster, kind: Kind) -> Result<usize, String> {
        let id = self.clients.len();
        let session = format!("ct{id}-{}", self.nonce);
        let client = Client::open(
            id,
            kind,
            cluster.proxy,
            "/broadcast",
            &session,
            self.sender.clone(),
        )?;
        self.clients.push(client);
        Ok(id)
    }

    /// Takes in events until `done` holds, for at most `PHASE`.
    fn until(&mut self, what: &str, done: impl Fn(&Crowd) -> bool) -> Result<Duration, String> {
        let started = Instant::now();
        let deadline = started + PHASE;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => self.take(event),
                Err(_) => return Err(format!("{what}: not after {PHASE:?}")),
            }
        }
        // What is already there too.
        while let Ok(event) = self.events.try_recv() {
            self.take(event);
        }
        Ok(started.elapsed())
    }

    fn take(&mut self, event: Event) {
        match event {
            Event::Opened { client, node } => {
                self.node.insert(client, node);
            }
            Event::Message { client, text } => self.got.entry(client).or_default().push(text),
            Event::Ended { client, why } => {
                self.ended.insert(client, why);
            }
        }
    }

    /// Clients still connected.
    fn live(&self) -> Vec<usize> {
        (0..self.clients.len())
            .filter(|id| self.node.contains_key(id) && !self.ended.contains_key(id))
            .collect()
    }

    /// One live client per node (websocket and xhr-streaming in turn),
    /// each sending `PER_SENDER` messages `<round>-<node>-<i>`, interleaved.
    /// Returns the expected messages per sender prefix.
    fn broadcast(&mut self, round: &str) -> Result<Vec<String>, String> {
        let mut senders: BTreeMap<String, usize> = BTreeMap::new();
        for id in self.live() {
            let node = self.node[&id].clone();
            let kind_wanted = if senders.len().is_multiple_of(2) {
                Kind::WebSocket
            } else {
                Kind::XhrStreaming
            };
            let entry = senders.entry(node).or_insert(id);
            if self.clients[*entry].kind != kind_wanted && self.clients[id].kind == kind_wanted {
                *entry = id;
            }
        }
        for id in self.live() {
            self.got.remove(&id);
        }
        for i in 0..PER_SENDER {
            for (node, id) in &senders {
                self.clients[*id].send(&format!("{round}-{node}-{i}"))?;
            }
        }
        Ok(senders.keys().map(|n| format!("{round}-{n}-")).collect())
    }

    /// Median time for a message sent by client `id` to come back to it
    /// (broadcast to everyone), one message at a time.
    fn round_trip(&mut self, id: usize, n: usize) -> Result<Duration, String> {
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let text = format!("p-{i}");
            let sent = Instant::now();
            self.clients[id].send(&text)?;
            self.until("a message back to its sender", |c| {
                c.got.get(&id).is_some_and(|got| got.contains(&text))
            })?;
            times.push(sent.elapsed());
        }
        times.sort();
        Ok(times[n / 2])
    }

    /// Every live client got each prefix's `PER_SENDER` messages, once, in
    /// order, and nothing else.
    fn check_round(&mut self, prefixes: &[String]) -> Result<Duration, String> {
        let want = prefixes.len() * PER_SENDER;
        let live = self.live();
        let waited = self.until("every broadcast message at every client", |c| {
            live.iter()
                .all(|id| c.got.get(id).map_or(0, Vec::len) >= want || c.ended.contains_key(id))
        });
        let mut problems = Vec::new();
        for id in &live {
            if let Some(why) = self.ended.get(id) {
                problems.push(format!("client {id} ended: {why}"));
                continue;
            }
            let got = self.got.get(id).cloned().unwrap_or_default();
            for prefix in prefixes {
                let mine: Vec<&String> = got.iter().filter(|m| m.starts_with(prefix)).collect();
                let expected: Vec<String> =
                    (0..PER_SENDER).map(|i| format!("{prefix}{i}")).collect();
                if mine != expected.iter().collect::<Vec<_>>() {
                    problems.push(format!(
                        "client {id} ({} on {}): from {prefix}* got {:?}",
                        self.clients[*id].kind.name(),
                        self.node[id],
                        mine
                    ));
                }
            }
            if got.len() != want {
                problems.push(format!("client {id}: {} messages, want {want}", got.len()));
            }
        }
        if problems.is_empty() {
            waited
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Directory entries naming the node at `port`.
fn entries_of(redis: &Redis, port: u16) -> Result<u64, String> {
    const COUNT: &str = "local n = 0 \
        for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
          local v = redis.call('GET', k) \
          if v and string.sub(v, 1, #ARGV[2]) == ARGV[2] then n = n + 1 end \
        end return n";
    let owner = format!("http://127.0.0.1:{port} ");
    redis
        .cli(&["EVAL", COUNT, "0", "sockjs:session:*", &owner])?
        .parse()
        .map_err(|e| format!("redis-cli EVAL: {e}"))
}

/// Client ids by the node they opened on.
type PerNode = BTreeMap<String, Vec<usize>>;

/// The node killed and what is known of it.
struct Killed {
    /// Its name.
    name: String,
    /// Its port (directory entries name it).
    port: u16,
    /// Its clients.
    clients: Vec<usize>,
    /// Directory entries naming it just before it was killed.
    entries_before: u64,
    /// One of its xhr-streaming clients, if any.
    dead_xhr: Option<usize>,
    at: Instant,
    /// How long its clients took to see their connections end.
    ended_in: Duration,
}

/// Broadcast across the nodes, then the node with the most clients killed:
/// its clients' connections end and reopen on live nodes, the directory
/// forgets its sessions, and broadcast goes on for everyone else.
pub(crate) fn broadcast_and_kill(cluster: &mut Cluster, redis: &Redis) -> Result<String, String> {
    eprintln!("==> cluster checks: broadcast across the nodes, then a node killed");
    let (mut crowd, per_node, spread) = open_crowd(cluster)?;

    // (c) Broadcast across the three nodes.
    let prefixes = crowd.broadcast("a")?;
    let took = crowd.check_round(&prefixes)?;
    eprintln!(
        "    broadcast: {} senders x {PER_SENDER}, every client got all {} once, in order ({} ms)",
        prefixes.len(),
        prefixes.len() * PER_SENDER,
        took.as_millis()
    );
    let round_trip = streaming_round_trip(&mut crowd)?;

    // (d) Kill the node with the most clients.
    let killed = kill_busiest(cluster, redis, &mut crowd, &per_node)?;
    reconnect(cluster, &mut crowd, &killed)?;
    let forgotten_in = directory_forgets(cluster, redis, &crowd, &killed)?;

    // Broadcast goes on for everyone else.
    let prefixes = crowd.broadcast("b")?;
    let took = crowd.check_round(&prefixes)?;
    let live = crowd.live().len();
    eprintln!(
        "    broadcast after the kill: {live} clients got all {} once, in order ({} ms)",
        prefixes.len() * PER_SENDER,
        took.as_millis()
    );
    nothing_lost(cluster)?;
    for c in &crowd.clients {
        c.close();
    }
    Ok(format!(
        "{CLIENTS} clients ({spread}) got 3x{PER_SENDER} broadcasts once, in order; \
         xhr-streaming round trip {:.1} ms; \
         killed {}: its {} clients' connections ended in {} ms and reopened on live nodes; \
         directory forgot its {} sessions in {} ms (TTL {} ms); \
         {live} clients then got 2x{PER_SENDER} more",
        round_trip.as_secs_f64() * 1e3,
        killed.name,
        killed.clients.len(),
        killed.ended_in.as_millis(),
        killed.entries_before,
        forgotten_in.as_millis(),
        cluster.claim_ttl.as_millis(),
    ))
}

/// Opens `CLIENTS` clients (websocket and xhr-streaming in turn) through
/// the proxy and checks they landed on all three nodes. Returns the crowd,
/// its clients per node, and that spread as text.
fn open_crowd(cluster: &Cluster) -> Result<(Crowd, PerNode, String), String> {
    let mut crowd = Crowd::new();
    for i in 0..CLIENTS {
        let kind = if i.is_multiple_of(2) {
            Kind::WebSocket
        } else {
            Kind::XhrStreaming
        };
        crowd.open(cluster, kind)?;
    }
    crowd.until("every client open", |c| c.node.len() == CLIENTS)?;
    let mut per_node = PerNode::new();
    for (id, node) in &crowd.node {
        per_node.entry(node.clone()).or_default().push(*id);
    }
    let spread = per_node
        .iter()
        .map(|(n, ids)| format!("{n}: {}", ids.len()))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!("    {CLIENTS} clients open ({spread})");
    if per_node.len() < 3 {
        return Err(format!("the clients are on fewer than 3 nodes ({spread})"));
    }
    Ok((crowd, per_node, spread))
}

/// Frames of a streaming response are not held back on the way (the proxy
/// forwards each at once: `option http-no-delay`). Returns the median round
/// trip of an xhr-streaming client.
fn streaming_round_trip(crowd: &mut Crowd) -> Result<Duration, String> {
    let streaming = (0..CLIENTS)
        .find(|id| crowd.clients[*id].kind == Kind::XhrStreaming)
        .expect("xhr-streaming clients");
    let round_trip = crowd.round_trip(streaming, 10)?;
    eprintln!(
        "    xhr-streaming round trip through the proxy (xhr_send, then the stream): median {:.1} ms",
        round_trip.as_secs_f64() * 1e3
    );
    if round_trip > Duration::from_millis(50) {
        return Err(format!(
            "an xhr-streaming round trip takes {round_trip:?}: frames are held back on the way"
        ));
    }
    Ok(round_trip)
}

/// Kills the node with the most clients (SIGKILL); its clients, and only
/// they, see their connections end.
fn kill_busiest(
    cluster: &mut Cluster,
    redis: &Redis,
    crowd: &mut Crowd,
    per_node: &PerNode,
) -> Result<Killed, String> {
    // The busiest node among those holding an xhr-streaming session (the
    // directory names those; the forgetting check needs some).
    let has_xhr = |ids: &Vec<usize>| {
        ids.iter()
            .any(|id| crowd.clients[*id].kind == Kind::XhrStreaming)
    };
    let (victim, victims) = per_node
        .iter()
        .max_by_key(|(_, ids)| (has_xhr(ids), ids.len()))
        .map(|(n, ids)| (n.clone(), ids.clone()))
        .expect("three nodes");
    let victim_port = cluster
        .node_addr(&victim)
        .map(|a| a.port())
        .ok_or("no such node")?;
    let entries_before = entries_of(redis, victim_port)?;
    let dead_xhr = victims
        .iter()
        .copied()
        .find(|id| crowd.clients[*id].kind == Kind::XhrStreaming);
    let killed_at = Instant::now();
    for (name, _, server) in &mut cluster.nodes {
        if *name == victim {
            if let Some(mut server) = server.take() {
                server.kill();
            }
        }
    }
    let ended_in = crowd.until("the killed node's clients see their connections end", |c| {
        victims.iter().all(|id| c.ended.contains_key(id))
    })?;
    let others_ended: Vec<String> = crowd
        .ended
        .iter()
        .filter(|(id, _)| !victims.contains(id))
        .map(|(id, why)| format!("client {id}: {why}"))
        .collect();
    if !others_ended.is_empty() {
        return Err(format!(
            "clients of live nodes lost their connections: {}",
            others_ended.join("; ")
        ));
    }
    eprintln!(
        "    killed {victim} (SIGKILL): its {} clients saw their connections end within {} ms",
        victims.len(),
        ended_in.as_millis()
    );
    Ok(Killed {
        name: victim,
        port: victim_port,
        clients: victims,
        entries_before,
        dead_xhr,
        at: killed_at,
        ended_in,
    })
}

/// The killed node's clients reconnect (a new session each), through the
/// proxy, to live nodes.
fn reconnect(cluster: &Cluster, crowd: &mut Crowd, killed: &Killed) -> Result<(), String> {
    let mut reopened = Vec::new();
    for id in &killed.clients {
        let kind = crowd.clients[*id].kind;
        reopened.push(
            reopen(cluster, crowd, kind)
                .map_err(|last| format!("client {id} cannot reconnect: {last}"))?,
        );
    }
    crowd.until("the reconnected clients open", |c| {
        reopened.iter().all(|id| c.node.contains_key(id))
    })?;
    let on_victim: Vec<usize> = reopened
        .iter()
        .copied()
        .filter(|id| crowd.node[id] == killed.name)
        .collect();
    if !on_victim.is_empty() {
        return Err(format!("clients {on_victim:?} reopened on the dead node"));
    }
    eprintln!(
        "    they reconnected: {} new sessions on live nodes",
        reopened.len()
    );
    Ok(())
}

/// Opens a new client of `kind`, three tries 200 ms apart; the last error
/// when none succeeds.
fn reopen(cluster: &Cluster, crowd: &mut Crowd, kind: Kind) -> Result<usize, String> {
    let mut last = String::new();
    for _ in 0..3 {
        match crowd.open(cluster, kind) {
            Ok(new) => return Ok(new),
            Err(e) => {
                last = e;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Err(last)
}

/// The directory forgets the dead node's sessions within the claim TTL,
/// and a send to one of them is then a 404. Returns how long it took.
fn directory_forgets(
    cluster: &Cluster,
    redis: &Redis,
    crowd: &Crowd,
    killed: &Killed,
) -> Result<Duration, String> {
    // Nothing to forget would make the wait below pass with nothing
    // checked: the busiest node holds xhr-streaming sessions, which the
    // directory names.
    if killed.entries_before == 0 {
        return Err(format!(
            "the directory named none of {}'s sessions before the kill: nothing to see forgotten",
            killed.name
        ));
    }
    let deadline = killed.at + cluster.claim_ttl + Duration::from_secs(2);
    let forgotten_in = loop {
        if entries_of(redis, killed.port)? == 0 {
            break killed.at.elapsed();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the directory still names {} {} s after it died",
                killed.name,
                deadline.duration_since(killed.at).as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if let Some(id) = killed.dead_xhr {
        // Unknown now: 404, as for any session that does not exist.
        let path = crowd.clients[id].send_path();
        let (status, body) = client::post(cluster.proxy, &path, "[\"x\"]")?;
        if status != 404 {
            return Err(format!(
                "POST {path} after the directory forgot it: {status} {body}"
            ));
        }
    }
    eprintln!(
        "    the directory forgot {}'s {} sessions {} ms after it died (TTL {} ms)",
        killed.name,
        killed.entries_before,
        forgotten_in.as_millis(),
        cluster.claim_ttl.as_millis()
    );
    Ok(forgotten_in)
}

/// Nothing dropped, missed or doubled on the way (the live nodes' view).
fn nothing_lost(cluster: &Cluster) -> Result<(), String> {
    for (name, port, server) in &cluster.nodes {
        if server.is_none() {
            continue;
        }
        let addr = ([127, 0, 0, 1], *port).into();
        let stats = util::http_get(addr, "/stats")
            .map(|(_, b)| b)
            .unwrap_or_default();
        for counter in ["dropped", "missed", "duplicates"] {
            if !stats.contains(&format!("\"{counter}\":0")) {
                return Err(format!("node {name}: {counter} is not 0: {stats}"));
            }
        }
    }
    Ok(())
}
