//! The map of open HTTP sessions, and the timer that forgets them.

use std::sync::Arc;
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use super::close::CloseReason;
use super::core::Core;
use crate::lease::Lease;

/// Open HTTP-transport sessions by id. WebSocket sessions are not here:
/// they live as long as their socket, and their ids may repeat.
#[derive(Default)]
pub(crate) struct Store {
    map: DashMap<Box<str>, Arc<Core>>,
}

impl Store {
    /// The session with this id, if open.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Core>> {
        self.map.get(id).map(|entry| entry.value().clone())
    }

    /// The session with this id, creating it with `make` when there is
    /// none; the flag says whether it was created.
    pub(crate) fn get_or_create<T>(
        &self,
        id: &str,
        make: impl FnOnce() -> (Arc<Core>, T),
    ) -> (Arc<Core>, Option<T>) {
        if let Some(core) = self.get(id) {
            return (core, None);
        }
        match self.map.entry(id.into()) {
            Entry::Occupied(entry) => (entry.get().clone(), None),
            Entry::Vacant(entry) => {
                let (core, extra) = make();
                entry.insert(core.clone());
                (core, Some(extra))
            }
        }
    }

    /// Removes `id` if it still maps to `core` (the id may have been reused).
    pub(crate) fn remove(&self, id: &str, core: &Arc<Core>) {
        self.map.remove_if(id, |_, v| Arc::ptr_eq(v, core));
    }

    /// How many sessions are open.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Watches one HTTP session: once no receiving connection has been attached
/// for `delay`, the session times out (if still open), is removed from the
/// store and its queues are dropped. It holds the session's `lease`: its
/// shutdown ticket is drained once a receiver took the close frame, and the
/// lease is given back when the session is forgotten (or cut off by the
/// shutdown).
pub(crate) async fn reap(
    store: Arc<Store>,
    id: Box<str>,
    core: Arc<Core>,
    delay: Duration,
    mut lease: Lease,
) {
    loop {
        let change = core.on_change();
        tokio::pin!(change);
        change.as_mut().enable();
        if core.close_delivered() {
            lease.ticket.drained();
        }
        if core.is_gone() {
            break;
        }
        if core.is_attached() {
            change.await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {
                if !core.is_attached() {
                    break;
                }
            }
            _ = change => {}
        }
    }
    store.remove(&id, &core);
    core.finish(CloseReason::TimedOut);
    drop(lease);
    tracing::debug!(reason = ?core.reason(), "session forgotten");
}
