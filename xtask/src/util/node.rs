//! Node.js tools: npm projects under `xtask/node/` installed into a cache in
//! `target/`, and the sockjs-node reference server started from one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::server::Server;
use super::workspace::{root, run_step, target_dir};

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
