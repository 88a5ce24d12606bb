#![doc = include_str!("../README.md")]
//!
//! ## Layers
//!
//! The modules, lowest first; each imports only modules above it in this
//! list (`cargo xtask layers` checks that no import goes the other way):
//!
//! - `options`: [`Options`], what a handle can be tuned with.
//! - `wire`: the format of room messages on the pub/sub channels.
//! - `stats`: [`Stats`] and the counters the tasks keep them in.
//! - `script`: room history on Redis: key names and Lua scripts.
//! - `order`: positioned room messages put in order, gaps filled from
//!   the room's stream.
//! - `publish`: the publishing queue and the task that drains it.
//! - `subscribe`: the subscriptions and the task that keeps them and
//!   delivers what arrives.
//! - `node_state`: what a node's handle, brokers and directories share:
//!   its id, options, connection, queue, subscriptions and tasks.
//! - `history`: room history on Redis Streams for every node, the
//!   brokers' `SharedHistory`.
//! - `presence`: who is in which room on every node, on Redis sorted
//!   sets, the brokers' `SharedPresence`.
//! - `broker`: [`Broker`], the rooms broker on one channel.
//! - `directory`: [`Directory`], the session directory on Redis keys.
//! - `node`: [`Redis`] and [`Error`]: connecting, and making brokers and
//!   directories.
#![forbid(unsafe_code)]

mod broker;
mod directory;
mod history;
mod node;
mod node_state;
mod options;
mod order;
mod presence;
mod publish;
mod script;
mod stats;
mod subscribe;
mod wire;

pub use broker::Broker;
pub use directory::Directory;
pub use node::{Error, Redis};
pub use options::Options;
pub use stats::Stats;
