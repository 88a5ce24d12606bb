//! Room history on Redis Streams, shared by every node: the
//! [`SharedHistory`] of a [`Broker`](crate::Broker).

use std::fmt;
use std::sync::Arc;

use sockjs::rooms::{History, Lost, Position, Replay, SharedHistory};

use crate::node_state::NodeState;
use crate::publish::{self, Outgoing};
use crate::script;

/// One channel's room history on Redis (see [`crate::script`] for the
/// keys, [`crate::order`] for the delivery).
pub(crate) struct StreamHistory {
    node: Arc<NodeState>,
    channel: Arc<str>,
}

impl StreamHistory {
    pub(crate) fn new(node: Arc<NodeState>, channel: Arc<str>) -> Self {
        StreamHistory { node, channel }
    }
}

/// The read script (see [`script::since`]).
fn since_script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(&script::since()))
}

impl SharedHistory for StreamHistory {
    fn append(&self, room: &str, message: &str, limits: &History) {
        let node = &self.node;
        let outgoing = Outgoing {
            channel: self.channel.clone(),
            room: Some(room.into()),
            user: None,
            message: message.into(),
            kept: Some(*limits),
        };
        publish::enqueue(&node.publish, &node.counters, outgoing);
    }

    fn since(&self, room: &str, since: Position, limits: &History) -> Replay {
        let prefix = &self.node.options.key_prefix;
        let mut invocation = since_script().prepare_invoke();
        invocation
            .key(script::pos_key(prefix, &self.channel, room))
            .key(script::log_key(prefix, &self.channel, room))
            .arg(format!("{:x}", since.epoch()))
            .arg(since.offset())
            .arg(script::new_epoch())
            .arg(limits.message_limit())
            .arg(limits.byte_limit())
            .arg(script::millis(limits.age_limit()))
            .arg(script::millis(script::pos_ttl(limits)));
        let mut conn = self.node.conn.clone();
        let timeout = self.node.options.timeout;
        let channel = self.channel.clone();
        let room: Box<str> = room.into();
        Box::pin(async move {
            let query = invocation.invoke_async::<Vec<redis::Value>>(&mut conn);
            let why = match tokio::time::timeout(timeout, query).await {
                Ok(Ok(answer)) => match replay(since, &answer) {
                    Some(result) => return result,
                    None => "an answer out of format".to_owned(),
                },
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {timeout:?}"),
            };
            tracing::warn!(%channel, %room, error = %why, "cannot read a room's history: the resume is answered Lost");
            Err(Lost { now: since })
        })
    }
}

/// What the read script's answer (see [`script::since`]) means for a
/// resume from `since`; `None` when it is not in that format.
fn replay(
    since: Position,
    answer: &[redis::Value],
) -> Option<Result<Vec<(Position, String)>, Lost>> {
    let text = |value: &redis::Value| -> Option<String> {
        match value {
            redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
            redis::Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        }
    };
    let (head, entries) = answer.split_first_chunk::<2>()?;
    let epoch = u64::from_str_radix(&text(&head[0])?, 16).ok()?;
    let last = match &head[1] {
        redis::Value::Int(n) => u64::try_from(*n).ok()?,
        _ => return None,
    };
    let now = Position::new(epoch, last);
    if since.epoch() != epoch || since.offset() > last {
        return Some(Err(Lost { now }));
    }
    let mut out = Vec::with_capacity(entries.len() / 2);
    for pair in entries.chunks(2) {
        let [id, message] = pair else { return None };
        let offset = script::offset_of(&text(id)?)?;
        out.push((Position::new(epoch, offset), text(message)?));
    }
    // The first message wanted is the one after `since`: it must be kept
    // (or not given yet).
    let first = out.first().map_or(last + 1, |(p, _)| p.offset());
    if since.offset() < last && first != since.offset() + 1 {
        return Some(Err(Lost { now }));
    }
    Some(Ok(out))
}

impl fmt::Debug for StreamHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamHistory")
            .field("channel", &self.channel)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn the_read_scripts_answer_gives_a_replay_or_lost() {
        let at = |offset| Position::new(0xab, offset);
        let now = Lost { now: at(5) };
        let answer = [
            bulk("ab"),
            Value::Int(5),
            bulk("4-0"),
            bulk("four"),
            bulk("5-0"),
            bulk("five"),
        ];
        assert_eq!(
            replay(at(3), &answer),
            Some(Ok(vec![
                (at(4), "four".to_owned()),
                (at(5), "five".to_owned())
            ]))
        );
        // 3 was trimmed: resuming after 2 would skip it.
        assert_eq!(replay(at(2), &answer), Some(Err(now)));
        // Up to date, ahead, or of another epoch.
        assert_eq!(
            replay(at(5), &[bulk("ab"), Value::Int(5)]),
            Some(Ok(Vec::new()))
        );
        assert_eq!(replay(at(6), &[bulk("ab"), Value::Int(5)]), Some(Err(now)));
        assert_eq!(
            replay(Position::new(0xac, 1), &[bulk("ab"), Value::Int(5)]),
            Some(Err(now))
        );
        // Everything after 4 trimmed (the stream expired): lost.
        assert_eq!(replay(at(4), &[bulk("ab"), Value::Int(5)]), Some(Err(now)));
        // Not the format.
        for bad in [
            vec![bulk("ab")],
            vec![bulk("zz"), Value::Int(5)],
            vec![bulk("ab"), Value::Int(-1)],
            vec![bulk("ab"), bulk("5")],
            vec![bulk("ab"), Value::Int(5), bulk("4-0")],
            vec![bulk("ab"), Value::Int(5), bulk("4-1"), bulk("x")],
            vec![bulk("ab"), Value::Int(5), bulk("4-0"), Value::Int(1)],
        ] {
            assert_eq!(replay(at(3), &bad), None, "{bad:?}");
        }
    }
}
