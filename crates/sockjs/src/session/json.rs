//! Typed halves: [`JsonSender`] and [`JsonReceiver`], a session's halves
//! that speak serde types as JSON text messages
//! ([`Session::json`](crate::Session::json)).
//!
//! A client message that does not decode as the receiver's type ends the
//! session with [`close_code::UNDECODABLE`] (1007, `Message not
//! understood`): the application never sees it, the receiver's stream
//! ends, [`JsonReceiver::decode_error`] says what was wrong, and the
//! `sockjs_undecodable_messages_total` metric counts it.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::close::{close_code, standard_reason, CloseReason};
use super::receiver::Receiver;
use super::sender::{SendError, Sender, TrySendError};
use crate::rooms::Rooms;

/// Why a [`JsonSender`] did not send a message.
#[derive(Debug)]
#[non_exhaustive]
pub enum JsonSendError {
    /// The session is closed.
    Closed,
    /// The outgoing queue is full ([`JsonSender::try_send`] only).
    Full,
    /// The value has no JSON form (a map with non-string keys, a
    /// serializer that failed).
    Encode(serde_json::Error),
}

impl fmt::Display for JsonSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonSendError::Closed => f.write_str("sending on a closed SockJS session"),
            JsonSendError::Full => f.write_str("the SockJS session's outgoing queue is full"),
            JsonSendError::Encode(e) => write!(f, "the message has no JSON form: {e}"),
        }
    }
}

impl std::error::Error for JsonSendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JsonSendError::Encode(e) => Some(e),
            _ => None,
        }
    }
}

/// The sending half of a typed session: each value goes as one message,
/// its JSON text. Cloneable, like [`Sender`]; every other operation
/// (close, rooms) is the [`Sender`]'s, through [`sender`](Self::sender).
///
/// ```
/// use serde::Serialize;
///
/// #[derive(Serialize)]
/// struct Tick { n: u64 }
///
/// async fn ticker(session: sockjs::Session) {
///     let (tx, _rx) = session.json::<serde_json::Value, Tick>();
///     for n in 0.. {
///         if tx.send(&Tick { n }).await.is_err() {
///             break; // closed
///         }
///     }
/// }
/// # let _ = ticker;
/// ```
pub struct JsonSender<Out> {
    inner: Sender,
    _out: PhantomData<fn(&Out)>,
}

impl<Out> Clone for JsonSender<Out> {
    fn clone(&self) -> Self {
        JsonSender {
            inner: self.inner.clone(),
            _out: PhantomData,
        }
    }
}

impl<Out: Serialize> JsonSender<Out> {
    /// Sends `message` as JSON text, waiting for room as [`Sender::send`]
    /// does.
    ///
    /// ```
    /// async fn greet(tx: &sockjs::JsonSender<Vec<String>>) {
    ///     let _ = tx.send(&vec!["hello".to_owned(), "world".to_owned()]).await;
    /// }
    /// # let _ = greet;
    /// ```
    pub async fn send(&self, message: &Out) -> Result<(), JsonSendError> {
        let text = serde_json::to_string(message).map_err(JsonSendError::Encode)?;
        self.inner
            .send(text)
            .await
            .map_err(|SendError(_)| JsonSendError::Closed)
    }

    /// Sends `message` as JSON text if the queue has room now, as
    /// [`Sender::try_send`] does.
    ///
    /// ```
    /// async fn price(tx: &sockjs::JsonSender<f64>, value: f64) {
    ///     // A client that cannot keep up skips a price.
    ///     let _ = tx.try_send(&value);
    /// }
    /// # let _ = price;
    /// ```
    pub fn try_send(&self, message: &Out) -> Result<(), JsonSendError> {
        let text = serde_json::to_string(message).map_err(JsonSendError::Encode)?;
        self.inner.try_send(text).map_err(|e| match e {
            TrySendError::Full(_) => JsonSendError::Full,
            TrySendError::Closed(_) => JsonSendError::Closed,
        })
    }
}

impl<Out> JsonSender<Out> {
    /// The untyped sender underneath: close the session, join rooms, send
    /// text as it is.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.json::<String, String>();
    ///     tx.sender().join("lobby");
    ///     tx.sender().close(3000, "Go away!");
    /// }
    /// # let _ = handler;
    /// ```
    pub fn sender(&self) -> &Sender {
        &self.inner
    }

    /// The service's rooms (as [`Sender::rooms`]).
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (tx, _rx) = session.json::<String, String>();
    ///     tx.rooms().send("lobby", r#""someone joined""#);
    /// }
    /// # let _ = handler;
    /// ```
    pub fn rooms(&self) -> &Rooms {
        self.inner.rooms()
    }
}

impl<Out> fmt::Debug for JsonSender<Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonSender").field(&self.inner).finish()
    }
}

/// The receiving half of a typed session: a [`Stream`] of the client's
/// messages decoded from JSON text. It ends when the session closes, or at
/// the first message that does not decode, which closes the session with
/// 1007 `Message not understood` ([`decode_error`](Self::decode_error)
/// says why).
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// enum Command { Join { room: String }, Say { text: String } }
///
/// async fn handler(session: sockjs::Session) {
///     let (tx, mut rx) = session.json::<Command, String>();
///     while let Some(command) = rx.recv().await {
///         match command {
///             Command::Join { room } => tx.sender().join(&room),
///             Command::Say { text } => { let _ = tx.send(&text).await; }
///         }
///     }
///     if let Some(e) = rx.decode_error() {
///         println!("client sent something else: {e}");
///     }
/// }
/// # let _ = handler;
/// ```
pub struct JsonReceiver<In> {
    inner: Receiver,
    error: Option<String>,
    _in: PhantomData<fn() -> In>,
}

impl<In: DeserializeOwned> JsonReceiver<In> {
    /// The next message from the client, decoded; `None` once the session
    /// closed or a message did not decode.
    ///
    /// ```
    /// async fn sum(session: sockjs::Session) {
    ///     let (tx, mut rx) = session.json::<Vec<i64>, i64>();
    ///     while let Some(numbers) = rx.recv().await {
    ///         let _ = tx.send(&numbers.iter().sum()).await;
    ///     }
    /// }
    /// # let _ = sum;
    /// ```
    pub async fn recv(&mut self) -> Option<In> {
        std::future::poll_fn(|cx| self.poll_decoded(cx)).await
    }

    fn poll_decoded(&mut self, cx: &mut Context<'_>) -> Poll<Option<In>> {
        if self.error.is_some() {
            return Poll::Ready(None);
        }
        let Some(text) = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx)) else {
            return Poll::Ready(None);
        };
        match serde_json::from_str(&text) {
            Ok(value) => Poll::Ready(Some(value)),
            Err(e) => {
                self.refuse(e.to_string());
                Poll::Ready(None)
            }
        }
    }

    /// Ends the session for a message that did not decode.
    fn refuse(&mut self, why: String) {
        let core = self.inner.core();
        core.metrics().undecodable();
        core.close(
            close_code::UNDECODABLE,
            standard_reason(close_code::UNDECODABLE),
            CloseReason::TransportError(format!("message not understood: {why}")),
        );
        self.error = Some(why);
    }
}

impl<In> JsonReceiver<In> {
    /// What was wrong with the message that ended the session, if one did.
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (_tx, mut rx) = session.json::<u32, u32>();
    ///     while rx.recv().await.is_some() {}
    ///     match rx.decode_error() {
    ///         Some(e) => println!("closed with 1007: {e}"),
    ///         None => println!("closed: {:?}", rx.close_reason()),
    ///     }
    /// }
    /// # let _ = handler;
    /// ```
    pub fn decode_error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Why the session ended; `None` while it is open (as
    /// [`Receiver::close_reason`]).
    ///
    /// ```
    /// async fn handler(session: sockjs::Session) {
    ///     let (_tx, rx) = session.json::<u32, u32>();
    ///     assert_eq!(rx.close_reason(), None);
    /// }
    /// # let _ = handler;
    /// ```
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.close_reason()
    }
}

impl<In: DeserializeOwned> Stream for JsonReceiver<In> {
    type Item = In;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<In>> {
        self.get_mut().poll_decoded(cx)
    }
}

impl<In> fmt::Debug for JsonReceiver<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonReceiver")
            .field("inner", &self.inner)
            .field("decode_error", &self.error)
            .finish()
    }
}

/// The typed halves over `sender` and `receiver`.
pub(super) fn halves<In, Out>(
    sender: Sender,
    receiver: Receiver,
) -> (JsonSender<Out>, JsonReceiver<In>) {
    (
        JsonSender {
            inner: sender,
            _out: PhantomData,
        },
        JsonReceiver {
            inner: receiver,
            error: None,
            _in: PhantomData,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::error::Error as _;

    use super::JsonSendError;

    /// An encoding error says so and hands on serde_json's error as its
    /// source; the others have none.
    #[test]
    fn an_encoding_error_has_serde_jsons_error_as_its_source() {
        let keys_not_strings: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let e = serde_json::to_string(&keys_not_strings).unwrap_err();
        let text = e.to_string();
        let error = JsonSendError::Encode(e);
        assert_eq!(
            error.to_string(),
            format!("the message has no JSON form: {text}")
        );
        assert_eq!(error.source().map(|s| s.to_string()), Some(text));
        assert!(JsonSendError::Closed.source().is_none());
        assert!(JsonSendError::Full.source().is_none());
    }
}
