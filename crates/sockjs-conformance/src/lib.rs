//! SockJS protocol conformance suite.
//!
//! A SockJS client that shows everything on the wire ([`client`]) and one
//! named check per requirement of the SockJS protocol 0.3.3 ([`checks`]),
//! run concurrently by [`runner`]. The `sockjs-conformance` binary points it
//! at any server that mounts the test services (`/echo`, `/close`,
//! `/disabled_websocket_echo`, `/cookie_needed_echo`) under one base URL.
//!
//! ```no_run
//! use std::time::Duration;
//! use sockjs_conformance::{checks::Ctx, client::Target, runner};
//!
//! # async fn demo() -> Result<(), sockjs_conformance::client::Error> {
//! let target = Target::resolve("http://127.0.0.1:8081", Duration::from_secs(5)).await?;
//! let ctx = Ctx {
//!     target,
//!     disconnect_delay: Duration::from_secs(5),
//!     heartbeat_delay: Duration::from_secs(25),
//!     close_cycles: 200,
//! };
//! let opts = runner::Options {
//!     ctx,
//!     filters: vec!["xhr/".into()],
//!     jobs: 8,
//!     check_timeout: Duration::from_secs(20),
//!     expected_failures: Default::default(),
//! };
//! let summary = runner::run(opts, |r| println!("{}", r.line())).await;
//! println!("{}", summary.line());
//! # Ok(())
//! # }
//! ```

pub mod checks;
pub mod client;
pub mod runner;
