//! The wire format of room messages on Redis pub/sub: pure encoding and
//! decoding, no I/O.
//!
//! One Redis message carries one room message:
//!
//! ```text
//! 1 <node> <seq> <target> <message>
//! ```
//!
//! - `1`: the format's version;
//! - `<node>`: the publishing node's id (no spaces), so that a node skips
//!   its own messages;
//! - `<seq>`: the message's number on its channel from that node, decimal,
//!   from 1; receivers drop a number they have seen (a publish retried
//!   after a lost connection) and notice gaps (messages lost while Redis
//!   was unreachable);
//! - `<target>`: `*` for every session, `#<len>:<room>` for one room, or
//!   `@<len>:<user>` for every session of one user key, `<len>` being the
//!   name's length in bytes (a room name or user key may hold any
//!   character, spaces included);
//! - `<message>`: the rest of the payload, the message's UTF-8 text as the
//!   application sent it (not JSON-encoded).
//!
//! Fields are separated by one space. `1 9f2c 17 #5:lobby hello world` is
//! message 17 of node `9f2c`, `hello world` to the room `lobby`.
//!
//! A room message with a position in the room's history on Redis (see
//! [`crate::script`]) is published by the script that gives it the
//! position, to every node, the sender's included:
//!
//! ```text
//! p <epoch> <offset> #<len>:<room> <message>
//! ```
//!
//! `<epoch>` in lowercase hexadecimal, `<offset>` in decimal:
//! `p 5f3a9c 17 #5:lobby hello` is message 17 of epoch `5f3a9c` of
//! `lobby`.
//!
//! A change in a room's presence (see [`crate::presence`]) is published by
//! the script that decides it, to every node, the sender's included:
//!
//! ```text
//! j #<len>:<room> <user>
//! l #<len>:<room> <user>
//! ```
//!
//! `j`: the user joined the room (its first entry on any node); `l`: it
//! left (its last entry went, or expired). `j #5:lobby alice`.

use std::fmt::Write as _;

/// The version this code writes and reads.
const VERSION: &str = "1";

/// Where a message goes, owned (decoded from the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    All,
    Room(&'a str),
    User(&'a str),
}

/// A decoded message, borrowing from the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) node: &'a str,
    pub(crate) seq: u64,
    pub(crate) target: Target<'a>,
    pub(crate) message: &'a str,
}

/// Encodes one message.
pub(crate) fn encode(node: &str, seq: u64, target: Target<'_>, message: &str) -> String {
    let room_len = match target {
        Target::All => 0,
        Target::Room(name) | Target::User(name) => name.len() + 8,
    };
    let mut out = String::with_capacity(node.len() + room_len + message.len() + 26);
    out.push_str(VERSION);
    out.push(' ');
    out.push_str(node);
    let _ = write!(out, " {seq} ");
    match target {
        Target::All => out.push('*'),
        Target::Room(room) => {
            let _ = write!(out, "#{}:{room}", room.len());
        }
        Target::User(user) => {
            let _ = write!(out, "@{}:{user}", user.len());
        }
    }
    out.push(' ');
    out.push_str(message);
    out
}

/// Why a payload could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Not UTF-8.
    NotText,
    /// Another version of the format (a newer node).
    Version,
    /// Not in the format.
    Malformed(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NotText => f.write_str("not UTF-8"),
            DecodeError::Version => f.write_str("unknown format version"),
            DecodeError::Malformed(what) => write!(f, "malformed: {what}"),
        }
    }
}

/// A decoded positioned room message, borrowing from the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Kept<'a> {
    pub(crate) epoch: u64,
    pub(crate) offset: u64,
    pub(crate) room: &'a str,
    pub(crate) message: &'a str,
}

/// Whether a payload is a positioned room message (`p ...`).
pub(crate) fn is_kept(payload: &[u8]) -> bool {
    payload.starts_with(b"p ")
}

/// Decodes a positioned room message.
pub(crate) fn decode_kept(payload: &[u8]) -> Result<Kept<'_>, DecodeError> {
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotText)?;
    let rest = text
        .strip_prefix("p ")
        .ok_or(DecodeError::Malformed("not a positioned message"))?;
    let (epoch, rest) = rest
        .split_once(' ')
        .ok_or(DecodeError::Malformed("no epoch"))?;
    let hex = !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_hexdigit());
    let epoch = u64::from_str_radix(epoch, 16)
        .ok()
        .filter(|_| hex)
        .ok_or(DecodeError::Malformed("epoch"))?;
    let (offset, rest) = rest
        .split_once(' ')
        .ok_or(DecodeError::Malformed("no offset"))?;
    let offset = offset
        .parse::<u64>()
        .map_err(|_| DecodeError::Malformed("offset"))?;
    let rest = rest
        .strip_prefix('#')
        .ok_or(DecodeError::Malformed("target"))?;
    let (room, message) = room_and_message(rest)?;
    Ok(Kept {
        epoch,
        offset,
        room,
        message,
    })
}

/// `<len>:<room> <message>` (after the `#`).
fn room_and_message(rest: &str) -> Result<(&str, &str), DecodeError> {
    let (len, rest) = rest
        .split_once(':')
        .ok_or(DecodeError::Malformed("room length"))?;
    let len = len
        .parse::<usize>()
        .map_err(|_| DecodeError::Malformed("room length"))?;
    let room = rest.get(..len).ok_or(DecodeError::Malformed("room name"))?;
    let message = rest[len..]
        .strip_prefix(' ')
        .ok_or(DecodeError::Malformed("no message"))?;
    Ok((room, message))
}

/// A decoded presence change, borrowing from the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Notice<'a> {
    /// True: joined; false: left.
    pub(crate) joined: bool,
    pub(crate) room: &'a str,
    pub(crate) user: &'a str,
}

/// Whether a payload is a presence change (`j ...` or `l ...`).
pub(crate) fn is_notice(payload: &[u8]) -> bool {
    payload.starts_with(b"j #") || payload.starts_with(b"l #")
}

/// Decodes a presence change.
pub(crate) fn decode_notice(payload: &[u8]) -> Result<Notice<'_>, DecodeError> {
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotText)?;
    let (joined, rest) = if let Some(rest) = text.strip_prefix("j #") {
        (true, rest)
    } else if let Some(rest) = text.strip_prefix("l #") {
        (false, rest)
    } else {
        return Err(DecodeError::Malformed("not a presence change"));
    };
    let (room, user) = room_and_message(rest)?;
    Ok(Notice { joined, room, user })
}

/// Decodes one payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotText)?;
    let (version, rest) = text
        .split_once(' ')
        .ok_or(DecodeError::Malformed("no version"))?;
    if version != VERSION {
        return Err(DecodeError::Version);
    }
    let (node, rest) = rest
        .split_once(' ')
        .ok_or(DecodeError::Malformed("no node"))?;
    if node.is_empty() {
        return Err(DecodeError::Malformed("empty node"));
    }
    let (seq, rest) = rest
        .split_once(' ')
        .ok_or(DecodeError::Malformed("no sequence number"))?;
    let seq = seq
        .parse::<u64>()
        .map_err(|_| DecodeError::Malformed("sequence number"))?;
    let (target, rest) = if let Some(rest) = rest.strip_prefix('*') {
        (Target::All, rest)
    } else if let Some(rest) = rest.strip_prefix('#') {
        let (room, message) = room_and_message(rest)?;
        return Ok(Frame {
            node,
            seq,
            target: Target::Room(room),
            message,
        });
    } else if let Some(rest) = rest.strip_prefix('@') {
        let (user, message) = room_and_message(rest)?;
        return Ok(Frame {
            node,
            seq,
            target: Target::User(user),
            message,
        });
    } else {
        return Err(DecodeError::Malformed("target"));
    };
    let message = rest
        .strip_prefix(' ')
        .ok_or(DecodeError::Malformed("no message"))?;
    Ok(Frame {
        node,
        seq,
        target,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cases: &[(Target<'_>, &str, &str)] = &[
            (Target::All, "hello", "1 n1 7 * hello"),
            (Target::All, "", "1 n1 7 * "),
            (
                Target::Room("lobby"),
                "hi there",
                "1 n1 7 #5:lobby hi there",
            ),
            (Target::Room(""), "x", "1 n1 7 #0: x"),
            (Target::Room("a b:#5"), " lead", "1 n1 7 #6:a b:#5  lead"),
            (Target::User("alice"), "mail", "1 n1 7 @5:alice mail"),
            (Target::User("a @1:"), "x", "1 n1 7 @5:a @1: x"),
            (
                Target::Room("中文"),
                "é\n\u{2028}",
                "1 n1 7 #6:中文 é\n\u{2028}",
            ),
        ];
        for (target, message, wire) in cases {
            let encoded = encode("n1", 7, target.clone(), message);
            assert_eq!(encoded, *wire);
            let frame = decode(encoded.as_bytes()).unwrap();
            assert_eq!(
                frame,
                Frame {
                    node: "n1",
                    seq: 7,
                    target: target.clone(),
                    message,
                }
            );
        }
    }

    #[test]
    fn positioned_messages_decode_and_refuse_garbage() {
        let kept = decode_kept("p 5f3a9c 17 #5:lobby hello world".as_bytes()).unwrap();
        assert_eq!(
            kept,
            Kept {
                epoch: 0x5f3a9c,
                offset: 17,
                room: "lobby",
                message: "hello world",
            }
        );
        assert!(is_kept(b"p 1 1 #0: "));
        assert!(!is_kept(b"1 n1 7 * x"));
        assert_eq!(
            decode_kept("p a 1 #6:中文 é ".as_bytes()).unwrap().message,
            "é "
        );
        let cases: &[(&[u8], DecodeError)] = &[
            (b"p \xff", DecodeError::NotText),
            (
                b"1 n1 7 * x",
                DecodeError::Malformed("not a positioned message"),
            ),
            (b"p 5f", DecodeError::Malformed("no epoch")),
            (b"p xyz 1 #1:a b", DecodeError::Malformed("epoch")),
            (b"p +a 1 #1:a b", DecodeError::Malformed("epoch")),
            (b"p  1 #1:a b", DecodeError::Malformed("epoch")),
            (b"p a 1", DecodeError::Malformed("no offset")),
            (b"p a -1 #1:a b", DecodeError::Malformed("offset")),
            (b"p a 1 *x", DecodeError::Malformed("target")),
            (b"p a 1 #x:a b", DecodeError::Malformed("room length")),
            (b"p a 1 #9:a b", DecodeError::Malformed("room name")),
            (b"p a 1 #1:ab", DecodeError::Malformed("no message")),
        ];
        for (payload, error) in cases {
            assert_eq!(
                decode_kept(payload),
                Err(error.clone()),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn presence_changes_decode_and_refuse_garbage() {
        assert_eq!(
            decode_notice(b"j #5:lobby alice smith"),
            Ok(Notice {
                joined: true,
                room: "lobby",
                user: "alice smith",
            })
        );
        assert_eq!(
            decode_notice("l #6:中文 é".as_bytes()),
            Ok(Notice {
                joined: false,
                room: "中文",
                user: "é",
            })
        );
        assert!(is_notice(b"j #0: "));
        assert!(!is_notice(b"1 n1 7 * x") && !is_notice(b"p 1 1 #0: "));
        let cases: &[(&[u8], DecodeError)] = &[
            (b"j #\xff", DecodeError::NotText),
            (b"x #1:a b", DecodeError::Malformed("not a presence change")),
            (b"j #x:a b", DecodeError::Malformed("room length")),
            (b"l #9:a b", DecodeError::Malformed("room name")),
            (b"j #1:ab", DecodeError::Malformed("no message")),
        ];
        for (payload, error) in cases {
            assert_eq!(decode_notice(payload), Err(error.clone()));
        }
    }

    #[test]
    fn refuses_what_is_not_the_format() {
        let cases: &[(&[u8], DecodeError)] = &[
            (b"\xff", DecodeError::NotText),
            (b"2 n1 7 * x", DecodeError::Version),
            (b"", DecodeError::Malformed("no version")),
            (b"1 n1", DecodeError::Malformed("no node")),
            (b"1  7 * x", DecodeError::Malformed("empty node")),
            (b"1 n1 x * x", DecodeError::Malformed("sequence number")),
            (b"1 n1 7 ", DecodeError::Malformed("target")),
            (b"1 n1 7 #x:a b", DecodeError::Malformed("room length")),
            (b"1 n1 7 #9:ab c", DecodeError::Malformed("room name")),
            // The length splits a UTF-8 character.
            (b"1 n1 7 #1:\xc3\xa9 c", DecodeError::Malformed("room name")),
            (b"1 n1 7 *x", DecodeError::Malformed("no message")),
            (b"1 n1 7 #1:ab c", DecodeError::Malformed("no message")),
            (b"1 n1 7 *", DecodeError::Malformed("no message")),
            (b"1 n1 7 @5:ab c", DecodeError::Malformed("room name")),
        ];
        for (payload, error) in cases {
            assert_eq!(
                decode(payload),
                Err(error.clone()),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
