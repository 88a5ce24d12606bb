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

/// The `a[...]` frame of `batch`, which it empties.
pub(crate) fn messages_frame(batch: &mut Vec<Outgoing>) -> String {
    let mut frame = MessagesFrame::new();
    for message in batch.drain(..) {
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
}
