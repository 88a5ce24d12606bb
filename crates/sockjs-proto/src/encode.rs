//! Encoding server-to-client frames: `o`, `h`, `a[...]` and `c[code,"reason"]`.

use crate::escape::write_json_string;

/// One encoded SockJS frame, without transport framing.
///
/// ```
/// use sockjs_proto::Frame;
/// assert_eq!(Frame::open().as_str(), "o");
/// assert_eq!(Frame::heartbeat().as_str(), "h");
/// assert_eq!(Frame::messages(["x"]).as_str(), r#"a["x"]"#);
/// assert_eq!(Frame::close(3000, "Go away!").as_str(), r#"c[3000,"Go away!"]"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(String);

impl Frame {
    /// The open frame `o`, sent once when a session starts.
    ///
    /// ```
    /// use sockjs_proto::Frame;
    ///
    /// assert_eq!(Frame::open().as_str(), "o");
    /// ```
    #[inline]
    pub fn open() -> Self {
        Frame("o".to_owned())
    }

    /// The heartbeat frame `h`.
    ///
    /// ```
    /// use sockjs_proto::Frame;
    ///
    /// assert_eq!(Frame::heartbeat().as_str(), "h");
    /// ```
    #[inline]
    pub fn heartbeat() -> Self {
        Frame("h".to_owned())
    }

    /// A message frame `a[...]` carrying the messages in order.
    ///
    /// Each message is written as a JSON string with SockJS's escaping (see
    /// [`escape_json_string`](crate::escape_json_string)).
    ///
    /// ```
    /// use sockjs_proto::Frame;
    ///
    /// let frame = Frame::messages(["hello", "two\nlines"]);
    /// assert_eq!(frame.as_str(), r#"a["hello","two\nlines"]"#);
    /// assert_eq!(Frame::messages(Vec::<String>::new()).as_str(), "a[]");
    /// ```
    #[inline]
    pub fn messages<I, S>(messages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut frame = MessagesFrame::new();
        for m in messages {
            frame.push(m.as_ref());
        }
        frame.finish()
    }

    /// A close frame `c[code,"reason"]`.
    ///
    /// ```
    /// use sockjs_proto::{close_code, Frame};
    ///
    /// let frame = Frame::close(close_code::GOING_AWAY, "Server shutting down");
    /// assert_eq!(frame.as_str(), r#"c[1001,"Server shutting down"]"#);
    /// ```
    #[inline]
    pub fn close(code: u16, reason: &str) -> Self {
        let mut out = format!("c[{code},");
        write_json_string(&mut out, reason);
        out.push(']');
        Frame(out)
    }

    /// The frame's text.
    ///
    /// ```
    /// use sockjs_proto::Frame;
    ///
    /// // An eventsource transport puts each frame in an SSE event.
    /// let frame = Frame::messages(["hi"]);
    /// let event = format!("data: {}\r\n\r\n", frame.as_str());
    /// assert_eq!(event, "data: a[\"hi\"]\r\n\r\n");
    /// ```
    #[inline]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The frame's text, owned.
    ///
    /// ```
    /// use sockjs_proto::Frame;
    ///
    /// // xhr transports end each frame with a newline.
    /// let mut line = Frame::heartbeat().into_string();
    /// line.push('\n');
    /// assert_eq!(line, "h\n");
    /// ```
    #[inline]
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A message frame `a[...]` built one message at a time, for a sender
/// whose messages are partly encoded already: a message many sessions send
/// is escaped once and its JSON string reused in every frame
/// ([`push_encoded`](Self::push_encoded)).
///
/// ```
/// use sockjs_proto::{escape_json_string, Frame, MessagesFrame};
///
/// let shared = escape_json_string("to everyone");
/// let mut frame = MessagesFrame::new();
/// frame.push("just you");
/// frame.push_encoded(&shared);
/// assert_eq!(frame.finish(), Frame::messages(["just you", "to everyone"]));
/// ```
#[derive(Clone, Debug)]
pub struct MessagesFrame {
    out: String,
}

impl MessagesFrame {
    /// An empty message frame (`a[]` if finished now).
    ///
    /// ```
    /// use sockjs_proto::MessagesFrame;
    ///
    /// assert_eq!(MessagesFrame::new().finish().as_str(), "a[]");
    /// ```
    #[inline]
    pub fn new() -> Self {
        MessagesFrame {
            out: String::from("a["),
        }
    }

    /// An empty message frame with room for `bytes` bytes of frame, so
    /// that a sender that knows about how long its messages are builds the
    /// frame without growing it (a frame grown one message at a time is
    /// reallocated two or three times: more than its escaping costs).
    ///
    /// ```
    /// use sockjs_proto::MessagesFrame;
    ///
    /// let message = "hello";
    /// // `a[`, the quoted message, `]`: escapes aside, 3 + len + 2.
    /// let mut frame = MessagesFrame::with_capacity(3 + message.len() + 2);
    /// frame.push(message);
    /// assert_eq!(frame.finish().as_str(), r#"a["hello"]"#);
    /// ```
    #[inline]
    pub fn with_capacity(bytes: usize) -> Self {
        let mut out = String::with_capacity(bytes.max(3));
        out.push_str("a[");
        MessagesFrame { out }
    }

    fn separate(&mut self) {
        if self.out.len() > 2 {
            self.out.push(',');
        }
    }

    /// Appends `message`, escaped with SockJS's escaping.
    ///
    /// ```
    /// use sockjs_proto::MessagesFrame;
    ///
    /// let mut frame = MessagesFrame::new();
    /// frame.push("two\nlines");
    /// assert_eq!(frame.finish().as_str(), r#"a["two\nlines"]"#);
    /// ```
    #[inline]
    pub fn push(&mut self, message: &str) {
        self.separate();
        write_json_string(&mut self.out, message);
    }

    /// Appends a message already encoded as a quoted JSON string by
    /// [`escape_json_string`](crate::escape_json_string) or
    /// [`write_json_string`](crate::write_json_string); anything else
    /// makes an invalid frame.
    ///
    /// ```
    /// use sockjs_proto::{escape_json_string, MessagesFrame};
    ///
    /// let mut frame = MessagesFrame::new();
    /// frame.push_encoded(&escape_json_string("x"));
    /// assert_eq!(frame.finish().as_str(), r#"a["x"]"#);
    /// ```
    #[inline]
    pub fn push_encoded(&mut self, json: &str) {
        self.separate();
        self.out.push_str(json);
    }

    /// The frame.
    ///
    /// ```
    /// use sockjs_proto::MessagesFrame;
    ///
    /// let mut frame = MessagesFrame::new();
    /// frame.push("x");
    /// frame.push("y");
    /// assert_eq!(frame.finish().as_str(), r#"a["x","y"]"#);
    /// ```
    #[inline]
    pub fn finish(mut self) -> Frame {
        self.out.push(']');
        Frame(self.out)
    }
}

impl Default for MessagesFrame {
    fn default() -> Self {
        MessagesFrame::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_given_its_room_does_not_grow() {
        let message = "m".repeat(90);
        // `a[`, the quoted message, `]`: 95 bytes.
        let mut frame = MessagesFrame::with_capacity(96);
        frame.push(&message);
        let text = frame.finish().into_string();
        assert_eq!(text.len(), 95);
        // Grown from `a[`, it would have about twice the room.
        assert!(text.capacity() <= 100, "{} bytes of room", text.capacity());
    }

    #[test]
    fn frames() {
        assert_eq!(Frame::messages(Vec::<String>::new()).as_str(), "a[]");
        assert_eq!(Frame::messages(["a", "b"]).as_str(), r#"a["a","b"]"#);
        assert_eq!(Frame::messages(["\"\u{2028}"]).as_str(), r#"a["\"\u2028"]"#);
        assert_eq!(
            Frame::close(2010, "Another connection still open").as_str(),
            r#"c[2010,"Another connection still open"]"#
        );
        assert_eq!(Frame::close(1000, "q\"").as_str(), r#"c[1000,"q\""]"#);
    }
}
