//! [`NodeState`]: what a node's handle, brokers and directories share.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::options::Options;
use crate::publish::Outgoing;
use crate::stats::Counters;
use crate::subscribe::Subscriptions;

/// One node's state on Redis, shared by every clone of its
/// [`Redis`](crate::Redis) handle and by the brokers and directories made
/// from it: its id, options and command connection, the publishing queue,
/// the subscriptions, and the tasks behind them (stopped when the last
/// holder is gone).
pub(crate) struct NodeState {
    pub(crate) options: Options,
    /// This node's id on the wire (see [`crate::wire`]).
    pub(crate) id: String,
    pub(crate) conn: ConnectionManager,
    pub(crate) publish: mpsc::Sender<Outgoing>,
    pub(crate) subscriptions: Arc<Subscriptions>,
    pub(crate) subscribe: mpsc::UnboundedSender<String>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl Drop for NodeState {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
