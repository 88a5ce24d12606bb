//! What waits in a session's outgoing queue: a message of its own, or one
//! shared with other sessions (a room message), encoded once for all.

use std::sync::Arc;

use super::queue::Queue;
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

/// The `a[...]` frame of `batch`, which it empties (a burst's buffer is
/// given back with it, so that an idle session does not hold it).
pub(crate) fn messages_frame(batch: &mut Queue<Outgoing>) -> String {
    // Sized up front: grown message by message, the frame was reallocated
    // two or three times per frame, the largest cost of a WebSocket echo
    // after the system calls.
    let bytes = batch.iter().map(Outgoing::framed_len).sum::<usize>() + 3;
    let mut frame = MessagesFrame::with_capacity(bytes);
    for message in batch.drain() {
        message.push_to(&mut frame);
    }
    frame.finish().into_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Frame;

    #[test]
    fn shared_and_owned_messages_frame_like_frame_messages() {
        let shared = SharedText::new("b\u{2028}\"".into());
        let mut batch = Queue::default();
        batch.extend([
            Outgoing::Text("a".into()),
            Outgoing::Shared(shared.clone()),
            Outgoing::Shared(shared.clone()),
        ]);
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
            let mut queue = Queue::default();
            queue.extend(batch);
            let frame = messages_frame(&mut queue);
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
        let mut batch = Queue::default();
        batch.extend((0..1000).map(|i| Outgoing::Text(i.to_string())));
        let frame = messages_frame(&mut batch);
        assert!(frame.starts_with("a[\"0\",\"1\","), "{frame:.20}");
        assert!(batch.is_empty());
        assert!(!batch.has_buffer(), "the burst's buffer is kept");
    }
}
