//! Where the workspace is and how cargo is run in it: the root, `target/`,
//! announced steps, and building one binary of a package.

use std::path::{Path, PathBuf};
use std::process::Command;

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
