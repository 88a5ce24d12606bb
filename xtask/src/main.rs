//! Project tasks, run as `cargo xtask <task>`. With no arguments it prints help.
//!
//! One file per task; `util` holds what they share (building binaries,
//! starting servers and polling them for readiness, installing npm packages
//! into a cache under `target/`).

mod args;
mod bench;
mod ci;
mod cluster_test;
mod e2e;
mod fuzz;
mod layers;
mod mutants;
mod protocol_test;
mod soak;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
usage: cargo xtask <task> [options]

tasks:
  protocol-test [--against-node] [--url BASE] [--filter S]
                     run the SockJS conformance suite against the project's
                     test server (or sockjs-node 0.3.24, or any server)
  e2e [--filter S]   sockjs-client in headless Chromium, every transport
  bench [--quick]    load generator, side by side with sockjs-node
  soak [--minutes M | --seconds S]
                     reliability: mixed transports with churn and every
                     message accounted for, graceful shutdown under load,
                     a connection storm
  fuzz [--seconds N] [--target NAME] [--cases N] [--seed N] [--no-tests]
       [--no-properties]
                     libFuzzer on every parser of client bytes (stable
                     toolchain), then the property tests and the
                     differential test against sockjs-node with more cases
  cluster-test [--mode M] [--no-browser] [--bench]
                     3 test-server nodes behind HAProxy with Redis: the
                     conformance and browser suites through the proxy (sticky
                     and round-robin), broadcast across nodes, a node killed
  mutants [--area A] [--shard K/N] [--in-diff BASE] [--report]
                     cargo-mutants over the library, an area at a time with
                     the tests that cover it; --report adds up the runs kept
  layers             no module loop in any workspace crate (imports go down)
  ci                 everything CI runs: fmt, clippy, tests, docs, the
                     conformance suite (ours and sockjs-node), e2e,
                     cluster-test, bench --quick --dev, soak --seconds 60 --faults --dev, a short
                     fuzz run, cargo-mutants on the lines changed since
                     .ci/mutants-base
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(task) = args.next() else {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    };
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "protocol-test" => protocol_test::run(&rest),
        "e2e" => e2e::run(&rest),
        "bench" => bench::run(&rest),
        "soak" => soak::run(&rest),
        "fuzz" => fuzz::run(&rest),
        "cluster-test" => cluster_test::run(&rest),
        "layers" => layers::run(&rest),
        "mutants" => mutants::run(&rest),
        "ci" => ci::run(&rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}
