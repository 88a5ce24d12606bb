//! What the tasks share: locating the workspace, running cargo, starting
//! servers and waiting for them by polling, npm installs into a cache,
//! pinning and open-file limits, the load generator's flat JSON, and the
//! machine facts reports start with.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `target/` of the workspace (honours `CARGO_TARGET_DIR`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A `cargo` command run from the workspace root.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(args).current_dir(root());
    cmd
}

/// Runs a command to completion, announcing it; an error names the step.
pub(crate) fn run_step(name: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("==> {name}");
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

/// Builds a binary of a workspace package and returns its path.
pub(crate) fn build_bin(package: &str, bin: &str, release: bool) -> Result<PathBuf, String> {
    let mut args = vec!["build", "--quiet", "--package", package, "--bin", bin];
    if release {
        args.push("--release");
    }
    run_step(&format!("build {bin}"), cargo(&args))?;
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir().join(profile).join(bin))
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub(crate) fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// A child process that is killed when dropped, so no server outlives its task.
pub(crate) struct Server {
    child: Child,
    /// What it was started as, for messages.
    pub(crate) name: String,
}

impl Server {
    /// Starts `cmd` with stdout/stderr inherited (or to a log file when given).
    pub(crate) fn start(name: &str, mut cmd: Command, log: Option<&Path>) -> Result<Self, String> {
        if let Some(log) = log {
            let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
            let err = file.try_clone().map_err(|e| e.to_string())?;
            cmd.stdout(Stdio::from(file)).stderr(Stdio::from(err));
        }
        cmd.stdin(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Server {
            child,
            name: name.to_string(),
        })
    }

    /// The operating-system process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it now (SIGKILL: no shutdown, no goodbye to its clients).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Polls `GET path` on `addr` until it answers 200, the process exits, or
    /// `timeout` passes.
    pub(crate) fn wait_ready(
        &mut self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited before it was ready ({status})",
                    self.name
                ));
            }
            if http_get_status(addr, path) == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{} not ready after {timeout:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Server {
    /// Sends SIGTERM (through `kill(1)`), asking for a graceful shutdown.
    pub(crate) fn terminate(&self) -> Result<(), String> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "kill -TERM {} ({}): {status}",
                self.pid(),
                self.name
            ))
        }
    }

    /// Polls until the process exits or `timeout` passes; returns its status.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!("{} still running after {timeout:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status and body of a plain `GET path` over HTTP/1.0, or `None` when
/// nothing answers (within 2 s).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.get(9..12)?.parse().ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some((status, body.to_owned()))
}

/// The status code of a plain `GET path` over HTTP/1.0, or `None` when
/// nothing answers.
pub(crate) fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Installs the npm project in `xtask/node/<name>` into
/// `target/xtask-node/<name>` (skipped when `package.json` is unchanged) and
/// returns that directory.
pub(crate) fn npm_install(name: &str) -> Result<PathBuf, String> {
    let src = root().join("xtask").join("node").join(name);
    let dst = target_dir().join("xtask-node").join(name);
    std::fs::create_dir_all(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
    let manifest = std::fs::read(src.join("package.json"))
        .map_err(|e| format!("{}/package.json: {e}", src.display()))?;
    let stamp = dst.join(".installed-package.json");
    let fresh = std::fs::read(&stamp).ok().as_deref() != Some(&manifest[..])
        || !dst.join("node_modules").exists();
    // Copy every file of the source folder (scripts change without a reinstall).
    for entry in std::fs::read_dir(&src).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_type().map_err(|e| e.to_string())?.is_file() {
            std::fs::copy(entry.path(), dst.join(entry.file_name())).map_err(|e| e.to_string())?;
        }
    }
    if fresh {
        let mut cmd = Command::new("npm");
        cmd.args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dst);
        run_step(&format!("npm install ({name})"), cmd)?;
        std::fs::write(&stamp, &manifest).map_err(|e| e.to_string())?;
    }
    Ok(dst)
}

/// Starts the sockjs-node 0.3.24 reference server on `port` with extra
/// arguments (see `xtask/node/sockjs-node-server/server.js`).
pub(crate) fn start_node_server(port: u16, extra: &[&str]) -> Result<Server, String> {
    let dir = npm_install("sockjs-node-server")?;
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("server.js"))
        .args(["--port", &port.to_string()])
        .args(extra);
    let mut server = Server::start("sockjs-node", cmd, None)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    server.wait_ready(addr, "/echo/info", Duration::from_secs(30))?;
    Ok(server)
}

/// `program` under `taskset -c CPU` when pinning.
pub(crate) fn pinned(cpu: Option<usize>, program: &Path) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string()]).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// Whether `name --version` runs and succeeds.
pub(crate) fn tool_works(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The hard limit on open files, from `/proc/self/limits`.
pub(crate) fn nofile_hard() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let hard = line.split_whitespace().nth(4)?;
    hard.parse()
        .ok()
        .or((hard == "unlimited").then_some(1 << 20))
}

/// Raises this process's soft limit on open files to the hard one, so the
/// servers and the load generator (children) inherit it.
pub(crate) fn raise_nofile(hard: Option<u64>) {
    let Some(hard) = hard else { return };
    let ok = Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string()])
        .arg(format!("--nofile={hard}:{hard}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "xtask: could not raise the open-file limit (prlimit); large session counts may fail"
        );
    }
}

/// Writes `text` to `path`; an error names the file.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A flat JSON object as the load generator prints it.
pub(crate) type Obj = BTreeMap<String, String>;

/// Parses `{"k": v, ...}` with scalar values (numbers, strings, null,
/// booleans), keeping each value's JSON text.
pub(crate) fn parse_obj(s: &str) -> Option<Obj> {
    let s = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut obj = Obj::new();
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] as char).is_ascii_whitespace() {
            *i += 1;
        }
    };
    let string_end = |start: usize| -> Option<usize> {
        let mut j = start + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return Some(j),
                _ => j += 1,
            }
        }
        None
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return Some(obj);
        }
        if b[i] != b'"' {
            return None;
        }
        let end = string_end(i)?;
        let key = s[i + 1..end].to_string();
        i = end + 1;
        skip_ws(&mut i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let start = i;
        if b.get(i) == Some(&b'"') {
            i = string_end(i)? + 1;
        } else {
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
        }
        obj.insert(key, s[start..i].trim().to_string());
        skip_ws(&mut i);
        if b.get(i) == Some(&b',') {
            i += 1;
        }
    }
}

pub(crate) fn num(o: &Obj, key: &str) -> Option<f64> {
    o.get(key)?.parse().ok()
}

/// One line on the code and the machine a run measured (for reports).
pub(crate) fn machine_facts(pin: Option<(usize, usize)>) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal"))?.to_string();
            let kib: f64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let version = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| "not found".into())
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--", "crates/sockjs", "examples"]).is_empty();
    format!(
        "Code: commit {commit}{}. Machine: {cpus} CPUs ({model}), {mem}, Linux {kernel}; {}; node {}; \
         open-file limit {}. Pinning: {}. Everything on 127.0.0.1.\n",
        if dirty { " with uncommitted changes to the library or examples" } else { "" },
        version("rustc"),
        version("node"),
        nofile_hard().map_or("?".into(), |n| n.to_string()),
        match pin {
            Some((s, c)) => format!("server on CPU {s}, load generator on CPU {c} (taskset)"),
            None => "none".into(),
        }
    )
}

/// Whether this process runs as root (and may use apt-get).
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0")
}

/// The full path of `program`: on `PATH`, or in the sbin directories
/// (`haproxy` is in `/usr/sbin`, not on every user's `PATH`).
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Each `(program, Debian package)`'s path; the missing ones are installed
/// with one `apt-get install` when running as root, else the error says
/// how to install them.
pub(crate) fn ensure_programs(wanted: &[(&str, &str)]) -> Result<Vec<PathBuf>, String> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        let how = format!("apt-get install {}", missing.join(" "));
        if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
            return Err(format!("missing {}: run `sudo {how}`", missing.join(", ")));
        }
        let mut update = Command::new("apt-get");
        update.args(["update", "-qq"]);
        run_step("apt-get update", update)?;
        let mut install = Command::new("apt-get");
        install
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive");
        run_step(&how, install)?;
    }
    wanted
        .iter()
        .map(|(program, package)| {
            find_program(program)
                .ok_or_else(|| format!("{program} is missing after installing {package}"))
        })
        .collect()
}
