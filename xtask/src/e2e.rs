//! `cargo xtask e2e`: sockjs-client 1.6 in headless Chromium against the
//! test server, every transport it offers in Chromium.
//!
//! This task starts the server (ours, or sockjs-node 0.3.24 with
//! `--against-node`) with its iframe page loading the client from the test
//! page's server, makes sure Chromium is there (`apt-get install chromium`
//! when missing and running as root), installs the npm side
//! (`xtask/node/e2e`: playwright-core and sockjs-client) under `target/`, and
//! runs `run.mjs`, which serves the test page from another origin, drives
//! the browser, prints one line per case and `N passed, M failed`, and
//! writes `target/e2e-report.html` and `target/e2e-report.png`.
//!
//! First, without a browser, it runs the unit tests of the JavaScript that
//! ships with the library (`node --test crates/sockjs/js/`: the resuming
//! client helper `sockjs-resume.js`, which the `resume` cases then use in
//! the browser).

use crate::args::Args;
use crate::util::{self, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const USAGE: &str = "\
usage: cargo xtask e2e [--against-node] [--filter S]

  --against-node   run against sockjs-node 0.3.24 instead of our test server
                   (tells sockjs-client behaviour from ours)
  --filter S       only the cases whose name (`transport/case`) contains S
                   (a comma-separated list: any of them)

Needs node and npm. Chromium is /usr/bin/chromium (or $CHROMIUM); when it is
missing and this runs as root, it is installed with apt-get.
Report: target/e2e-report.html, screenshot target/e2e-report.png, one
screenshot per failure in target/e2e-failures/, server log target/e2e-server.log.
";

/// The servers' heartbeat delay: short, so the heartbeat cases see some.
const HEARTBEAT_MS: &str = "1000";

/// The Debian package's launcher; `CHROMIUM` overrides it.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

struct Options {
    against_node: bool,
    filter: Option<String>,
}

fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut opts = Options {
        against_node: false,
        filter: None,
    };
    let mut args = Args::new(args, USAGE);
    while let Some(flag) = args.flag() {
        match flag {
            "--against-node" => opts.against_node = true,
            "--filter" => opts.filter = Some(args.value()?),
            "-h" | "--help" => return Ok(None),
            _ => return Err(args.unknown()),
        }
    }
    Ok(Some(opts))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Some(opts) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    require_node()?;
    js_unit_tests()?;
    let chromium = ensure_chromium()?;
    let runner_dir = util::npm_install("e2e")?;

    // The page server's port is chosen here because the SockJS server must
    // know it: its iframe page loads sockjs-client from there.
    let page_port = util::free_port()?;
    let server_port = util::free_port()?;
    let sockjs_url = format!("http://127.0.0.1:{page_port}/sockjs.min.js");
    let (_server, label) = if opts.against_node {
        let args = [
            "--sockjs-url",
            &sockjs_url,
            "--heartbeat-delay-ms",
            HEARTBEAT_MS,
        ];
        let server = util::start_node_server(server_port, &args)?;
        (server, "sockjs-node 0.3.24")
    } else {
        let page_origin = format!("http://127.0.0.1:{page_port}");
        (
            start_our_server(server_port, &sockjs_url, &page_origin)?,
            "sockjs-axum",
        )
    };

    // The examples driven by cases of their own, and the test server again
    // over HTTPS with HTTP/2 (ours only).
    let (auth_chat, multiplex, h2) = if opts.against_node {
        (None, None, None)
    } else {
        (
            Some(start_example("auth_chat", "/me")?),
            Some(start_example("multiplex", "/multiplex/info")?),
            Some(start_h2_server()?),
        )
    };

    let out = util::target_dir();
    let mut cmd = Command::new("node");
    cmd.arg(runner_dir.join("run.mjs"))
        .arg("--server")
        .arg(format!("http://127.0.0.1:{server_port}"))
        .arg("--page-port")
        .arg(page_port.to_string())
        .arg("--chromium")
        .arg(&chromium)
        .arg("--out")
        .arg(&out)
        .arg("--label")
        .arg(label)
        .args(["--heartbeat-ms", HEARTBEAT_MS])
        .arg("--resume-js")
        .arg(resume_js());
    if let Some(filter) = &opts.filter {
        cmd.arg("--filter").arg(filter);
    }
    if let Some((_, url)) = &auth_chat {
        cmd.arg("--auth-chat").arg(url);
    }
    if let Some((_, url)) = &multiplex {
        cmd.arg("--multiplex").arg(url);
    }
    if let Some(h2) = &h2 {
        cmd.arg("--h2-server")
            .arg(&h2.url)
            .arg("--h2-page-port")
            .arg(h2.page_port.to_string())
            .arg("--tls-cert")
            .arg(&h2.cert)
            .arg("--tls-key")
            .arg(&h2.key);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start node: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "failed ({status}); report: {}",
            out.join("e2e-report.html").display()
        ))
    }
}

/// Builds and starts `sockjs-test-server`, logging to
/// `target/e2e-server.log`. Its `/restricted_echo` admits pages of
/// `page_origin` only (the origin cases load the same page from
/// `localhost` to be another origin).
fn start_our_server(port: u16, sockjs_url: &str, page_origin: &str) -> Result<Server, String> {
    let bin = util::build_bin("sockjs-test-server", "sockjs-test-server", false)?;
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--sockjs-url", sockjs_url])
        .args(["--allowed-origin", page_origin])
        .args(["--heartbeat-delay-ms", HEARTBEAT_MS]);
    let log = util::target_dir().join("e2e-server.log");
    let mut server = Server::start("sockjs-test-server", cmd, Some(&log))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    server.wait_ready(addr, "/echo/info", Duration::from_secs(30))?;
    Ok(server)
}

/// The test server over HTTPS, for the HTTP/2 rows.
struct H2Server {
    _server: Server,
    url: String,
    page_port: u16,
    cert: PathBuf,
    key: PathBuf,
}

/// A self-signed certificate for 127.0.0.1 (made once with `openssl`,
/// which every Debian machine has), then the test server with it, its
/// iframe page loading the client from an HTTPS page server of the same
/// certificate (an HTTPS page cannot load scripts over HTTP).
fn start_h2_server() -> Result<H2Server, String> {
    let dir = util::target_dir().join("e2e-tls");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if !cert.exists() || !key.exists() {
        let mut openssl = Command::new("openssl");
        openssl
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null());
        util::run_step("openssl: a self-signed certificate", openssl)?;
    }
    let page_port = util::free_port()?;
    let port = util::free_port()?;
    let bin = util::build_bin("sockjs-test-server", "sockjs-test-server", false)?;
    let mut cmd = Command::new(bin);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--sockjs-url",
            &format!("https://127.0.0.1:{page_port}/sockjs.min.js"),
        ])
        .args(["--heartbeat-delay-ms", HEARTBEAT_MS])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key);
    let log = util::target_dir().join("e2e-server-h2.log");
    let server = Server::start("sockjs-test-server (https)", cmd, Some(&log))?;
    // Ready when the port accepts connections (the readiness probe speaks
    // plain HTTP, which a TLS port does not answer).
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if std::time::Instant::now() > deadline {
            return Err("the https test server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(H2Server {
        _server: server,
        url: format!("https://127.0.0.1:{port}"),
        page_port,
        cert,
        key,
    })
}

/// Builds and starts example `name` on a free port (its `PORT`), logging
/// to `target/e2e-<name>.log`, ready once `ready_path` answers 200.
fn start_example(name: &str, ready_path: &str) -> Result<(Server, String), String> {
    util::run_step(
        &format!("build the {name} example"),
        util::cargo(&[
            "build",
            "--quiet",
            "-p",
            "sockjs-examples",
            "--example",
            name,
        ]),
    )?;
    let bin = util::target_dir().join("debug/examples").join(name);
    let port = util::free_port()?;
    let mut cmd = Command::new(bin);
    cmd.env("PORT", port.to_string());
    let log = util::target_dir().join(format!("e2e-{name}.log"));
    let mut server = Server::start(&format!("{name} example"), cmd, Some(&log))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    server.wait_ready(addr, ready_path, Duration::from_secs(30))?;
    Ok((server, format!("http://127.0.0.1:{port}")))
}

/// The resuming client helper the pages load (`--resume-js`).
pub(crate) fn resume_js() -> PathBuf {
    util::root().join("crates/sockjs/js/sockjs-resume.js")
}

/// `node --test` on the library's JavaScript (`crates/sockjs/js/`).
pub(crate) fn js_unit_tests() -> Result<(), String> {
    let mut cmd = Command::new("node");
    cmd.arg("--test")
        .arg(util::root().join("crates/sockjs/js/sockjs-resume.test.js"));
    util::run_step("node --test crates/sockjs/js/ (sockjs-resume.js)", cmd)
}

pub(crate) fn require_node() -> Result<(), String> {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Ok(())
    } else {
        Err("node is not installed (needed to drive the browser); \
             install Node.js 18 or later (e.g. `apt-get install nodejs npm`)"
            .into())
    }
}

/// The browser to drive: `$CHROMIUM`, else Debian's `/usr/bin/chromium`,
/// installed with apt-get when missing and we are root. Never downloads a
/// browser build of its own.
pub(crate) fn ensure_chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!("CHROMIUM={} does not exist", path.display()))
        };
    }
    let path = PathBuf::from(DEFAULT_CHROMIUM);
    if path.exists() {
        return Ok(path);
    }
    let how = "install Debian's chromium package (`sudo apt-get install chromium`) \
               or point CHROMIUM at a Chromium or Chrome binary";
    if !util::is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        return Err(format!("no browser at {DEFAULT_CHROMIUM}: {how}"));
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    util::run_step("apt-get update", update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    util::run_step("apt-get install chromium", install)?;
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "apt-get installed chromium but {DEFAULT_CHROMIUM} is missing: {how}"
        ))
    }
}
