//! The resume check: clients receive a numbered room stream from
//! `/cluster_resume` (room history in Redis Streams), the node most of
//! them are on is killed, and they reconnect through the proxy, to live
//! nodes, with the last position they saw (`?since=`): each must get every
//! message once and in order, counted.
//!
//! With the browser suite on, two sockjs-client connections in Chromium,
//! wrapped in `sockjs-resume.js` (websocket and xhr-streaming, through the
//! proxy), receive the same stream, and the node killed is one that holds
//! some of them: they must resume the same way, counted in the page.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Client, Event, Kind};
use super::{resuming, Cluster};
use crate::util;

/// What the browser part needs: Chromium, the e2e runner, the page port,
/// where its report goes.
pub(crate) struct Browser<'a> {
    pub(crate) chromium: &'a std::path::Path,
    pub(crate) runner: &'a std::path::Path,
    pub(crate) page_port: u16,
    pub(crate) out: std::path::PathBuf,
}

/// Receivers on the Rust client's `sockjs_client::resume::Resuming`
/// (websocket, xhr-polling), next to the raw ones: reconnecting and
/// `since=` are its own. They may or may not be on the node killed (a
/// polling client on it may also just poll a live node, which opens a
/// new session under the same id: see `cluster-resume` in harness.js).
const RESUMING: usize = 2;

/// Waits until the room has `total` members over the live nodes.
fn wait_members(
    cluster: &Cluster,
    check: &mut Check,
    client: Option<&str>,
    total: usize,
    what: &str,
) -> Result<BTreeMap<String, usize>, String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let m = members(cluster, &check.room, client);
        if m.values().sum::<usize>() >= total {
            return Ok(m);
        }
        if Instant::now() > until {
            return Err(format!(
                "{what} did not join within 30 s (members per node: {m:?})"
            ));
        }
        // Take in the raw receivers' events meanwhile.
        while let Ok(event) = check.events.recv_timeout(Duration::from_millis(50)) {
            if let Some((r, why)) = check.take(event) {
                return Err(format!("receiver {r}'s connection ended: {why}"));
            }
        }
    }
}

/// The e2e runner with only its `cluster/resume` case, in the background:
/// its result line comes back on the channel.
fn start_browser(
    browser: &Browser<'_>,
    cluster: &Cluster,
    room: &str,
) -> Result<(std::process::Child, Receiver<Result<String, String>>), String> {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new("node");
    cmd.arg(browser.runner.join("run.mjs"))
        .args(["--server", &cluster.url()])
        .args(["--page-port", &browser.page_port.to_string()])
        .arg("--chromium")
        .arg(browser.chromium)
        .arg("--out")
        .arg(&browser.out)
        .args(["--label", "cluster resume"])
        .arg("--resume-js")
        .arg(crate::e2e::resume_js())
        .args(["--resume-room", room])
        .args(["--resume-expect", &SENT.to_string()])
        .args(["--case-timeout-ms", "75000"])
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("node: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut result = Err("the browser run printed no result".to_owned());
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            eprintln!("    [browser] {line}");
            if let Some(rest) = line.strip_prefix("ok   cluster/resume") {
                let detail = rest.split_once("): ").map_or(rest, |(_, d)| d);
                result = Ok(detail.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("FAIL cluster/resume") {
                result = Err(rest.trim().to_owned());
            }
        }
        let _ = tx.send(result);
    });
    Ok((child, rx))
}

/// `/cluster_resume` members of `room` per live node.
fn members(cluster: &Cluster, room: &str, client: Option<&str>) -> BTreeMap<String, usize> {
    let filter = client.map(|c| format!("&client={c}")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, port, server) in &cluster.nodes {
        if server.is_none() {
            continue;
        }
        let addr = ([127, 0, 0, 1], *port).into();
        let n = util::http_get(
            addr,
            &format!("/cluster_resume_members?room={room}{filter}"),
        )
        .and_then(|(_, body)| {
            let start = body.find("\"members\":")? + 10;
            let digits: String = body[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .unwrap_or(0);
        out.insert(name.clone(), n);
    }
    out
}

/// Clients receiving the stream, alternately websocket and xhr-streaming.
const RECEIVERS: usize = 8;

/// Messages in the stream.
const SENT: usize = 600;

/// Between two messages of the stream.
const PACE: Duration = Duration::from_millis(5);

/// The node is killed once this many messages are sent.
const KILL_AFTER: usize = SENT / 3;

/// Bound on the whole check.
const BOUND: Duration = Duration::from_secs(60);

/// One receiving client, across its sessions.
struct Receiving {
    kind: Kind,
    /// The current session's client.
    client: Client,
    node: Option<String>,
    joined: bool,
    /// Room messages: position and number, in the order they came.
    got: Vec<(String, usize)>,
    sessions: usize,
    lost: bool,
}

/// A room message's position and number, from
/// `{"room":"..","pos":"..","data":"<n>"}`.
fn envelope(text: &str) -> Option<(String, usize)> {
    let field = |name: &str| {
        let start = text.find(&format!("\"{name}\":\""))? + name.len() + 4;
        let len = text[start..].find('"')?;
        Some(&text[start..start + len])
    };
    Some((field("pos")?.to_owned(), field("data")?.parse().ok()?))
}

struct Check {
    receivers: Vec<Receiving>,
    /// Client id → receiver.
    of: HashMap<usize, usize>,
    next_id: usize,
    events: Receiver<Event>,
    sender: Sender<Event>,
    room: String,
    nonce: String,
}

impl Check {
    /// Opens a session for receiver `r` through the proxy, since `since`.
    fn open(
        &mut self,
        cluster: &Cluster,
        kind: Kind,
        since: Option<&str>,
    ) -> Result<(usize, Client), String> {
        let id = self.next_id;
        self.next_id += 1;
        let query = match since {
            Some(since) => format!("?room={}&since={since}", self.room),
            None => format!("?room={}", self.room),
        };
        let session = format!("rs{id}-{}", self.nonce);
        let mut last = String::new();
        for _ in 0..3 {
            match Client::open_with_query(
                id,
                kind,
                cluster.proxy,
                "/cluster_resume",
                &session,
                &query,
                self.sender.clone(),
            ) {
                Ok(client) => return Ok((id, client)),
                Err(e) => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last)
    }

    fn take(&mut self, event: Event) -> Option<(usize, String)> {
        match event {
            Event::Opened { client, node } => {
                if let Some(r) = self.of.get(&client) {
                    self.receivers[*r].node = Some(node);
                }
            }
            Event::Message { client, text } => {
                let r = *self.of.get(&client)?;
                let receiver = &mut self.receivers[r];
                match text.as_str() {
                    "joined" => receiver.joined = true,
                    "lost" => receiver.lost = true,
                    _ => receiver.got.extend(envelope(&text)),
                }
            }
            Event::Ended { client, why } => {
                let r = *self.of.get(&client)?;
                return Some((r, why));
            }
        }
        None
    }
}

pub(crate) fn resume_after_kill(
    cluster: &mut Cluster,
    browser: Option<&Browser<'_>>,
) -> Result<String, String> {
    eprintln!("==> resume check: a numbered room stream, a node killed, clients resume elsewhere");
    let started = Instant::now();
    let deadline = started + BOUND;
    let nonce = super::nonce();
    let (sender, events) = channel();
    let mut check = Check {
        receivers: Vec::new(),
        of: HashMap::new(),
        next_id: 0,
        events,
        sender,
        room: format!("r{nonce}"),
        nonce,
    };
    for i in 0..RECEIVERS {
        let kind = if i % 2 == 0 {
            Kind::WebSocket
        } else {
            Kind::XhrStreaming
        };
        let (id, client) = check.open(cluster, kind, None)?;
        check.of.insert(id, i);
        check.receivers.push(Receiving {
            kind,
            client,
            node: None,
            joined: false,
            got: Vec::new(),
            sessions: 1,
            lost: false,
        });
    }
    let wait =
        |check: &mut Check, what: &str, done: &dyn Fn(&Check) -> bool| -> Result<(), String> {
            while !done(check) {
                let left = deadline.saturating_duration_since(Instant::now());
                match check
                    .events
                    .recv_timeout(left.min(Duration::from_millis(100)))
                {
                    Ok(event) => {
                        if let Some((r, why)) = check.take(event) {
                            return Err(format!("receiver {r}'s connection ended: {why}"));
                        }
                    }
                    Err(_) if Instant::now() >= deadline => {
                        return Err(format!("{what}: not within {BOUND:?}"))
                    }
                    Err(_) => {}
                }
            }
            Ok(())
        };
    wait(&mut check, "every receiver joined", &|c| {
        c.receivers.iter().all(|r| r.joined && r.node.is_some())
    })?;
    let mut per_node: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in check.receivers.iter().enumerate() {
        per_node
            .entry(r.node.clone().unwrap_or_default())
            .or_default()
            .push(i);
    }
    let spread = per_node
        .iter()
        .map(|(n, ids)| format!("{n}: {}", ids.len()))
        .collect::<Vec<_>>()
        .join(", ");
    // The Rust client's `Resuming` receivers join too.
    let url = format!("{}/cluster_resume?room={}", cluster.url(), check.room);
    let resuming: Vec<_> = [
        sockjs_client::Transport::WebSocket,
        sockjs_client::Transport::XhrPolling,
    ]
    .into_iter()
    .take(RESUMING)
    .map(|transport| {
        let options = resuming::Options {
            transport,
            sent: SENT,
            linger: Duration::ZERO,
            silence: None,
            backoff: (Duration::from_millis(100), Duration::from_secs(2)),
            joined: None,
        };
        resuming::start(url.clone(), options, deadline)
    })
    .collect();
    wait_members(
        cluster,
        &mut check,
        None,
        RECEIVERS + RESUMING,
        "the Resuming receivers",
    )?;
    // The browser's clients join too; the node killed must hold some.
    let mut browser_run = None;
    let mut browser_nodes: BTreeMap<String, usize> = BTreeMap::new();
    if let Some(browser) = browser {
        let (mut child, result) = start_browser(browser, cluster, &check.room)?;
        // Both must be members before the stream starts: a client that
        // joins late has missed its first numbers, which no resume brings
        // back (it had no position yet).
        let m = match wait_members(
            cluster,
            &mut check,
            Some("browser-xhr-streaming"),
            1,
            "the browser's xhr-streaming client",
        )
        .and_then(|_| {
            wait_members(
                cluster,
                &mut check,
                Some("browser-websocket"),
                1,
                "the browser's websocket client",
            )
        }) {
            Ok(m) => m,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        browser_run = Some((child, result));
        browser_nodes = m.into_iter().filter(|(_, b)| *b > 0).collect();
        eprintln!("    the browser's websocket client is on {browser_nodes:?}");
    }
    let (victim, victims) = per_node
        .iter()
        .filter(|(n, _)| browser_nodes.is_empty() || browser_nodes.contains_key(*n))
        .max_by_key(|(_, ids)| ids.len())
        .map(|(n, ids)| (n.clone(), ids.clone()))
        .or_else(|| {
            // The browser's node has no Rust receiver.
            browser_nodes.keys().next().map(|n| (n.clone(), Vec::new()))
        })
        .ok_or("no receivers")?;
    // The stream is sent from another node, directly.
    let source = cluster
        .nodes
        .iter()
        .find(|(name, _, server)| *name != victim && server.is_some())
        .map(|(name, _, _)| name.clone())
        .ok_or("no live node to send from")?;
    let source_addr = cluster.node_addr(&source).ok_or("no such node")?;
    let publisher = Client::open_with_query(
        check.next_id,
        Kind::WebSocket,
        source_addr,
        "/cluster_resume",
        &format!("rs-pub-{}", check.nonce),
        &format!("?room={}", check.room),
        check.sender.clone(),
    )?;
    check.next_id += 1;
    eprintln!(
        "    {RECEIVERS} receivers in room {} ({spread}); the stream comes from {source}; {victim} will be killed",
        check.room
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let sending = resuming::publish(publisher, SENT, PACE, sent.clone());

    // Kill the victim once a third is sent, taking in events meanwhile.
    while sent.load(Ordering::Relaxed) < KILL_AFTER {
        if Instant::now() >= deadline {
            return Err("the stream did not start".into());
        }
        // One event at a time: a loop taking events until a 10 ms lull
        // would, with eight receivers busy, only end with the stream, and
        // the kill would come after it.
        if let Ok(event) = check.events.recv_timeout(Duration::from_millis(10)) {
            if let Some((r, why)) = check.take(event) {
                return Err(format!(
                    "receiver {r}'s connection ended before the kill: {why}"
                ));
            }
        }
    }
    let killed_at = Instant::now();
    let killed_after = sent.load(Ordering::Relaxed);
    for (name, _, server) in &mut cluster.nodes {
        if *name == victim {
            if let Some(mut server) = server.take() {
                server.kill();
            }
        }
    }
    if browser.is_some() {
        eprintln!(
            "    the browser's websocket client right after the kill: {:?}",
            members(cluster, &check.room, Some("browser-websocket"))
        );
    }
    // Its receivers see their connections end and reconnect, since the
    // last position each saw; the others must not notice.
    let mut waiting: Vec<usize> = victims.clone();
    let mut reconnected_in = Duration::ZERO;
    while !waiting.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("receivers {waiting:?} did not see their node die"));
        }
        let Ok(event) = check
            .events
            .recv_timeout(left.min(Duration::from_millis(100)))
        else {
            continue;
        };
        let Some((r, why)) = check.take(event) else {
            continue;
        };
        if !victims.contains(&r) {
            return Err(format!(
                "receiver {r} on a live node lost its connection: {why}"
            ));
        }
        waiting.retain(|w| *w != r);
        let since = check.receivers[r].got.last().map(|(pos, _)| pos.clone());
        let kind = check.receivers[r].kind;
        let (id, client) = check
            .open(cluster, kind, since.as_deref())
            .map_err(|e| format!("receiver {r} cannot reconnect: {e}"))?;
        check.of.insert(id, r);
        let receiver = &mut check.receivers[r];
        receiver.client.close();
        receiver.client = client;
        receiver.node = None;
        receiver.joined = false;
        receiver.sessions += 1;
        reconnected_in = killed_at.elapsed();
    }
    if browser.is_some() {
        eprintln!(
            "    the browser's clients once the receivers reconnected: websocket {:?}, xhr-streaming {:?}",
            members(cluster, &check.room, Some("browser-websocket")),
            members(cluster, &check.room, Some("browser-xhr-streaming"))
        );
    }
    wait(&mut check, "the reconnected receivers joined", &|c| {
        c.receivers.iter().all(|r| r.joined && r.node.is_some())
    })?;
    if let Some(r) = victims
        .iter()
        .find(|r| check.receivers[**r].node.as_deref() == Some(victim.as_str()))
    {
        return Err(format!("receiver {r} reconnected to the dead node"));
    }
    // The publisher's session ends with it (dropped, not closed).
    drop(
        sending
            .join()
            .map_err(|_| "the sending thread panicked".to_owned())??,
    );
    wait(&mut check, "every receiver got the whole stream", &|c| {
        c.receivers
            .iter()
            .all(|r| r.got.iter().any(|(_, n)| *n == SENT - 1))
    })
    .map_err(|e| {
        let progress: Vec<String> = check
            .receivers
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{i}: {} messages, the last {:?}, on {}",
                    r.got.len(),
                    r.got.last().map(|(_, n)| n),
                    r.node.as_deref().unwrap_or("?")
                )
            })
            .collect();
        format!("{e} ({})", progress.join("; "))
    })?;

    // Every message once, in order.
    let mut lost = 0;
    let mut duplicated = 0;
    let mut out_of_order = 0;
    for (i, r) in check.receivers.iter().enumerate() {
        let numbers: Vec<usize> = r.got.iter().map(|(_, n)| *n).collect();
        let (r_lost, r_dup, r_order) = resuming::count(&numbers, SENT);
        if r_lost + r_dup + r_order > 0 || r.lost {
            eprintln!(
                "    receiver {i} ({}, {} sessions{}): {r_lost} lost, {r_dup} duplicated, {r_order} out of order",
                r.kind.name(),
                r.sessions,
                if r.lost { ", told lost" } else { "" }
            );
        }
        lost += r_lost;
        duplicated += r_dup;
        out_of_order += r_order;
    }
    let told_lost = check.receivers.iter().filter(|r| r.lost).count();
    for r in &check.receivers {
        r.client.close();
    }
    let mut summary = format!(
        "{RECEIVERS} receivers x {SENT} messages; {victim} killed after {killed_after}: its {} \
         receivers reconnected through the proxy with ?since= within {} ms; \
         {lost} lost, {duplicated} duplicated, {out_of_order} out of order, {told_lost} told lost",
        victims.len(),
        reconnected_in.as_millis()
    );
    // The Resuming receivers, counted alike.
    let mut resuming_failed = None;
    let mut resuming_summary = Vec::new();
    for handle in resuming {
        match handle.join() {
            Ok(Ok(t)) => {
                let (l, d, o) = resuming::count(&t.got, SENT);
                // A repeat is the server's duplicate, hidden by the client:
                // counted. A gap the client resumed from is a message lost
                // on the way when a node that forwarded for the session
                // died with it in flight: repaired, and reported.
                let (gaps, repeats) = t.repairs;
                let l = l + t.lost;
                let d = d + repeats as usize;
                lost += l;
                duplicated += d;
                out_of_order += o;
                resuming_summary.push(format!(
                    "{} ({} reconnects, {gaps} after a gap): {l} lost, {d} duplicated, \
                     {o} out of order",
                    t.transport, t.reconnects
                ));
            }
            Ok(Err(e)) => resuming_failed = Some(e),
            Err(_) => resuming_failed = Some("a Resuming thread panicked".into()),
        }
    }
    summary.push_str(&format!(
        "; sockjs_client::resume::Resuming receivers: {}",
        resuming_summary.join(", ")
    ));
    if let Some(e) = resuming_failed {
        return Err(format!("{summary}; {e}"));
    }
    let mut browser_failed = None;
    if let Some((mut child, result)) = browser_run {
        let outcome = result
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| Err("the browser run did not end within 90 s".into()));
        let _ = child.kill();
        let _ = child.wait();
        match outcome {
            Ok(detail) => summary.push_str(&format!("; {detail}")),
            Err(e) => browser_failed = Some(e),
        }
    }
    eprintln!("    {summary}");
    if let Some(e) = browser_failed {
        return Err(format!("{summary}; browser: {e}"));
    }
    if lost + duplicated + out_of_order + told_lost > 0 {
        return Err(summary);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_parse() {
        assert_eq!(
            envelope(r#"{"room":"r1","pos":"5f3a-17","data":"16"}"#),
            Some(("5f3a-17".to_owned(), 16))
        );
        assert_eq!(envelope("joined"), None);
        assert_eq!(
            envelope(r#"{"room":"r1","pos":"5f3a-17","data":"x"}"#),
            None
        );
        assert_eq!(envelope(r#"{"room":"r1","pos":"5f3a-17"#), None);
    }
}
