//! SockJS protocol conformance suite.
//!
//! A SockJS client that shows everything on the wire ([`client`]) and one
//! named check per requirement of the SockJS protocol 0.3.3 ([`checks`]),
//! run concurrently by [`runner`]. The `sockjs-conformance` binary points it
//! at any server that mounts the test services (`/echo`, `/close`,
//! `/disabled_websocket_echo`, `/cookie_needed_echo`) under one base URL.
//!
//! Strict mode ([`checks::Ctx::strict`], `--strict`) holds a server to this
//! project's exact behaviour where the protocol leaves room: every close
//! code and reason exact (`c[3000,"Go away!"]` and the WebSocket close frame
//! 3000 `Go away!` on an application close, 3000 `Broken framing.` after
//! broken JSON, 1009 `Message too big`, 1002 `Protocol error`, 1007
//! `Invalid UTF-8`), every WebSocket ending in a close frame then a FIN
//! (never a reset), a message over the size limit refused rather than
//! echoed, and hixie-76 spoken (101) rather than refused. `cargo xtask
//! protocol-test` runs it against the project's test server; sockjs-node
//! is checked without it, and each allowance it gets names the reason
//! beside it in the check.
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
//!     strict: false,
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
