//! One session's connections, whatever the transport: a sending half
//! ([`Tx`]) and a receiving half ([`Rx`]) that can be driven at the same
//! time (a client that keeps sending while it does not read), and the
//! frames read as [`Event`]s.

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::plan::BadSend;
use super::rng::Rng;
use super::Transport;
use crate::frame::{self, clip, Frame};
use crate::http::{PollKind, Poller, Sender, Stream, StreamKind};
use crate::net::{Net, Ws};

/// What the receiving half read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// Messages, in order (an `a[...]` frame, or one raw websocket text).
    Messages(Vec<String>),
    Heartbeat,
    /// A SockJS close frame `c[code,"reason"]`.
    Close(u16, String),
    /// A websocket close frame, with its code and reason when it had one.
    WsClose(Option<(u16, String)>),
    /// The websocket connection ended cleanly after the closing handshake.
    Ended,
}

/// Sending half.
pub(crate) enum Tx {
    Ws {
        sink: SplitSink<Ws, Message>,
        framed: bool,
        rng: Rng,
    },
    Http {
        sender: Sender,
        path: String,
        jsonp: bool,
        rng: Rng,
    },
}

/// Receiving half.
pub(crate) enum Rx {
    Ws {
        stream: SplitStream<Ws>,
        framed: bool,
    },
    Stream(Box<Stream>),
    Poll(Box<Poller>),
}

/// Both halves of a session.
pub(crate) struct Link {
    pub(crate) tx: Tx,
    pub(crate) rx: Rx,
}

/// `PREFIX/<server>/<session>` of a session id.
pub(crate) fn base(prefix: &str, nonce: &str, id: u64) -> String {
    format!("{prefix}/{:03}/{nonce}-{id}", id % 1000)
}

impl Link {
    /// Opens a session on `transport` at `base` (`PREFIX/<server>/<session>`;
    /// the raw websocket uses `prefix/websocket`), reading the `o` frame
    /// where there is one.
    pub(crate) async fn open(
        net: &Net,
        transport: Transport,
        prefix: &str,
        base: &str,
        rng: Rng,
    ) -> Result<Link, String> {
        let http_tx = |jsonp: bool, rng: Rng| Tx::Http {
            sender: Sender::new(),
            path: format!("{base}/{}", if jsonp { "jsonp_send" } else { "xhr_send" }),
            jsonp,
            rng,
        };
        Ok(match transport {
            Transport::WebSocket | Transport::RawWebSocket => {
                let framed = transport == Transport::WebSocket;
                let path = if framed {
                    format!("{base}/websocket")
                } else {
                    format!("{prefix}/websocket")
                };
                let ws = net.websocket(&path).await?;
                let (sink, stream) = ws.split();
                let mut rx = Rx::Ws { stream, framed };
                if framed {
                    expect_open(rx.next_raw(net).await?, &path)?;
                }
                Link {
                    tx: Tx::Ws { sink, framed, rng },
                    rx,
                }
            }
            Transport::XhrStreaming | Transport::EventSource | Transport::HtmlFile => {
                let kind = stream_kind(transport);
                let mut stream = Stream::open(net, base, kind).await?;
                stream.heartbeats = true;
                Link {
                    tx: http_tx(false, rng),
                    rx: Rx::Stream(Box::new(stream)),
                }
            }
            Transport::XhrPolling | Transport::JsonpPolling => {
                let jsonp = transport == Transport::JsonpPolling;
                let kind = if jsonp {
                    PollKind::Jsonp
                } else {
                    PollKind::Xhr
                };
                let mut poller = Poller::open_kind(net, base, kind).await?;
                poller.ask(net).await?;
                expect_open(poller.answer().await?, base)?;
                Link {
                    tx: http_tx(jsonp, rng),
                    rx: Rx::Poll(Box::new(poller)),
                }
            }
            other => return Err(format!("the soak client does not speak {other}")),
        })
    }
}

fn stream_kind(transport: Transport) -> StreamKind {
    match transport {
        Transport::EventSource => StreamKind::EventSource,
        Transport::HtmlFile => StreamKind::HtmlFile,
        _ => StreamKind::XhrStreaming,
    }
}

fn expect_open(frame: String, path: &str) -> Result<(), String> {
    if frame == "o" {
        Ok(())
    } else {
        Err(format!(
            "{path}: expected the o frame, got {}",
            clip(&frame)
        ))
    }
}

/// A new receiving request for an existing HTTP session (after an abort).
pub(crate) async fn reattach(net: &Net, transport: Transport, base: &str) -> Result<Rx, String> {
    Ok(match transport {
        Transport::XhrPolling | Transport::JsonpPolling => {
            let kind = if transport == Transport::JsonpPolling {
                PollKind::Jsonp
            } else {
                PollKind::Xhr
            };
            Rx::Poll(Box::new(Poller::open_kind(net, base, kind).await?))
        }
        Transport::WebSocket | Transport::RawWebSocket => {
            return Err("a websocket session cannot be re-attached".into())
        }
        _ => {
            let mut stream = Stream::attach(net, base, stream_kind(transport)).await?;
            stream.heartbeats = true;
            Rx::Stream(Box::new(stream))
        }
    })
}

/// Percent-encodes a form value (everything but `[A-Za-z0-9-._~]`).
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn ws_error(e: WsError) -> String {
    match e {
        WsError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            "connection reset (ECONNRESET)".into()
        }
        e => format!("websocket: {e}"),
    }
}

impl Tx {
    /// Sends `messages` as the transport's client would: one framed
    /// websocket message (an array, or a lone JSON string), one raw text
    /// per message, or one `xhr_send` / `jsonp_send` request (a form or a
    /// plain JSON body), whose answer must be exactly the success one.
    pub(crate) async fn send(&mut self, net: &Net, messages: &[String]) -> Result<(), String> {
        match self {
            Tx::Ws {
                sink,
                framed: true,
                rng,
            } => {
                let text = if messages.len() == 1 && rng.chance(50) {
                    serde_json::to_string(&messages[0])
                } else {
                    serde_json::to_string(messages)
                }
                .map_err(|e| e.to_string())?;
                sink.send(Message::text(text)).await.map_err(ws_error)
            }
            Tx::Ws { sink, .. } => {
                for m in messages {
                    sink.feed(Message::text(m.clone()))
                        .await
                        .map_err(ws_error)?;
                }
                sink.flush().await.map_err(ws_error)
            }
            Tx::Http {
                sender,
                path,
                jsonp,
                rng,
            } => {
                let json = serde_json::to_string(messages).map_err(|e| e.to_string())?;
                let form = *jsonp && rng.chance(50);
                let (content_type, body) = if form {
                    (
                        Some("application/x-www-form-urlencoded"),
                        format!("d={}", form_encode(&json)),
                    )
                } else {
                    (jsonp.then_some("text/plain"), json)
                };
                let (status, answer) = sender
                    .post(net, path, content_type, body.as_bytes())
                    .await?;
                let want: (u16, &[u8]) = if *jsonp { (200, b"ok") } else { (204, b"") };
                if (status, &answer[..]) != want {
                    return Err(format!(
                        "POST {path}: expected {} {:?}, got {status} {}",
                        want.0,
                        String::from_utf8_lossy(want.1),
                        clip(&String::from_utf8_lossy(&answer))
                    ));
                }
                Ok(())
            }
        }
    }

    /// Sends a payload the server must refuse with a 500 and the given
    /// text; the session stays usable.
    pub(crate) async fn send_bad(&mut self, net: &Net, bad: BadSend) -> Result<(), String> {
        let Tx::Http {
            sender,
            path,
            jsonp,
            ..
        } = self
        else {
            return Err("bad payloads are an HTTP check".into());
        };
        let (body, want) = match bad {
            BadSend::BrokenJson => ("[\"broken", "Broken JSON encoding."),
            BadSend::Empty => ("", "Payload expected."),
        };
        let (content_type, body) = if *jsonp {
            (
                Some("application/x-www-form-urlencoded"),
                format!("d={}", form_encode(body)),
            )
        } else {
            (None, body.to_string())
        };
        let (status, answer) = sender
            .post(net, path, content_type, body.as_bytes())
            .await?;
        if status != 500 || answer != want.as_bytes() {
            return Err(format!(
                "POST {path} {body:?}: expected 500 {want:?}, got {status} {}",
                clip(&String::from_utf8_lossy(&answer))
            ));
        }
        Ok(())
    }

    /// A framed websocket message that is not JSON.
    pub(crate) async fn send_broken_framing(&mut self) -> Result<(), String> {
        match self {
            Tx::Ws {
                sink, framed: true, ..
            } => sink
                .send(Message::text("[\"broken"))
                .await
                .map_err(ws_error),
            _ => Err("broken framing is a framed websocket check".into()),
        }
    }

    /// Starts the websocket closing handshake with 1000.
    pub(crate) async fn close_ws(&mut self) -> Result<(), String> {
        match self {
            Tx::Ws { sink, .. } => sink
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                })))
                .await
                .map_err(ws_error),
            Tx::Http { .. } => Err("only websockets have a closing handshake".into()),
        }
    }
}

impl Rx {
    /// The next frame as text (websocket: the next text message).
    async fn next_raw(&mut self, net: &Net) -> Result<String, String> {
        match self.next_ws_or_frame(net).await? {
            Ok(text) => Ok(text),
            Err(event) => Err(format!("expected a frame, got {event:?}")),
        }
    }

    /// A text frame (`Ok`), or a websocket-level event (`Err`).
    async fn next_ws_or_frame(&mut self, net: &Net) -> Result<Result<String, Event>, String> {
        match self {
            Rx::Ws { stream, .. } => loop {
                match stream.next().await {
                    Some(Ok(Message::Text(t))) => return Ok(Ok(t.to_string())),
                    Some(Ok(Message::Close(f))) => {
                        return Ok(Err(Event::WsClose(
                            f.map(|f| (u16::from(f.code), f.reason.to_string())),
                        )))
                    }
                    Some(Ok(Message::Binary(_))) => return Err("unexpected binary message".into()),
                    Some(Ok(_)) => {} // ping, pong
                    Some(Err(e)) => return Err(ws_error(e)),
                    None => return Ok(Err(Event::Ended)),
                }
            },
            Rx::Stream(s) => s.next_frame(net).await.map(Ok),
            Rx::Poll(p) => {
                p.ask(net).await?;
                p.answer().await.map(Ok)
            }
        }
    }

    /// The next event.
    pub(crate) async fn next(&mut self, net: &Net) -> Result<Event, String> {
        let raw = matches!(self, Rx::Ws { framed: false, .. });
        let text = match self.next_ws_or_frame(net).await? {
            Ok(text) => text,
            Err(event) => return Ok(event),
        };
        if raw {
            return Ok(Event::Messages(vec![text]));
        }
        Ok(match frame::parse(&text)? {
            Frame::Open => return Err("unexpected o frame (a new session)".into()),
            Frame::Heartbeat => Event::Heartbeat,
            Frame::Messages(ms) => {
                Event::Messages(ms.into_iter().map(|m| m.into_owned()).collect())
            }
            Frame::Close { code, reason } => Event::Close(code, reason.into_owned()),
        })
    }

    /// Sends a poll request without reading its answer (to abort it).
    pub(crate) async fn ask_only(&mut self, net: &Net) -> Result<(), String> {
        if let Rx::Poll(p) = self {
            p.ask(net).await?;
        }
        Ok(())
    }

    /// After a SockJS close frame on an HTTP transport: a streaming
    /// response must end right after it.
    pub(crate) async fn expect_response_end(&mut self) -> Result<(), String> {
        match self {
            Rx::Stream(s) => s.expect_response_end().await,
            _ => Ok(()),
        }
    }

    /// After the last response: the server must end the connection
    /// cleanly (no TCP reset). Websockets: the stream must end (`Ended`).
    pub(crate) async fn expect_clean_eof(&mut self, net: &Net) -> Result<(), String> {
        match self {
            Rx::Ws { .. } => match self.next(net).await? {
                Event::Ended => Ok(()),
                other => Err(format!("expected the connection to end, got {other:?}")),
            },
            Rx::Stream(s) => s.conn_mut().expect_eof().await,
            Rx::Poll(p) => p.conn_mut().expect_eof().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("[\"a b\"]"), "%5B%22a%20b%22%5D");
        assert_eq!(form_encode("é"), "%C3%A9");
        assert_eq!(form_encode("aZ9-._~"), "aZ9-._~");
        assert_eq!(base("/echo", "n", 1234), "/echo/234/n-1234");
    }
}
