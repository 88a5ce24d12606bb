//! What waits in a session's outgoing queue: a message of its own, or one
//! shared with other sessions (a room message), encoded once for all.

use std::sync::Arc;

use crate::protocol::MessagesFrame;
pub(crate) use crate::rooms::SharedText;

/// A message for the client.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Sent to this session only.
    Text(String),
    /// Sent to many sessions: its JSON encoding is computed once.
    Shared(Arc<SharedText>),
}

impl Outgoing {
    /// The message as the application sent it (raw WebSocket frames).
    pub(crate) fn into_text(self) -> String {
        match self {
            Outgoing::Text(text) => text,
            Outgoing::Shared(shared) => shared.text().to_string(),
        }
    }

    fn push_to(&self, frame: &mut MessagesFrame) {
        match self {
            Outgoing::Text(text) => frame.push(text),
            Outgoing::Shared(shared) => frame.push_encoded(shared.json()),
        }
    }
}

/// How many messages' room a receiving connection's batch keeps between
/// frames: a burst's room is given back, so that an idle session does not
/// hold it (24 bytes a message: 24 KiB after a burst of 1000).
pub(crate) const BATCH_KEPT: usize = 16;

/// The `a[...]` frame of `batch`, which it empties (keeping room for at
/// most [`BATCH_KEPT`] messages).
pub(crate) fn messages_frame(batch: &mut Vec<Outgoing>) -> String {
    let mut frame = MessagesFrame::new();
    for message in batch.drain(..) {
        message.push_to(&mut frame);
    }
    batch.shrink_to(BATCH_KEPT);
    frame.finish().into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Frame;

    #[test]
    fn shared_and_owned_messages_frame_like_frame_messages() {
        let shared = SharedText::new("b\u{2028}\"".into());
        let mut batch = vec![
            Outgoing::Text("a".into()),
            Outgoing::Shared(shared.clone()),
            Outgoing::Shared(shared.clone()),
        ];
        assert_eq!(
            messages_frame(&mut batch),
            Frame::messages(["a", "b\u{2028}\"", "b\u{2028}\""]).into_string()
        );
        assert!(batch.is_empty());
        assert_eq!(Outgoing::Shared(shared).into_text(), "b\u{2028}\"");
    }

    #[test]
    fn a_burst_leaves_no_room_behind() {
        // What BATCH_KEPT's documentation counts per message.
        assert_eq!(std::mem::size_of::<Outgoing>(), 24);
        let mut batch: Vec<Outgoing> = (0..1000).map(|i| Outgoing::Text(i.to_string())).collect();
        let frame = messages_frame(&mut batch);
        assert!(frame.starts_with("a[\"0\",\"1\","), "{frame:.20}");
        assert!(batch.is_empty());
        assert!(batch.capacity() <= BATCH_KEPT, "{} kept", batch.capacity());
        // A small batch keeps its room: no reallocation per frame.
        batch.extend((0..8).map(|i| Outgoing::Text(i.to_string())));
        let room = batch.capacity();
        messages_frame(&mut batch);
        assert_eq!(batch.capacity(), room);
    }
}
