//! `cargo xtask bench`: the project's test server side by side with
//! sockjs-node 0.3.24 (and, for websocket echo, a minimal tokio-tungstenite
//! server as the floor), driven by the load generator of
//! `crates/sockjs-bench` (`sockjs-loadgen`, built in release mode).
//!
//! Every scenario runs against every server in alternation (A B C A B C...,
//! `--rounds` times, each run on a freshly started server) and the medians
//! are reported. When the machine has two or more CPUs the server runs on
//! one and the load generator on another (`taskset`). The table is printed,
//! written to `target/bench/latest.md` and, with the raw runs, to
//! `target/bench/latest.json`; `--update-md` also rewrites `BENCHMARKS.md`.
//!
//! `--quick` (CI): our server only, small client counts, about a second per
//! scenario. The task fails when our server produced any error (a wrong,
//! missing or out-of-order echo or delivery, a failed connection, ...).
//!
//! One step a module, in the order of a run: `options` (the command line),
//! `scenarios` (the rows of the table), `driver` (building, starting servers,
//! running the load generator), `stats` (medians and number formats),
//! `render` (the markdown tables and the targets), `report` (the files
//! written).

mod driver;
mod options;
mod render;
mod report;
mod scenarios;
mod stats;

pub(crate) use driver::run;
pub(crate) use stats::{fmt, median, total};
