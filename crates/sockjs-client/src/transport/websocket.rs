//! The `websocket` transport: `ws://.../<server>/<session>/websocket`, one
//! SockJS frame per text message each way (sends as JSON arrays).
//!
//! Reading and writing run concurrently on the split socket, so a full
//! incoming channel (an application that does not read) never stops
//! sending. Closes end with the WebSocket closing handshake, read to the
//! end, so neither side resets the connection.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use super::{heard, Target};
use crate::channels::{deliver, unattended, Outbox};
use crate::error::Error;
use crate::net::{chain, Io};
use crate::protocol::{decode, encode_messages, Frame};

/// An open WebSocket, past its `o` frame.
pub(crate) type Ws = WebSocketStream<Io>;

/// Connects, upgrades with the caller's headers, and waits for `o`.
pub(crate) async fn open(target: &Target) -> Result<Ws, Error> {
    let url = target.ws_url("websocket");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    for (name, value) in &target.headers {
        request.headers_mut().append(name, value.clone());
    }
    let io = target
        .connector
        .connect(request.uri())
        .await
        .map_err(|e| Error::Io(format!("{url}: {e}")))?;
    let (mut ws, _) = tokio_tungstenite::client_async(request, io)
        .await
        .map_err(|e| handshake_error(&url, e))?;
    loop {
        match next_frame(&mut ws).await? {
            Frame::Open => return Ok(ws),
            Frame::Heartbeat => continue,
            Frame::Close { code, reason } => return Err(Error::Closed { code, reason }),
            Frame::Messages(_) => {
                return Err(Error::Protocol("messages before the open frame".to_owned()))
            }
        }
    }
}

/// The upgrade's refusal as a status, anything else as I/O.
fn handshake_error(url: &str, error: tungstenite::Error) -> Error {
    match error {
        tungstenite::Error::Http(response) => Error::Status {
            status: response.status(),
            body: response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        },
        other => Error::Io(format!("{url}: {}", chain(&other))),
    }
}

/// The next SockJS frame; the end of the socket (or a close frame without
/// a SockJS one before it) as the error that ends the connection.
async fn next_frame<S>(stream: &mut S) -> Result<Frame, Error>
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let message = match stream.next().await {
            Some(Ok(message)) => message,
            Some(Err(e)) => return Err(Error::Io(format!("websocket: {}", chain(&e)))),
            None => {
                return Err(Error::Io(
                    "the websocket ended without a close frame".into(),
                ))
            }
        };
        match message {
            Message::Text(text) => {
                return decode(&text).map_err(|e| Error::Protocol(e.to_string()))
            }
            Message::Close(Some(frame)) => {
                return Err(Error::Closed {
                    code: frame.code.into(),
                    reason: frame.reason.as_str().to_owned(),
                })
            }
            Message::Close(None) => {
                return Err(Error::Io("the websocket closed without a code".into()))
            }
            Message::Binary(_) => return Err(Error::Protocol("a binary websocket message".into())),
            // Pings are answered by tungstenite.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// Runs the session until it ends; returns how.
pub(crate) async fn run(
    ws: Ws,
    events: &mpsc::Sender<String>,
    outbox: &mut Outbox,
    close_timeout: Duration,
    silence: Option<Duration>,
) -> Error {
    let (mut sink, mut stream) = ws.split();
    let end = tokio::select! {
        end = read(&mut stream, events, silence) => end,
        sent = write(&mut sink, outbox, events) => match sent {
            Ok(()) => {
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "Normal closure".into(),
                };
                if sink.send(Message::Close(Some(close))).await.is_ok() {
                    finish(&mut stream, close_timeout).await;
                }
                return Error::ClosedByClient;
            }
            Err(e) => e,
        },
    };
    if let Error::Closed { .. } = end {
        finish(&mut stream, close_timeout).await;
    }
    end
}

/// Reads until the server closes; delivers the messages.
async fn read(
    stream: &mut SplitStream<Ws>,
    events: &mpsc::Sender<String>,
    silence: Option<Duration>,
) -> Error {
    loop {
        match heard(silence, next_frame(stream)).await {
            Ok(Frame::Messages(messages)) => deliver(events, messages).await,
            Ok(Frame::Heartbeat) => {}
            Ok(Frame::Open) => return Error::Protocol("a second open frame".into()),
            Ok(Frame::Close { code, reason }) => return Error::Closed { code, reason },
            Err(e) => return e,
        }
    }
}

/// Sends batches until a close is asked for (`Ok`) or sending fails.
async fn write(
    sink: &mut SplitSink<Ws, Message>,
    outbox: &mut Outbox,
    events: &mpsc::Sender<String>,
) -> Result<(), Error> {
    while let Some(batch) = outbox.next_batch().await {
        if !batch.messages.is_empty() {
            sink.send(Message::text(encode_messages(&batch.messages)))
                .await
                .map_err(|e| Error::Io(format!("websocket send: {}", chain(&e))))?;
        }
        if batch.close {
            return Ok(());
        }
    }
    unattended(events).await;
    Ok(())
}

/// Completes a closing handshake: reads (and drops) what the server still
/// sends until it ends the connection, so that tungstenite answers its
/// close frame and nothing unread makes the socket reset.
async fn finish(stream: &mut SplitStream<Ws>, within: Duration) {
    let _ = tokio::time::timeout(within, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}
