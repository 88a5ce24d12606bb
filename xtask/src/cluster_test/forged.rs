//! The forged-hop check (round-robin setup): a client that sends the
//! forwarding marker to a node that does not hold a session must not get
//! a shadow of it there (issue 15): every such request is refused with
//! 403, and the victim's messages all reach the victim's node.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{Cluster, Redis};

/// One HTTP/1.1 request on a connection of its own; the status and body.
fn post(
    addr: SocketAddr,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .map_err(|e| format!("POST {path}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("POST {path}: no status in {answer:?}"))?;
    // The answers checked here have a Content-Length (not chunked).
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_owned()))
}

pub(crate) fn forged_marker(cluster: &Cluster, redis: &Redis) -> Result<String, String> {
    eprintln!("==> cluster checks: a client's forwarding marker opens nothing, reads nothing");
    let n1 = cluster.node_addr("n1").ok_or("no node n1")?;
    let n2 = cluster.node_addr("n2").ok_or("no node n2")?;
    let id = format!(
        "forge{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let path = |transport: &str| format!("/echo/000/{id}/{transport}");
    let (status, body) = post(n1, &path("xhr"), "", &[])?;
    if (status, body.as_str()) != (200, "o\n") {
        return Err(format!("the victim's open on n1: {status} {body:?}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let forged = ["1".to_owned(), format!("v1 {now} {}", "0".repeat(64))];
    let mut refused = 0;
    for marker in &forged {
        let header = [("X-SockJS-Forwarded", marker.as_str())];
        // At the node that does not hold the session, and through the proxy.
        for (addr, where_) in [
            (n2, "n2"),
            (cluster.proxy, "the proxy"),
            (cluster.proxy, "the proxy"),
        ] {
            let (status, body) = post(addr, &path("xhr"), "", &header)?;
            if status != 403 || body != "Forwarded request not authenticated." {
                return Err(format!(
                    "a poll with marker {marker:?} at {where_}: {status} {body:?}, want 403"
                ));
            }
            refused += 1;
        }
        let message = format!("[\"victim msg {marker}\"]");
        let (status, _) = post(n2, &path("xhr_send"), &message, &[])?;
        if status != 204 {
            return Err(format!("the victim's send through n2: {status}"));
        }
        let (status, body) = post(n2, &path("xhr_send"), "[\"x\"]", &header)?;
        if status != 403 {
            return Err(format!(
                "a send with marker {marker:?} at n2: {status} {body:?}, want 403"
            ));
        }
        refused += 1;
    }
    // The session is n1's alone, and holds every message the victim sent.
    let entry = redis.cli(&["GET", &format!("sockjs:session:/echo/{id}")])?;
    let n1_url = format!("http://{n1}");
    if !entry.starts_with(&n1_url) {
        return Err(format!(
            "the directory entry is {entry:?}, want n1's ({n1_url})"
        ));
    }
    let (status, body) = post(n1, &path("xhr"), "", &[])?;
    let want = format!(
        "a[{}]\n",
        forged
            .iter()
            .map(|m| format!("\"victim msg {m}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    if (status, body.as_str()) != (200, want.as_str()) {
        return Err(format!(
            "the victim's poll on n1: {status} {body:?}, want {want:?}"
        ));
    }
    Ok(format!(
        "{refused} forged requests refused (403); the victim's messages all reached it"
    ))
}
