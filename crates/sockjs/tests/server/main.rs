//! The server's integration tests, one binary: each module was its own
//! test binary once, and every binary links the whole library and its
//! dependencies again (link time was most of a CI run's test build). They
//! share [`fixture`]. Kept apart, in their own binaries: `tracing.rs` (it
//! installs a tracing subscriber, global to a process), `properties.rs` and
//! `differential.rs` (`cargo xtask fuzz` runs them by name with raised case
//! counts).
//!
//! Nothing here may depend on state global to the process (environment
//! variables set by a test, a global tracing subscriber or metrics
//! recorder, static counters): the tests of every module run at once.
//! Metrics are recorded with `metrics::with_local_recorder` on a
//! current-thread runtime, tracing with `tracing::subscriber::set_default`.

mod fixture;

mod bad_input;
mod budgets;
mod client;
mod closing;
mod cluster;
mod deflate;
mod http2;
mod http_transports;
mod observability;
mod rooms;
mod security;
mod shutdown;
mod stalled;
mod typed;
mod websocket;
