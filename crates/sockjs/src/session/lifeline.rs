//! What closes a session once the application dropped both halves.

use std::sync::Arc;

use super::close::{close_code, standard_reason, CloseReason};
use super::core::Core;

/// Closes the session with a normal closure when the last half is dropped.
pub(super) struct Lifeline(pub(super) Arc<Core>);

impl Drop for Lifeline {
    fn drop(&mut self) {
        let reason = standard_reason(close_code::NORMAL);
        self.0.close(
            close_code::NORMAL,
            reason,
            CloseReason::ServerClosed {
                code: close_code::NORMAL,
                reason: reason.into(),
            },
        );
    }
}
