//! `xhr-streaming` and `xhr-polling`: receiving POSTs to `xhr_streaming` or
//! `xhr` whose bodies carry `\n`-terminated frames, and sending POSTs to
//! `xhr_send`.
//!
//! The two differ only in how long a receiving response lasts: a polling
//! one ends after a frame, a streaming one after the server's
//! `response_limit`. Either way the next request is made as soon as the
//! last one ended, after every frame of it was read, so nothing is lost;
//! the server keeps what it queues meanwhile. Sends are one request at a
//! time, each carrying every message queued by then (as sockjs-client).
//! Closing stops receiving (the pending request is dropped) and lets the
//! server time the session out, as sockjs-client does.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

use super::{heard, Target};
use crate::channels::{deliver, unattended, Outbox};
use crate::error::Error;
use crate::net::{chain, status_error, Body};
use crate::protocol::{decode, encode_messages, is_heartbeat_line, Frame, Lines};
use sockjs_proto::Transport;

/// An xhr session past its `o` frame.
pub(crate) struct Xhr {
    target: Target,
    transport: Transport,
    /// The receiving response the open frame came on, if it goes on.
    first: Option<FrameReader>,
}

/// Opens a session: the first receiving request, read up to `o`.
pub(crate) async fn open(target: Target, transport: Transport) -> Result<Xhr, Error> {
    let mut reader = receive(&target, transport).await?;
    loop {
        match reader.next_frame().await? {
            None => {
                return Err(Error::Protocol(
                    "the response ended before the open frame".into(),
                ))
            }
            Some(Frame::Open) => break,
            Some(Frame::Heartbeat) => continue,
            Some(Frame::Close { code, reason }) => return Err(Error::Closed { code, reason }),
            Some(Frame::Messages(_)) => {
                return Err(Error::Protocol("messages before the open frame".to_owned()))
            }
        }
    }
    Ok(Xhr {
        target,
        transport,
        first: Some(reader),
    })
}

/// Makes a receiving request and checks its status.
async fn receive(target: &Target, transport: Transport) -> Result<FrameReader, Error> {
    let name = match transport {
        Transport::XhrStreaming => "xhr_streaming",
        _ => "xhr",
    };
    let response = target
        .http
        .request(
            Method::POST,
            &target.http_url(name),
            &target.headers,
            Some(&target.jar),
            None,
        )
        .await?;
    if response.status() != StatusCode::OK {
        return Err(status_error(response).await);
    }
    Ok(FrameReader {
        body: response.into_body(),
        lines: Lines::default(),
    })
}

impl Xhr {
    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    /// Runs the session until it ends; returns how.
    pub(crate) async fn run(
        mut self,
        events: &mpsc::Sender<String>,
        outbox: &mut Outbox,
        silence: Option<Duration>,
    ) -> Error {
        let first = self.first.take();
        tokio::select! {
            end = self.read(first, events, silence) => end,
            sent = self.write(outbox, events) => sent.err().unwrap_or(Error::ClosedByClient),
        }
    }

    /// Receives, request after request, until the session ends.
    async fn read(
        &self,
        mut current: Option<FrameReader>,
        events: &mpsc::Sender<String>,
        silence: Option<Duration>,
    ) -> Error {
        loop {
            let mut reader = match current.take() {
                Some(reader) => reader,
                None => match heard(silence, receive(&self.target, self.transport)).await {
                    Ok(reader) => reader,
                    Err(e) => return e,
                },
            };
            loop {
                match heard(silence, reader.next_frame()).await {
                    Ok(Some(Frame::Messages(messages))) => deliver(events, messages).await,
                    Ok(Some(Frame::Heartbeat)) => {}
                    Ok(Some(Frame::Open)) => {
                        return Error::Io("the server lost the session (a new open frame)".into())
                    }
                    Ok(Some(Frame::Close { code, reason })) => {
                        return Error::Closed { code, reason }
                    }
                    // The server ended the response: make the next one.
                    Ok(None) => break,
                    Err(e) => return e,
                }
            }
        }
    }

    /// Sends batches until a close is asked for (`Ok`) or a send fails.
    async fn write(&self, outbox: &mut Outbox, events: &mpsc::Sender<String>) -> Result<(), Error> {
        while let Some(batch) = outbox.next_batch().await {
            if !batch.messages.is_empty() {
                self.send(&batch.messages).await?;
            }
            if batch.close {
                return Ok(());
            }
        }
        unattended(events).await;
        Ok(())
    }

    /// One `xhr_send`: 204 (or 200 from older servers) is success.
    async fn send(&self, messages: &[String]) -> Result<(), Error> {
        let body = Body {
            // What a browser sends for a string body.
            content_type: "text/plain;charset=UTF-8",
            bytes: Bytes::from(encode_messages(messages)),
        };
        let response = self
            .target
            .http
            .request(
                Method::POST,
                &self.target.http_url("xhr_send"),
                &self.target.headers,
                Some(&self.target.jar),
                Some(body),
            )
            .await?;
        if !matches!(response.status(), StatusCode::NO_CONTENT | StatusCode::OK) {
            return Err(status_error(response).await);
        }
        // Read the (empty) body to the end so the connection is reused.
        let _ = response.into_body().collect().await;
        Ok(())
    }
}

/// The frames of one receiving response.
struct FrameReader {
    body: Incoming,
    lines: Lines,
}

impl FrameReader {
    /// The next frame (the prelude and heartbeats as `Heartbeat`); `None`
    /// when the response ended after a whole frame.
    async fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        loop {
            if let Some(line) = self.lines.next_line() {
                let line = line.map_err(|e| Error::Protocol(e.to_string()))?;
                if line.is_empty() {
                    continue;
                }
                if is_heartbeat_line(&line) {
                    return Ok(Some(Frame::Heartbeat));
                }
                return decode(&line)
                    .map(Some)
                    .map_err(|e| Error::Protocol(e.to_string()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.lines.push(&data);
                    }
                }
                Some(Err(e)) => return Err(Error::Io(format!("receiving: {}", chain(&e)))),
                None if self.lines.has_partial() => {
                    return Err(Error::Protocol(
                        "the response ended in the middle of a frame".into(),
                    ))
                }
                None => return Ok(None),
            }
        }
    }
}
