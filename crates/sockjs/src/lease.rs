//! What a live session holds until it is gone: its shutdown ticket, its
//! place in the session counts, its "closed" metric and, in a cluster, its
//! directory entry. Dropping the lease gives all of them back, in that
//! order.

use std::sync::Arc;

use crate::limits::Slot;
use crate::session::core::Core;
use crate::shutdown::Ticket;

/// What a live session holds until it is gone: its entry in the shutdown
/// registry and its place in the service's session counts.
pub(crate) struct Lease {
    pub(crate) ticket: Ticket,
    _slot: Slot,
    _end: Ended,
    /// The session's directory entry, released when it is gone.
    #[cfg(feature = "cluster")]
    _claim: Option<Claim>,
}

impl Lease {
    /// The lease of the session `core`, holding `ticket` and `slot`.
    pub(crate) fn new(ticket: Ticket, slot: Slot, core: &Arc<Core>) -> Self {
        Lease {
            ticket,
            _slot: slot,
            _end: Ended(core.clone()),
            #[cfg(feature = "cluster")]
            _claim: None,
        }
    }

    /// Holds the session's entry `key` in the cluster's `directory` too,
    /// released with the lease.
    #[cfg(feature = "cluster")]
    pub(crate) fn claiming(
        mut self,
        directory: Arc<dyn crate::cluster::Directory>,
        key: String,
    ) -> Self {
        self._claim = Some(Claim { directory, key });
        self
    }
}

/// Counts the session as gone when dropped.
struct Ended(Arc<Core>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.metrics().closed(self.0.reason().as_ref());
    }
}

/// An HTTP session's entry in the cluster's directory.
#[cfg(feature = "cluster")]
struct Claim {
    directory: Arc<dyn crate::cluster::Directory>,
    key: String,
}

#[cfg(feature = "cluster")]
impl Drop for Claim {
    fn drop(&mut self) {
        self.directory.release(&self.key);
    }
}
