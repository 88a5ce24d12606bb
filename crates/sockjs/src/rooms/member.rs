//! What a room holds of a session, and what a room message is.
//!
//! Rooms see a session only through [`Member`]: the session layer
//! implements it, so rooms never reach into a session's internals.

use std::sync::{Arc, OnceLock};

use crate::protocol::write_json_string;

/// A session as a room sees it.
pub(crate) trait Member: Send + Sync {
    /// The session's key in its rooms, unique in the process.
    fn key(&self) -> u64;

    /// The application's user key of the session, if it has one: what
    /// presence counts (never the session's id).
    fn user(&self) -> Option<Arc<str>> {
        None
    }

    /// Queues a message shared with other members, never waiting (a room
    /// message must not wait for one slow member); false when not queued.
    fn push_shared(&self, message: &Arc<SharedText>) -> bool;
}

/// A message many sessions send, with its JSON string encoding, computed
/// by whichever session frames it first.
#[derive(Debug)]
pub(crate) struct SharedText {
    text: Box<str>,
    json: OnceLock<Box<str>>,
}

impl SharedText {
    pub(crate) fn new(text: String) -> Arc<SharedText> {
        Arc::new(SharedText {
            text: text.into_boxed_str(),
            json: OnceLock::new(),
        })
    }

    /// The message.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The message as a quoted JSON string with SockJS's escaping.
    pub(crate) fn json(&self) -> &str {
        self.json.get_or_init(|| {
            let mut out = String::with_capacity(self.text.len() + 2);
            write_json_string(&mut out, &self.text);
            out.into_boxed_str()
        })
    }
}
