//! A real `redis-server` for the tests: started on a free loopback port,
//! polled until it answers `PING`, killed when dropped. Tests skip (and say
//! so) when `redis-server` is not installed, unless `SOCKJS_REQUIRE_REDIS`
//! is set: `cargo xtask ci` installs it and sets that, so that they never
//! skip there.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ports of this process's servers, killed ones included.
static HELD: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// `--requirepass`, if started with one.
    pub password: Option<String>,
}

impl RedisServer {
    /// A fresh server, or `None` (with a message) when `redis-server` is
    /// not installed.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(None)
    }

    /// A fresh server that requires `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> Option<RedisServer> {
        RedisServer::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            let why = "redis-server is not installed (apt-get install redis-server; \
                       `cargo xtask ci` and `cargo xtask cluster-test` install it)";
            assert!(
                std::env::var_os("SOCKJS_REQUIRE_REDIS").is_none(),
                "SOCKJS_REQUIRE_REDIS is set but {why}"
            );
            eprintln!("SKIPPED: {why}");
            return None;
        }
        // A free port that no other server of this process holds: one that
        // is killed and restarted frees its port meanwhile, and another
        // test's server must not take it.
        let port = loop {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            if HELD.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
                break port;
            }
        };
        let mut server = RedisServer {
            child: None,
            port,
            password,
        };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        self.kill();
        let mut command = Command::new("redis-server");
        command.args(["--port", &self.port.to_string()]).args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command("PING").as_deref() != Some("+PONG\r\n") {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            // Exited: it could not bind the port (another process took it
            // while the server was down); a PING could reach that one.
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server on port {} exited at once ({status})",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends one inline command and returns the first reply line.
    pub fn command(&self, command: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        if let Some(password) = &self.password {
            write!(s, "AUTH {password}\r\n").ok()?;
            let mut byte = [0u8; 1];
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                if s.read(&mut byte).ok()? == 0 {
                    return None;
                }
                line.push(byte[0]);
            }
        }
        write!(s, "{command}\r\n").ok()?;
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while !reply.ends_with(b"\r\n") {
            if s.read(&mut byte).ok()? == 0 {
                return None;
            }
            reply.push(byte[0]);
        }
        String::from_utf8(reply).ok()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.port);
    }
}
