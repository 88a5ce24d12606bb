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

    /// The bytes this message takes in an `a[...]` frame, its separator
    /// included, escapes aside.
    fn framed_len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len() + 3,
            Outgoing::Shared(shared) => shared.json().len() + 1,
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
    // Sized up front: grown message by message, the frame was reallocated
    // two or three times per frame, the largest cost of a WebSocket echo
    // after the system calls.
    let bytes = batch.iter().map(Outgoing::framed_len).sum::<usize>() + 3;
    let mut frame = MessagesFrame::with_capacity(bytes);
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
    fn a_frame_is_built_in_the_room_reserved_for_it() {
        // Grown message by message, a frame ends with about twice the room
        // it needs, reallocated on the way; sized up front (no escapes
        // here), it never grows.
        for batch in [
            vec![Outgoing::Text("x".repeat(64))],
            vec![
                Outgoing::Text("x".repeat(64)),
                Outgoing::Shared(SharedText::new("y".repeat(10))),
                Outgoing::Shared(SharedText::new("z".repeat(10))),
                Outgoing::Text(String::new()),
            ],
        ] {
            let mut batch = batch;
            let frame = messages_frame(&mut batch);
            assert!(
                frame.capacity() <= frame.len() + 1,
                "{} bytes of room for {}",
                frame.capacity(),
                frame.len()
            );
        }
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
