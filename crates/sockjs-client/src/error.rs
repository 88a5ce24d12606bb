//! [`Error`]: why a connection could not open, or why it ended.

use std::fmt;

use http::StatusCode;

use sockjs_proto::Transport;

/// Why a connection could not be opened, or why it ended.
///
/// The server closing the session is [`Error::Closed`], with the code and
/// reason of its close frame `c[code,"reason"]`:
///
/// ```
/// use sockjs_client::Error;
///
/// fn describe(end: &Error) -> String {
///     match end {
///         Error::Closed { code: 3000..=4999, reason } => format!("the application said {reason:?}"),
///         Error::Closed { code: 1001, .. } => "the server is shutting down".into(),
///         Error::Closed { code, reason } => format!("closed: {code} {reason}"),
///         Error::ClosedByClient => "we closed it".into(),
///         other => format!("failed: {other}"),
///     }
/// }
/// assert_eq!(
///     describe(&Error::Closed { code: 3000, reason: "Go away!".into() }),
///     r#"the application said "Go away!""#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The server closed the session with `c[code,"reason"]`: for example
    /// 3000 `Go away!` from the application, 1000 `Normal closure`, 1001
    /// `Server shutting down`, or 2010 `Another connection still open`
    /// (another client receives on this session id). On a WebSocket, also
    /// the code and reason of a WebSocket close frame that came without a
    /// SockJS one (sockjs-axum's 1009 `Message too big`).
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// This side closed the connection ([`Connection::close`](crate::Connection::close)
    /// or dropping it).
    ClosedByClient,
    /// The server answered an HTTP request (or the WebSocket handshake)
    /// with an unexpected status: a handshake hook's 401, `403 Origin not
    /// allowed.`, 503 during a shutdown, 404 where no service is mounted.
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the body, as text.
        body: String,
    },
    /// A connection failed or was lost: it could not be made, a request or
    /// the WebSocket broke or ended without a close frame, the server lost
    /// the session (sent `o` again), or a send was refused.
    Io(String),
    /// Nothing came within the [`timeout`](crate::Client::timeout): the text says what
    /// was awaited.
    Timeout(String),
    /// The server sent something that is not SockJS.
    Protocol(String),
    /// The server's `/info` says it does not serve this transport
    /// (`"websocket": false`).
    TransportDisabled(Transport),
    /// Every transport tried failed to open: what happened to each, in the
    /// order tried.
    NoTransport(Vec<(Transport, Error)>),
    /// The URL cannot be used.
    InvalidUrl(String),
    /// An option given to the [`Client`](crate::Client) is invalid (a
    /// header name or value).
    InvalidOption(String),
}

impl Error {
    /// Whether a failure to open ends the fallback at once instead of
    /// trying the next transport: the server refused this client (401,
    /// 403, 429, 503), or the session answered with a close frame.
    pub(crate) fn is_final(&self) -> bool {
        match self {
            Error::Status { status, .. } => matches!(
                *status,
                StatusCode::UNAUTHORIZED
                    | StatusCode::FORBIDDEN
                    | StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::SERVICE_UNAVAILABLE
            ),
            Error::Closed { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Closed { code, reason } => {
                write!(f, "the server closed the session ({code} {reason:?})")
            }
            Error::ClosedByClient => f.write_str("the connection was closed by the client"),
            Error::Status { status, body } => {
                write!(f, "the server answered {status}")?;
                if !body.is_empty() {
                    write!(f, ": {body:?}")?;
                }
                Ok(())
            }
            Error::Io(what) => write!(f, "connection failed: {what}"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Protocol(what) => write!(f, "protocol error: {what}"),
            Error::TransportDisabled(t) => write!(f, "the server does not serve {t}"),
            Error::NoTransport(attempts) => {
                f.write_str("no transport could open")?;
                for (i, (transport, error)) in attempts.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { "; " })?;
                    write!(f, "{transport}: {error}")?;
                }
                Ok(())
            }
            Error::InvalidUrl(what) => write!(f, "invalid URL {what}"),
            Error::InvalidOption(what) => write!(f, "invalid option: {what}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let cases = [
            (
                Error::Closed {
                    code: 3000,
                    reason: "Go away!".into(),
                },
                r#"the server closed the session (3000 "Go away!")"#,
            ),
            (
                Error::Status {
                    status: StatusCode::UNAUTHORIZED,
                    body: "Log in first.".into(),
                },
                r#"the server answered 401 Unauthorized: "Log in first.""#,
            ),
            (
                Error::NoTransport(vec![
                    (
                        Transport::WebSocket,
                        Error::TransportDisabled(Transport::WebSocket),
                    ),
                    (
                        Transport::XhrPolling,
                        Error::Timeout("the open frame".into()),
                    ),
                ]),
                "no transport could open: websocket: the server does not serve websocket; \
                 xhr-polling: timed out: the open frame",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn final_failures() {
        let status = |s: StatusCode| Error::Status {
            status: s,
            body: String::new(),
        };
        assert!(status(StatusCode::UNAUTHORIZED).is_final());
        assert!(status(StatusCode::SERVICE_UNAVAILABLE).is_final());
        assert!(!status(StatusCode::NOT_FOUND).is_final());
        assert!(!status(StatusCode::BAD_REQUEST).is_final());
        assert!(!Error::Io("refused".into()).is_final());
        assert!(Error::Closed {
            code: 2010,
            reason: String::new()
        }
        .is_final());
    }
}
