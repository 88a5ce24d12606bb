//! The session directory through a real `redis-server`: claims, owners,
//! releases, renewal and expiry, and two nodes forwarding through it.

mod server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use server::RedisServer;
use sockjs::cluster::{Directory as _, Owner};
use sockjs::{Config, SockJsRouter};
use sockjs_conformance::client::{Request, Target};
use sockjs_redis::{Directory, Options, Redis};

const TTL: Duration = Duration::from_millis(300);

async fn node(server: &RedisServer, url: &str) -> (Redis, Directory) {
    let options = Options::default().claim_ttl(TTL);
    let redis = Redis::connect_with(&server.url(), options).await.unwrap();
    let directory = redis.directory(url);
    (redis, directory)
}

/// Polls `directory.owner(key)` until it is `want` (errors while Redis is
/// away count as not yet); returns how long that took.
async fn until_owner(directory: &Directory, key: &str, want: Owner, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let owner = directory.owner(key).await;
        if owner.as_ref() == Ok(&want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{key}: still {owner:?} after {within:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn remote(url: &str) -> Owner {
    Owner::Remote(url.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_owner_release() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (_a, a) = node(&server, "http://a:1").await;
    let (_b, b) = node(&server, "http://b:2/").await;
    assert_eq!(a.owner("/echo/s").await, Ok(Owner::Unknown));
    assert_eq!(a.claim("/echo/s").await, Ok(Owner::Local));
    assert_eq!(a.owner("/echo/s").await, Ok(Owner::Local));
    assert_eq!(b.owner("/echo/s").await, Ok(remote("http://a:1")));
    assert_eq!(b.claim("/echo/s").await, Ok(remote("http://a:1")));
    // Keys are per service.
    assert_eq!(b.owner("/close/s").await, Ok(Owner::Unknown));
    assert_eq!(b.claim("/close/s").await, Ok(Owner::Local));
    assert_eq!(a.owner("/close/s").await, Ok(remote("http://b:2")));
    assert_eq!((a.claims(), b.claims()), (1, 1));

    // Releasing someone else's session changes nothing.
    b.release("/echo/s");
    a.release("/echo/s");
    until_owner(&b, "/echo/s", Owner::Unknown, Duration::from_secs(2)).await;
    assert_eq!(a.claims(), 0);

    // Claimed at once by both nodes: one wins, the other learns it.
    for i in 0..20 {
        let key = format!("/echo/race{i}");
        let (ra, rb) = tokio::join!(a.claim(&key), b.claim(&key));
        match (ra.unwrap(), rb.unwrap()) {
            (Owner::Local, r) => assert_eq!(r, remote("http://a:1")),
            (r, Owner::Local) => assert_eq!(r, remote("http://b:2")),
            other => panic!("{key}: {other:?}"),
        }
    }

    // A release that arrives after the key was claimed again does not
    // delete the new claim.
    assert_eq!(a.claim("/echo/again").await, Ok(Owner::Local));
    a.release("/echo/again");
    until_owner(&b, "/echo/again", Owner::Unknown, Duration::from_secs(2)).await;
    assert_eq!(a.claim("/echo/again").await, Ok(Owner::Local));
    // Releases are deleted in order, one at a time: once a later one has
    // been applied, any release of `/echo/again` has been too.
    assert_eq!(a.claim("/echo/marker").await, Ok(Owner::Local));
    a.release("/echo/marker");
    until_owner(&b, "/echo/marker", Owner::Unknown, Duration::from_secs(2)).await;
    assert_eq!(b.owner("/echo/again").await, Ok(remote("http://a:1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_live_with_their_node_and_expire_after_it() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (redis_a, a) = node(&server, "http://a:1").await;
    let (_b, b) = node(&server, "http://b:2").await;
    assert_eq!(a.claim("/echo/kept").await, Ok(Owner::Local));
    // Renewed every TTL / 3: alive well past its TTL. A temporal property,
    // so a wait: four TTLs, and the entry seen at every look meanwhile (a
    // renewal that came late would show as a gap).
    let started = Instant::now();
    while started.elapsed() < TTL * 4 {
        assert_eq!(
            b.owner("/echo/kept").await,
            Ok(remote("http://a:1")),
            "after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Redis lost its data (restarted empty): the node enters it again.
    assert_eq!(server.command("FLUSHALL").as_deref(), Some("+OK\r\n"));
    assert_eq!(b.owner("/echo/kept").await, Ok(Owner::Unknown));
    until_owner(&b, "/echo/kept", remote("http://a:1"), TTL).await;

    // The node dies (its renewal stops): forgotten within the TTL.
    drop((a, redis_a));
    let forgotten = until_owner(&b, "/echo/kept", Owner::Unknown, TTL * 3).await;
    assert!(
        forgotten <= TTL + Duration::from_millis(100),
        "{forgotten:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_an_earlier_run_of_the_node_are_stale() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (redis_a, a) = node(&server, "http://a:1").await;
    assert_eq!(a.claim("/echo/old").await, Ok(Owner::Local));
    drop((a, redis_a));
    // Restarted at the same URL before the entry expired: not its session.
    let (_a, a) = node(&server, "http://a:1").await;
    assert_eq!(a.owner("/echo/old").await, Ok(Owner::Unknown));
    assert_eq!(a.claim("/echo/old").await, Ok(Owner::Local));
    assert_eq!(a.owner("/echo/old").await, Ok(Owner::Local));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_answers_fail_fast() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let (_a, a) = node(&server, "http://a:1").await;
    assert_eq!(a.claim("/echo/x").await, Ok(Owner::Local));
    server.kill();
    let started = Instant::now();
    assert!(a.owner("/echo/x").await.is_err());
    // Within the timeout (500 ms), then at once for a second.
    assert!(started.elapsed() < Duration::from_millis(700));
    let started = Instant::now();
    assert!(a.owner("/echo/x").await.is_err());
    assert!(started.elapsed() < Duration::from_millis(100));
    server.restart();
    // Back (its entry re-created by the renewal, Redis having restarted empty).
    until_owner(&a, "/echo/x", Owner::Local, Duration::from_secs(5)).await;
}

/// Two nodes on real sockets, each with its Redis directory: a session
/// opened on one is served through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_forward_through_the_redis_directory() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut targets = Vec::new();
    let mut handles = Vec::new();
    for n in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (redis, directory) = node(&server, &format!("http://{addr}")).await;
        let echo = SockJsRouter::new(move |session: sockjs::Session| async move {
            let (tx, mut rx) = session.split();
            let _ = tx.send(format!("node {n}")).await;
            while let Some(m) = rx.recv().await {
                if tx.send(m).await.is_err() {
                    break;
                }
            }
        })
        .config(Config::default().disconnect_delay(Duration::from_millis(300)))
        .directory(directory.clone())
        .into_router();
        let app = Router::new().nest("/echo", echo);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        handles.push((redis, directory));
        targets.push(Target {
            addr,
            host: addr.to_string(),
            prefix: String::new(),
            timeout: Duration::from_secs(5),
        });
    }
    let post = |n: usize, path: &str, body: &str| {
        let request = Request::new("POST", path).body(body);
        let target = targets[n].clone();
        async move {
            let r = target.send(request).await.unwrap();
            (r.status(), r.text())
        }
    };
    assert_eq!(post(0, "/echo/0/s/xhr", "").await, (200, "o\n".into()));
    assert_eq!(post(1, "/echo/1/s/xhr", "").await.1, "a[\"node 0\"]\n");
    assert_eq!(post(1, "/echo/1/s/xhr_send", "[\"x\"]").await.0, 204);
    assert_eq!(post(1, "/echo/1/s/xhr", "").await.1, "a[\"x\"]\n");
    assert_eq!(handles[0].1.claims(), 1);
    // No poll for the disconnect delay: the session ends, its entry goes.
    let deadline = Instant::now() + Duration::from_secs(5);
    while handles[0].1.owner("/echo/s").await != Ok(Owner::Unknown) {
        assert!(Instant::now() < deadline, "never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(post(1, "/echo/1/s/xhr_send", "[\"x\"]").await.0, 404);
}

/// The forwarding secret: made once by the first node that needs it,
/// shared through Redis, set again (the same) when Redis lost it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarding_secret_is_shared_through_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (_a, a) = node(&server, "http://a:1").await;
    let (_b, b) = node(&server, "http://b:2").await;
    let secret = a.shared_secret().await.unwrap().expect("a secret");
    assert_eq!(secret.len(), 64);
    assert!(secret.iter().all(u8::is_ascii_hexdigit));
    assert_eq!(b.shared_secret().await.unwrap(), Some(secret.clone()));
    let stored = server.command("GET sockjs:forwarding-secret").unwrap();
    assert_eq!(stored, "$64\r\n");
    // Redis restarted empty: the renewal (every TTL / 3) puts it back, and
    // a node that starts now gets the same one.
    assert_eq!(server.command("FLUSHALL").as_deref(), Some("+OK\r\n"));
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.command("EXISTS sockjs:forwarding-secret").as_deref() != Some(":1\r\n") {
        assert!(Instant::now() < deadline, "the secret was not set again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_c, c) = node(&server, "http://c:3").await;
    assert_eq!(c.shared_secret().await.unwrap(), Some(secret));
}

/// A Redis with a password: `redis://:<password>@host:port/`; without the
/// password, connecting fails with Redis's own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_with_a_password() {
    let Some(server) = RedisServer::start_with_password("s3cret-pass") else {
        return;
    };
    let url = format!("redis://:s3cret-pass@127.0.0.1:{}/", server.port);
    let redis = Redis::connect(&url).await.unwrap();
    let directory = redis.directory("http://a:1");
    assert_eq!(directory.claim("/echo/p").await, Ok(Owner::Local));
    assert!(directory.shared_secret().await.unwrap().is_some());
    let error = Redis::connect(&server.url()).await.unwrap_err().to_string();
    assert!(
        error.contains("NOAUTH") || error.contains("Authentication"),
        "{error}"
    );
    let wrong = format!("redis://:wrong@127.0.0.1:{}/", server.port);
    assert!(Redis::connect(&wrong).await.is_err());
}

/// `rediss://` to a redis-server serving TLS only, with a certificate of a
/// private CA given with `Options::tls_ca_pem`; without the CA (the
/// system's trust store), refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_over_tls_with_a_private_ca() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    // Only to learn whether redis-server is installed (and skip if not).
    let Some(plain) = RedisServer::start() else {
        return;
    };
    drop(plain);
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("sockjs-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = std::process::Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--tls-cert-file")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key-file")
        .arg(dir.join("key.pem"))
        .arg("--tls-ca-cert-file")
        .arg(dir.join("ca.pem"))
        .args(["--tls-auth-clients", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("rediss://localhost:{port}/");
    let options = || Options::default().tls_ca_pem(ca_cert.pem());
    let deadline = Instant::now() + Duration::from_secs(10);
    let redis = loop {
        match Redis::connect_with(&url, options()).await {
            Ok(redis) => break redis,
            Err(e) => {
                assert!(Instant::now() < deadline, "no TLS Redis: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let directory = redis.directory("http://a:1");
    assert_eq!(directory.claim("/echo/tls").await, Ok(Owner::Local));
    assert!(directory.shared_secret().await.unwrap().is_some());
    // The system's roots do not know the private CA.
    assert!(Redis::connect(&url).await.is_err());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
