#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod broker;
mod directory;
mod node;
mod options;
mod publish;
mod subscribe;
mod wire;

pub use broker::Broker;
pub use directory::Directory;
pub use node::{Error, Redis, Stats};
pub use options::Options;
