//! What waits in a session's outgoing queue: a message of its own, or one
//! shared with other sessions (a room message), encoded once for all.

use std::sync::{Arc, OnceLock};

use crate::protocol::write_json_string;

/// A message for the client.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Sent to this session only.
    Text(String),
    /// Sent to many sessions: its JSON encoding is computed once.
    Shared(Arc<SharedText>),
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
    fn json(&self) -> &str {
        self.json.get_or_init(|| {
            let mut out = String::with_capacity(self.text.len() + 2);
            write_json_string(&mut out, &self.text);
            out.into_boxed_str()
        })
    }
}

impl Outgoing {
    /// The message as the application sent it (raw WebSocket frames).
    pub(crate) fn into_text(self) -> String {
        match self {
            Outgoing::Text(text) => text,
            Outgoing::Shared(shared) => shared.text.to_string(),
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Outgoing::Text(text) => write_json_string(out, text),
            Outgoing::Shared(shared) => out.push_str(shared.json()),
        }
    }
}

/// The `a[...]` frame of `batch`, which it empties.
pub(crate) fn messages_frame(batch: &mut Vec<Outgoing>) -> String {
    let mut out = String::from("a[");
    for (i, message) in batch.drain(..).enumerate() {
        if i > 0 {
            out.push(',');
        }
        message.write_json(&mut out);
    }
    out.push(']');
    out
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
