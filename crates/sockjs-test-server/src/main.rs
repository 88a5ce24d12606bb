//! The test server: the services of the SockJS protocol definition, which
//! the conformance suite (`cargo xtask protocol-test`), the browser suite
//! (`cargo xtask e2e`) and the benchmark (`cargo xtask bench`) run against.
//!
//! ```text
//! sockjs-test-server [--port 8081] [--host 127.0.0.1] [--disconnect-delay-ms N]
//!                    [--heartbeat-delay-ms N] [--sockjs-url URL] [--break NAME]
//!                    [--shutdown-deadline-ms N] [--header-timeout-ms N] [--idle-timeout-ms N]
//!                    [--redis URL [--node-url URL] [--claim-ttl-ms N]
//!                     [--cluster-secret S] [--cluster-ca PEM] [--redis-ca PEM]] [--node-name NAME]
//!                    [--resume-history N]
//! ```
//!
//! `GET /stats` answers `{"open_sessions":N,"shutting_down":false,
//! "http2_sessions":{..},"compressed_sessions":N}`, counted over every
//! service (`/echo` sessions opened over HTTP/2 by transport, WebSockets
//! that negotiated permessage-deflate; on a cluster node also `node` and
//! `redis`: the broker's counters and whether it is subscribed).
//! `--tls-cert` and `--tls-key` serve HTTPS with `h2` offered by ALPN.
//!
//! As a node of a cluster (`examples/cluster/`): `--redis URL` carries every
//! service's room messages (`/broadcast`) to the other nodes through Redis
//! pub/sub (one channel per service); with `--node-url` (this node's base
//! URL as the other nodes reach it) the services also share a Redis session
//! directory, so that any node serves any session behind a load balancer
//! without stickiness (`--claim-ttl-ms`: how long a dead node's sessions
//! stay in it, 15 s). Forwarded requests are signed with a secret shared
//! through Redis, or with `--cluster-secret`; `--cluster-ca` trusts a CA
//! for `https://` node URLs (nodes serving `--tls-cert`), `--redis-ca` for
//! a `rediss://` Redis. `--node-name` names the node in its log lines and in
//! an `X-Node` response header (set by the node that served the request,
//! or, for a forwarded one, by the session's node).
//!
//! It serves with [`sockjs::serve`]: a request head must arrive within
//! `--header-timeout-ms` (10 s; the conformance suite's `security/` group
//! runs it at 1 s), a connection with no request in flight is closed after
//! `--idle-timeout-ms` (90 s).
//!
//! On Ctrl-C or SIGTERM every service shuts down
//! gracefully (one [`sockjs::Shutdown`] for all): sessions get
//! `c[1001,"Server shutting down"]`, new ones `503`, and the process exits
//! within the deadline (10 s, `--shutdown-deadline-ms`) plus about two
//! seconds.
//!
//! | prefix | behaviour |
//! |---|---|
//! | `/echo` | echoes every message; `response_limit` 4096 |
//! | `/disabled_websocket_echo` | echo without the websocket transports |
//! | `/cookie_needed_echo` | echo with JSESSIONID on |
//! | `/close` | closes every session at once with 3000 `Go away!` |
//! | `/goodbye` | sends `1` to `20`, then closes with 3000 `Go away!` (not in the protocol definition: messages queued right before a close) |
//! | `/ticker` | sends `tick!` every second |
//! | `/amplify` | answers message `n` (1..=18, else 1) with `x` repeated 2^n |
//! | `/broadcast` | every message goes to every open session |
//! | `/room_broadcast` | every session joins room `all`; every message goes to it (through Redis pub/sub on a cluster node) |
//! | `/history_broadcast` | as `/room_broadcast`, with history (10 000 messages, up to 64 MiB; in Redis streams on a cluster node): members get `{"room","pos","data"}` envelopes |
//! | `/cluster_resume` | room history (10 000 messages, `--resume-history N`; in Redis on a cluster node): a session joins the room named by `?room=` (`resume` without), since the position in `?since=` when given (`lost` is sent first when that history is gone, `bad-position` when it does not parse), then is sent `joined`; each of its messages goes to the room, whose members get `{"room","pos","data"}` envelopes; with `?publish` a session only sends to the room (it does not join it) |
//! | `GET /cluster_resume_cut?room=R` | closes every `/cluster_resume` member of room `R` on this node with 4000 `cut` (its client reconnects and resumes: the browser suite's `resume` case); answers `{"cut":N}`, readable from any origin |
//! | `GET /cluster_resume_members?room=R[&client=C]` | how many `/cluster_resume` sessions are in room `R` on this node (only those opened with `?client=C` when given), `{"members":N}` (the cluster test finds the browser's node with it) |
//! | `/deflate_echo` | echo with WebSocket compression on (permessage-deflate) |
//! | `/restricted_echo` | echo for pages of the `--allowed-origin`s only (`Config::allowed_origins`) |
//! | `/auth_echo` | echo behind a handshake hook: the user comes from a `user` cookie or a `?token=<name>-token` query; without one, `401 Log in first.`; the session's first message is `hello <user>` |
//! | `/bound_echo` | echo with sessions bound to the client address (`Config::bind_to_address`), which a loopback proxy may name in `X-Forwarded-For` (`Config::trusted_proxies`) |
//! | `/untrusted_proxy_echo` | as `/bound_echo`, but trusting only 192.0.2.1: loopback's `X-Forwarded-For` is ignored |
//! | `/rebind_echo` | `/auth_echo` with the hook re-run on every request of a session (`Config::bind_to_handshake`) and JSESSIONID as `path=/; Secure; HttpOnly; SameSite=None` (`Config::jsessionid_cookie`) |

mod mutations;
mod wire;

/// jemalloc, configured (`.cargo/config.toml`) to hand memory back to the
/// OS within a second of its release; glibc malloc keeps freed session
/// memory for reuse and never shrinks.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::routing::get;
use axum::{Json, Router};
use sockjs::{
    Config, Jsessionid, SameSite, Session, Shutdown, SockJsRouter, Transport, TrustedProxies,
};

struct Options {
    host: String,
    port: u16,
    disconnect_delay: Duration,
    heartbeat_delay: Duration,
    sockjs_url: Option<String>,
    mutation: Option<String>,
    shutdown_deadline: Duration,
    header_timeout: Duration,
    idle_timeout: Duration,
    allowed_origins: Vec<String>,
    redis: Option<String>,
    node_url: Option<String>,
    node_name: Option<String>,
    claim_ttl: Option<Duration>,
    cluster_secret: Option<String>,
    cluster_ca: Option<String>,
    redis_ca: Option<String>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    /// `/cluster_resume`'s history per room, in messages.
    resume_history: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        host: "127.0.0.1".into(),
        port: 8081,
        disconnect_delay: Duration::from_secs(5),
        heartbeat_delay: Duration::from_secs(25),
        sockjs_url: None,
        mutation: None,
        shutdown_deadline: Duration::from_secs(10),
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(90),
        allowed_origins: Vec::new(),
        redis: None,
        node_url: None,
        node_name: None,
        claim_ttl: None,
        cluster_secret: None,
        cluster_ca: None,
        redis_ca: None,
        tls_cert: None,
        tls_key: None,
        resume_history: 10_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let millis = |v: String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{v}: {e}"))
        };
        match flag.as_str() {
            "--port" => options.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            // Read by `main` before the runtime is built.
            "--default-runtime" => {}
            "--host" => options.host = value()?,
            "--disconnect-delay-ms" => options.disconnect_delay = millis(value()?)?,
            "--heartbeat-delay-ms" => options.heartbeat_delay = millis(value()?)?,
            "--sockjs-url" => options.sockjs_url = Some(value()?),
            "--allowed-origin" => options.allowed_origins.push(value()?),
            "--tls-cert" => options.tls_cert = Some(value()?),
            "--tls-key" => options.tls_key = Some(value()?),
            "--break" => options.mutation = Some(value()?),
            "--shutdown-deadline-ms" => options.shutdown_deadline = millis(value()?)?,
            "--header-timeout-ms" => options.header_timeout = millis(value()?)?,
            "--idle-timeout-ms" => options.idle_timeout = millis(value()?)?,
            "--redis" => options.redis = Some(value()?),
            "--node-url" => options.node_url = Some(value()?),
            "--node-name" => options.node_name = Some(value()?),
            "--claim-ttl-ms" => options.claim_ttl = Some(millis(value()?)?),
            "--cluster-secret" => options.cluster_secret = Some(value()?),
            "--cluster-ca" => options.cluster_ca = Some(value()?),
            "--redis-ca" => options.redis_ca = Some(value()?),
            "--resume-history" => {
                options.resume_history = value()?
                    .parse()
                    .map_err(|e| format!("--resume-history: {e}"))?
            }
            "--help" | "-h" => {
                println!("{}", include_str!("../usage.txt"));
                std::process::exit(0);
            }
            other => {
                return Err(format!(
                    "unknown argument {other}\n{}",
                    include_str!("../usage.txt")
                ))
            }
        }
    }
    if options.redis.is_none()
        && (options.node_url.is_some()
            || options.claim_ttl.is_some()
            || options.cluster_secret.is_some()
            || options.cluster_ca.is_some()
            || options.redis_ca.is_some())
    {
        return Err(
            "--node-url, --claim-ttl-ms, --cluster-secret, --cluster-ca and --redis-ca need --redis"
                .into(),
        );
    }
    if options
        .cluster_secret
        .as_ref()
        .is_some_and(|s| s.len() < 16)
    {
        return Err("--cluster-secret: at least 16 bytes".into());
    }
    Ok(options)
}

/// A cluster node's shared Redis handle, and its session directory (with
/// `--node-url`).
struct Cluster {
    redis: sockjs_redis::Redis,
    directory: Option<sockjs_redis::Directory>,
    /// How the services forward: one client pool for all of them.
    forwarding: sockjs::cluster::Forwarding,
}

impl Cluster {
    async fn connect(options: &Options) -> Result<Option<Cluster>, String> {
        let Some(url) = &options.redis else {
            return Ok(None);
        };
        let mut redis_options = sockjs_redis::Options::default();
        if let Some(ttl) = options.claim_ttl {
            redis_options = redis_options.claim_ttl(ttl);
        }
        if let Some(path) = &options.redis_ca {
            let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            redis_options = redis_options.tls_ca_pem(pem);
        }
        let mut forwarding = sockjs::cluster::Forwarding::new();
        if let Some(secret) = &options.cluster_secret {
            forwarding = forwarding.secret(secret);
        }
        if let Some(path) = &options.cluster_ca {
            let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            forwarding = forwarding
                .tls_ca_pem(&pem)
                .map_err(|e| format!("{path}: {e}"))?;
        }
        let redis = sockjs_redis::Redis::connect_with(url, redis_options)
            .await
            .map_err(|e| e.to_string())?;
        let directory = options.node_url.as_ref().map(|me| redis.directory(me));
        Ok(Some(Cluster {
            redis,
            directory,
            forwarding,
        }))
    }
}

/// Finishes one service of the test server: the shared shutdown handle, and
/// on a cluster node its rooms through Redis (named by its prefix) and the
/// session directory.
fn service(
    service: SockJsRouter,
    prefix: &str,
    shutdown: &Shutdown,
    cluster: Option<&Cluster>,
) -> SockJsRouter {
    service_with_history(service, prefix, shutdown, cluster, None)
}

/// [`service`], with rooms that keep `history` when given: in Redis
/// streams on a cluster node, in the process otherwise.
fn service_with_history(
    service: SockJsRouter,
    prefix: &str,
    shutdown: &Shutdown,
    cluster: Option<&Cluster>,
    history: Option<sockjs::rooms::History>,
) -> SockJsRouter {
    let mut service = service.shutdown(shutdown.clone());
    let rooms = match (cluster, history) {
        (Some(cluster), Some(history)) => Some(cluster.redis.rooms(prefix).history(history)),
        (Some(cluster), None) => Some(cluster.redis.rooms(prefix)),
        (None, Some(history)) => Some(sockjs::Rooms::new().history(history)),
        (None, None) => None,
    };
    if let Some(rooms) = rooms {
        service = service.rooms(rooms);
    }
    if let Some((directory, cluster)) = cluster.and_then(|c| Some((c.directory.as_ref()?, c))) {
        service = service
            .directory(directory.clone())
            .forwarding(cluster.forwarding.clone());
    }
    service
}

/// Sessions opened over HTTP/2, by transport (`/stats`): the browser
/// suite's HTTP/2 rows check that Chromium really used it.
static HTTP2_SESSIONS: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// WebSocket sessions that negotiated permessage-deflate (`/stats`).
static COMPRESSED_SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn echo(session: Session) {
    if session.http_version() == axum::http::Version::HTTP_2 {
        let mut counts = HTTP2_SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(session.transport().name()).or_default() += 1;
    }
    if session.is_compressed() {
        COMPRESSED_SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let (tx, mut rx) = session.split();
    while let Some(message) = rx.recv().await {
        if tx.send(message).await.is_err() {
            break;
        }
    }
}

async fn close(session: Session) {
    session.sender().close(3000, "Go away!");
}

async fn goodbye(session: Session) {
    let (tx, _rx) = session.split();
    for i in 1..=20 {
        if tx.send(i.to_string()).await.is_err() {
            return;
        }
    }
    tx.close(3000, "Go away!");
}

async fn ticker(session: Session) {
    let (tx, _rx) = session.split();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        if tx.send("tick!").await.is_err() {
            break;
        }
    }
}

async fn amplify(session: Session) {
    let (tx, mut rx) = session.split();
    while let Some(message) = rx.recv().await {
        let n = message
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=18).contains(n))
            .unwrap_or(1);
        if tx.send("x".repeat(1 << n)).await.is_err() {
            break;
        }
    }
}

/// The user `/auth_echo`'s handshake hook admitted.
#[derive(Clone)]
struct User(String);

/// `/auth_echo`'s handshake hook: a `user` cookie, or `?token=<name>-token`
/// (sockjs-client keeps a query string on every request; a cross-origin
/// `EventSource` sends no cookies).
async fn authenticate(
    cookies: axum_extra::extract::CookieJar,
    query: axum::extract::RawQuery,
) -> Result<User, (axum::http::StatusCode, &'static str)> {
    let from_query = query.0.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .and_then(|token| token.strip_suffix("-token"))
            .map(str::to_owned)
    });
    let from_cookie = cookies.get("user").map(|c| c.value().to_owned());
    match from_cookie.or(from_query) {
        Some(name) if !name.is_empty() => Ok(User(name)),
        _ => Err((axum::http::StatusCode::UNAUTHORIZED, "Log in first.")),
    }
}

async fn auth_echo(session: Session) {
    let user = session.extensions().get::<User>().cloned();
    let (tx, mut rx) = session.split();
    let Some(User(name)) = user else {
        tx.close(3000, "no user");
        return;
    };
    if tx.send(format!("hello {name}")).await.is_err() {
        return;
    }
    while let Some(message) = rx.recv().await {
        if tx.send(message).await.is_err() {
            break;
        }
    }
}

/// `/broadcast`: every message to every open session of the service, through
/// its rooms (encoded once; a member that cannot keep up is closed, never
/// skipped).
async fn broadcast(session: Session) {
    let (tx, mut rx) = session.split();
    while let Some(message) = rx.recv().await {
        tx.rooms().send_all(message);
    }
}

/// `/room_broadcast` and `/history_broadcast`: every session joins room
/// `all` and each of its messages goes to that room; the benchmark's
/// measure of what a room costs over [`broadcast`], and of what history
/// costs over a room (with history, members get the position envelope).
async fn room_broadcast(session: Session) {
    let (tx, mut rx) = session.split();
    tx.join("all");
    while let Some(message) = rx.recv().await {
        tx.rooms().send("all", message);
    }
}

/// `/cluster_resume`: a room with history whose members resume where they
/// left off, on any node of a cluster (see the table in the crate docs).
async fn cluster_resume(session: Session) {
    let query = session.query().unwrap_or("").to_owned();
    let param = |name: &str| query_param(&query, name);
    let room = param("room").unwrap_or_else(|| "resume".to_owned());
    let (tx, mut rx) = session.split();
    if query_flag(&query, "publish") {
        while let Some(message) = rx.recv().await {
            tx.rooms().send(&room, message);
        }
        return;
    }
    match param("since").map(|since| since.parse::<sockjs::rooms::Position>()) {
        Some(Ok(since)) => {
            if tx.join_since(&room, since).await.is_err() {
                let _ = tx.send("lost").await;
            }
        }
        Some(Err(_)) => {
            let _ = tx.send("bad-position").await;
            tx.join(&room);
        }
        None => tx.join(&room),
    }
    let member = ResumeMember::enter(&room, param("client"), &tx);
    let _ = tx.send("joined").await;
    while let Some(message) = rx.recv().await {
        tx.rooms().send(&room, message);
    }
    drop(member);
}

/// Whether a query string has `name`, with a value or without.
fn query_flag(query: &str, name: &str) -> bool {
    query_param(query, name).is_some() || query.split('&').any(|kv| kv == name)
}

/// The value of `name` in a query string (not percent-decoded).
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
}

/// `/cluster_resume`'s members on this node, by room, for
/// `/cluster_resume_cut`: (an id, its `?client=`, the session's sender).
type Members = std::collections::HashMap<String, Vec<(u64, Option<String>, sockjs::Sender)>>;

static RESUME_MEMBERS: std::sync::LazyLock<std::sync::Mutex<Members>> =
    std::sync::LazyLock::new(Default::default);

/// A session's entry in [`RESUME_MEMBERS`], removed when its handler ends
/// (a kept `Sender` would keep the session open).
struct ResumeMember {
    room: String,
    id: u64,
}

impl ResumeMember {
    fn enter(room: &str, client: Option<String>, tx: &sockjs::Sender) -> ResumeMember {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut members = RESUME_MEMBERS.lock().unwrap_or_else(|e| e.into_inner());
        members
            .entry(room.to_owned())
            .or_default()
            .push((id, client, tx.clone()));
        ResumeMember {
            room: room.to_owned(),
            id,
        }
    }
}

impl Drop for ResumeMember {
    fn drop(&mut self) {
        let mut members = RESUME_MEMBERS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = members.get_mut(&self.room) {
            list.retain(|(id, _, _)| *id != self.id);
            if list.is_empty() {
                members.remove(&self.room);
            }
        }
    }
}

/// `GET /cluster_resume_cut?room=R`: closes the room's members on this
/// node with 4000 `cut`, as a dropped connection would end them.
async fn cluster_resume_cut(
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> impl axum::response::IntoResponse {
    let room = query_param(query.as_deref().unwrap_or(""), "room").unwrap_or_default();
    let senders: Vec<sockjs::Sender> = RESUME_MEMBERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&room)
        .map(|list| list.iter().map(|(_, _, tx)| tx.clone()).collect())
        .unwrap_or_default();
    let mut cut = 0;
    for tx in senders {
        if tx.is_open() {
            tx.close(4000, "cut");
            cut += 1;
        }
    }
    let cors = [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    (cors, Json(serde_json::json!({ "cut": cut })))
}

/// `GET /cluster_resume_members?room=R`: the room's members on this node.
async fn cluster_resume_members(
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> impl axum::response::IntoResponse {
    let query = query.as_deref().unwrap_or("");
    let room = query_param(query, "room").unwrap_or_default();
    let client = query_param(query, "client");
    let members = RESUME_MEMBERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&room)
        .map_or(0, |list| {
            list.iter()
                .filter(|(_, c, _)| client.is_none() || *c == client)
                .count()
        });
    let cors = [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    (cors, Json(serde_json::json!({ "members": members })))
}

/// The `/cluster_resume` service: its rooms keep history, in Redis on a
/// cluster node.
fn cluster_resume_service(
    config: Config,
    shutdown: &Shutdown,
    cluster: Option<&Cluster>,
    history: usize,
) -> Router {
    let prefix = "/cluster_resume";
    let router = service_with_history(
        SockJsRouter::new(cluster_resume).config(config),
        prefix,
        shutdown,
        cluster,
        Some(sockjs::rooms::History::messages(history)),
    );
    Router::new()
        .nest_service(prefix, router.into_router())
        .route("/cluster_resume_cut", get(cluster_resume_cut))
        .route("/cluster_resume_members", get(cluster_resume_members))
}

/// `/restricted_echo`'s origins: the `--allowed-origin`s and the server's
/// own (its iframe page's requests carry it; the library never takes it
/// from `Host`).
fn restricted_origins(options: &Options) -> Vec<String> {
    let scheme = if options.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let mut origins = options.allowed_origins.clone();
    origins.push(format!("{scheme}://{}:{}", options.host, options.port));
    origins
}

fn app(options: &Options, shutdown: &Shutdown, cluster: Option<&Cluster>) -> Router {
    let mut base = Config::default()
        .disconnect_delay(mutations::disconnect_delay(
            options.mutation.as_deref(),
            options.disconnect_delay,
        ))
        .heartbeat_delay(options.heartbeat_delay);
    if let Some(url) = &options.sockjs_url {
        base = base.sockjs_url(url.clone());
    }
    if let Some(name) = &options.mutation {
        base = mutations::configure(base, name);
    }
    // The security services' settings, with a mutation that reverts one.
    let secured = |config: Config| match &options.mutation {
        Some(name) => mutations::configure_secured(config, name),
        None => config,
    };
    let services = [
        (
            "/echo",
            SockJsRouter::new(echo).config(base.clone().response_limit(
                mutations::echo_response_limit(options.mutation.as_deref(), 4096),
            )),
        ),
        (
            "/disabled_websocket_echo",
            SockJsRouter::new(echo).config(
                base.clone()
                    .disable(Transport::WebSocket)
                    .disable(Transport::RawWebSocket),
            ),
        ),
        (
            "/deflate_echo",
            SockJsRouter::new(echo).config(base.clone().websocket_compression(true)),
        ),
        (
            "/restricted_echo",
            SockJsRouter::new(echo)
                .config(base.clone().allowed_origins(restricted_origins(options))),
        ),
        (
            "/auth_echo",
            SockJsRouter::new(auth_echo)
                .config(base.clone())
                .handshake(authenticate),
        ),
        (
            "/cookie_needed_echo",
            SockJsRouter::new(echo).config(base.clone().jsessionid(true)),
        ),
        ("/close", SockJsRouter::new(close).config(base.clone())),
        ("/goodbye", SockJsRouter::new(goodbye).config(base.clone())),
        ("/ticker", SockJsRouter::new(ticker).config(base.clone())),
        ("/amplify", SockJsRouter::new(amplify).config(base.clone())),
        (
            "/bound_echo",
            SockJsRouter::new(echo).config(secured(
                base.clone()
                    .bind_to_address(true)
                    .trusted_proxies(TrustedProxies::x_forwarded_for(["127.0.0.0/8", "::1"])),
            )),
        ),
        (
            "/untrusted_proxy_echo",
            SockJsRouter::new(echo).config(secured(
                base.clone()
                    .bind_to_address(true)
                    .trusted_proxies(TrustedProxies::x_forwarded_for(["192.0.2.1"])),
            )),
        ),
        (
            "/rebind_echo",
            SockJsRouter::new(auth_echo)
                .config(secured(
                    base.clone().bind_to_handshake(true).jsessionid_cookie(
                        Jsessionid::new().http_only(true).same_site(SameSite::None),
                    ),
                ))
                .handshake(authenticate),
        ),
        (
            "/broadcast",
            SockJsRouter::new(broadcast).config(base.clone()),
        ),
        (
            "/room_broadcast",
            SockJsRouter::new(room_broadcast).config(base.clone()),
        ),
    ];
    let stats = shutdown.clone();
    let node = options.node_name.clone();
    let redis = cluster.map(|c| c.redis.clone());
    let mut app = Router::new().route(
        "/stats",
        get(move || async move {
            let http2 = HTTP2_SESSIONS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut stats = serde_json::json!({
                "open_sessions": stats.open_sessions(),
                "shutting_down": stats.is_shutting_down(),
                "http2_sessions": http2,
                "compressed_sessions": COMPRESSED_SESSIONS.load(std::sync::atomic::Ordering::Relaxed),
            });
            if let Some(node) = node {
                stats["node"] = node.into();
            }
            if let Some(redis) = redis {
                let s = redis.stats();
                stats["redis"] = serde_json::json!({
                    "subscribed": s.subscribed,
                    "publishing": s.publishing,
                    "published": s.published,
                    "received": s.received,
                    "dropped": s.dropped,
                    "missed": s.missed,
                    "duplicates": s.duplicates,
                    "filled": s.filled,
                    "skipped": s.skipped,
                });
            }
            // Readable from the browser suite's pages (another origin).
            let cors = [(axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
            (cors, Json(stats))
        }),
    );
    for (prefix, router) in services {
        let router = service(router, prefix, shutdown, cluster);
        app = app.nest_service(prefix, router.into_router());
    }
    let history = service_with_history(
        SockJsRouter::new(room_broadcast).config(base.clone()),
        "/history_broadcast",
        shutdown,
        cluster,
        // Bounded by the count: 10,000 messages of up to 6 KiB each.
        Some(sockjs::rooms::History::messages(10_000).bytes(64 << 20)),
    );
    app = app.nest_service("/history_broadcast", history.into_router());
    app = app.merge(cluster_resume_service(
        base,
        shutdown,
        cluster,
        options.resume_history,
    ));
    if let Some(name) = &options.node_name {
        // The node that served the request; a forwarded answer keeps the
        // header of the session's node.
        let value = HeaderValue::from_str(name).unwrap_or(HeaderValue::from_static("?"));
        app = app.layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| {
                let value = value.clone();
                async move {
                    response.headers_mut().entry("x-node").or_insert(value);
                    response
                }
            },
        ));
    }
    app
}

/// The TLS configuration of `--tls-cert` and `--tls-key` (PEM files).
fn load_tls(
    cert: &str,
    key: &str,
) -> Result<std::sync::Arc<tokio_rustls::rustls::ServerConfig>, String> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate: {e}"))?;
    // No ALPN list: `Serve::tls` offers h2 and http/1.1.
    Ok(std::sync::Arc::new(config))
}

fn main() {
    // A runtime that serves every session in turn when thousands are busy
    // at once (`#[tokio::main]` cannot be told to; see `sockjs::runtime`).
    // `--default-runtime`: tokio's defaults, for the benchmark's before.
    let mut runtime = if std::env::args().any(|a| a == "--default-runtime") {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all();
        builder
    } else {
        sockjs::runtime()
    };
    runtime.build().expect("a tokio runtime").block_on(run());
}

async fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("sockjs-test-server: {e}");
            std::process::exit(2);
        }
    };
    let tls = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => match load_tls(cert, key) {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("sockjs-test-server: {e}");
                std::process::exit(2);
            }
        },
        (None, None) => None,
        _ => {
            eprintln!("sockjs-test-server: --tls-cert and --tls-key go together");
            std::process::exit(2);
        }
    };
    let cluster = match Cluster::connect(&options).await {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("sockjs-test-server: --redis: {e}");
            std::process::exit(1);
        }
    };
    let shutdown = Shutdown::new();
    let mut app = app(&options, &shutdown, cluster.as_ref());
    if let Some(name) = &options.mutation {
        app = match mutations::apply(app, name) {
            Ok(app) => app,
            Err(e) => {
                eprintln!(
                    "sockjs-test-server: --break {name}: {e} (known: {:?})",
                    mutations::NAMES
                );
                std::process::exit(2);
            }
        };
    }
    if tls.is_some() {
        // Lets the browser suite's pages read each request's protocol
        // (resource timing hides it from other origins without this).
        app = app.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("timing-allow-origin"),
            axum::http::HeaderValue::from_static("*"),
        ));
    }
    let addr: SocketAddr = match format!("{}:{}", options.host, options.port).parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("sockjs-test-server: bad address: {e}");
            std::process::exit(2);
        }
    };
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .and_then(|s| {
        s.set_reuseaddr(true)?;
        s.bind(addr)?;
        Ok(s)
    });
    // A generous backlog: hundreds of clients connecting at once must not
    // overflow it.
    let listener = match socket.and_then(|s| s.listen(8192)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("sockjs-test-server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let name = match &options.node_name {
        Some(name) => format!("sockjs-test-server {name}"),
        None => "sockjs-test-server".to_owned(),
    };
    // SIGTERM or Ctrl-C: the sessions close first (one Shutdown for every
    // service) while the server still serves their last requests; then the
    // connections still open are asked to finish, and dropped at the
    // deadline.
    let signal = {
        let name = name.clone();
        async move {
            sockjs::shutdown_signal().await;
            println!("{name}: shutting down");
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut serve = sockjs::serve(listener, app)
        .header_read_timeout(mutations::header_read_timeout(
            options.mutation.as_deref(),
            options.header_timeout,
        ))
        .idle_timeout(options.idle_timeout)
        .shutdown(shutdown)
        .shutdown_deadline(options.shutdown_deadline)
        .with_graceful_shutdown(signal);
    match (&tls, &cluster) {
        (Some(_), _) => println!("{name} listening on {scheme}://{addr} (h2 and http/1.1)"),
        (
            None,
            Some(Cluster {
                directory: Some(_), ..
            }),
        ) => {
            println!("{name} listening on http://{addr} (cluster node: Redis broker and directory)")
        }
        (None, Some(_)) => {
            println!("{name} listening on http://{addr} (cluster node: Redis broker)")
        }
        (None, None) => println!("{name} listening on http://{addr}"),
    }
    if let Some(tls) = tls {
        serve = serve.tls(tls);
    } else if let Some(name) = options.mutation.as_deref() {
        if let Some(name) = wire::NAMES.iter().copied().find(|n| *n == name) {
            serve = serve.accept_with(wire::accept(name));
        }
    }
    if let Err(e) = serve.await {
        eprintln!("sockjs-test-server: {e}");
        std::process::exit(1);
    }
    println!("{name}: stopped");
}

#[cfg(test)]
mod tests {
    use super::{query_flag, query_param};

    #[test]
    fn query_params_and_flags() {
        let q = "room=r1&publish&since=ab-3";
        assert_eq!(query_param(q, "room").as_deref(), Some("r1"));
        assert_eq!(query_param(q, "since").as_deref(), Some("ab-3"));
        assert_eq!(query_param(q, "publish"), None);
        assert_eq!(query_param(q, "roo"), None);
        assert!(query_flag(q, "publish"));
        assert!(query_flag("publish=1", "publish"));
        assert!(query_flag(q, "room"));
        assert!(!query_flag(q, "pub"));
        assert!(!query_flag("publisher=x", "publish"));
    }
}
