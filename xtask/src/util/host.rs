//! The machine the tasks run on: CPU pinning, open-file limits, programs
//! found or installed with apt-get, and the facts reports start with.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::workspace::{root, run_step};

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
