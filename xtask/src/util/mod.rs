//! What the tasks share, one concern a module:
//!
//! - `workspace`: locating the workspace and `target/`, running cargo steps,
//!   building binaries;
//! - `server`: free ports, servers killed on drop, polling them for
//!   readiness over plain HTTP/1.0;
//! - `node`: npm installs into a cache, the sockjs-node reference server;
//! - `host`: pinning, open-file limits, programs found or installed, the
//!   machine facts reports start with;
//! - `report`: the load generator's flat JSON, writing report files;
//! - `cut_proxy`: a TCP proxy that resets its connections on command.

mod cut_proxy;
mod host;
mod node;
mod report;
mod server;
mod workspace;

pub(crate) use cut_proxy::{Cut, CutProxy};
pub(crate) use host::{
    ensure_programs, find_program, is_root, machine_facts, nofile_hard, pinned, raise_nofile,
    tool_works,
};
pub(crate) use node::{npm_install, start_node_server};
pub(crate) use report::{num, parse_obj, write, Obj};
pub(crate) use server::{free_port, http_get, Server};
pub(crate) use workspace::{build_bin, cargo, root, run_step, target_dir};
