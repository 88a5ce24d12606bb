//! The close codes of close frames `c[code,"reason"]`.

/// Close codes that appear in SockJS close frames `c[code,"reason"]`, and
/// the reason text each is sent with ([`reason`](close_code::reason)).
///
/// ```
/// use sockjs_proto::{close_code, Frame};
///
/// let frame = Frame::close(close_code::GO_AWAY, "Go away!");
/// assert_eq!(frame.as_str(), r#"c[3000,"Go away!"]"#);
/// ```
pub mod close_code {
    /// Normal closure: the server's handler returned or let go of the
    /// session.
    ///
    /// ```
    /// use sockjs_proto::close_code;
    ///
    /// assert_eq!(close_code::NORMAL, 1000);
    /// assert_eq!(close_code::reason(close_code::NORMAL), Some("Normal closure"));
    /// ```
    pub const NORMAL: u16 = 1000;
    /// The server is going away (a graceful shutdown).
    ///
    /// ```
    /// use sockjs_proto::close_code;
    ///
    /// // On the client side: reconnect elsewhere when the server goes away.
    /// fn reconnect_after(code: u16) -> bool {
    ///     code == close_code::GOING_AWAY
    /// }
    /// assert!(reconnect_after(1001));
    /// ```
    pub const GOING_AWAY: u16 = 1001;
    /// The receiving connection was aborted by the client or the network.
    ///
    /// ```
    /// assert_eq!(sockjs_proto::close_code::INTERRUPTED, 1002);
    /// ```
    pub const INTERRUPTED: u16 = 1002;
    /// A WebSocket message was larger than the server's maximum.
    ///
    /// ```
    /// use sockjs_proto::close_code;
    ///
    /// assert_eq!(close_code::reason(close_code::TOO_BIG), Some("Message too big"));
    /// ```
    pub const TOO_BIG: u16 = 1009;
    /// A message the application could not decode (the typed halves of
    /// `sockjs-axum`: JSON that does not match the expected type).
    ///
    /// ```
    /// use sockjs_proto::close_code;
    ///
    /// assert_eq!(close_code::reason(close_code::UNDECODABLE), Some("Message not understood"));
    /// ```
    pub const UNDECODABLE: u16 = 1007;
    /// The session's queue overflowed; the client may try again later.
    ///
    /// ```
    /// use sockjs_proto::close_code;
    ///
    /// fn worth_retrying(code: u16) -> bool {
    ///     matches!(code, close_code::GOING_AWAY | close_code::TRY_AGAIN_LATER)
    /// }
    /// assert!(worth_retrying(1013));
    /// ```
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A second receiving connection was refused while one is open.
    ///
    /// ```
    /// use sockjs_proto::{close_code, Frame};
    ///
    /// let busy = Frame::close(
    ///     close_code::ANOTHER_CONNECTION,
    ///     close_code::reason(close_code::ANOTHER_CONNECTION).unwrap(),
    /// );
    /// assert_eq!(busy.as_str(), r#"c[2010,"Another connection still open"]"#);
    /// ```
    pub const ANOTHER_CONNECTION: u16 = 2010;
    /// The first code free for applications; sockjs-node's `Go away!` uses it.
    ///
    /// ```
    /// assert_eq!(sockjs_proto::close_code::GO_AWAY, 3000);
    /// ```
    pub const GO_AWAY: u16 = 3000;

    /// The standard reason text sent with `code`, as sockjs-node and
    /// sockjs-axum write it; `None` for a code that has none (1013 is sent
    /// with what overflowed, application codes with the application's
    /// text).
    ///
    /// ```
    /// use sockjs_proto::close_code::{self, reason};
    ///
    /// assert_eq!(reason(close_code::NORMAL), Some("Normal closure"));
    /// assert_eq!(reason(close_code::GOING_AWAY), Some("Server shutting down"));
    /// assert_eq!(reason(close_code::INTERRUPTED), Some("Connection interrupted"));
    /// assert_eq!(reason(close_code::GO_AWAY), Some("Go away!"));
    /// assert_eq!(reason(close_code::TRY_AGAIN_LATER), None);
    /// assert_eq!(reason(4000), None);
    /// ```
    #[inline]
    pub const fn reason(code: u16) -> Option<&'static str> {
        match code {
            NORMAL => Some("Normal closure"),
            GOING_AWAY => Some("Server shutting down"),
            INTERRUPTED => Some("Connection interrupted"),
            TOO_BIG => Some("Message too big"),
            UNDECODABLE => Some("Message not understood"),
            ANOTHER_CONNECTION => Some("Another connection still open"),
            GO_AWAY => Some("Go away!"),
            _ => None,
        }
    }
}
