//! Room history on Redis: the key names of a room and the Lua scripts
//! that append to its stream and read it back. No I/O here.
//!
//! Each room of a channel has two keys, which share one hash tag (the
//! channel and the room name in braces), so that on Redis Cluster they
//! live in one slot and a script may use both (`<prefix>` is
//! [`Options::key_prefix`](crate::Options::key_prefix), `<channel>` the
//! broker's channel):
//!
//! - `<prefix>:{<channel>:<room>}:pos`, a hash: `e`, the history's epoch (lowercase
//!   hex, no leading zeros); `n`, the last offset given; `b`, the bytes of
//!   the messages in the stream; `d:<node>`, the last publishing number
//!   appended from each node (a batch retried after a lost connection is
//!   not appended twice). Expires after a day without messages (or the
//!   history's age bound, if longer): a position's epoch outlives its
//!   messages, so a client that saw the last message of a quiet room
//!   resumes with nothing missed rather than `Lost`.
//! - `<prefix>:{<channel>:<room>}:log`, a stream: entry `<offset>-0` with the
//!   fields `t` (Redis's time, in ms) and `d` (the message). Trimmed on
//!   every append (and read) to the history's bounds, oldest first, with
//!   `XTRIM MINID`; expires with its age bound after the last message.
//!
//! When `pos` is missing (never used, expired, or Redis lost its data) the
//! next append or read starts a new epoch, with a random value the node
//! proposes: positions of the old one are then answered `Lost`.

use std::time::Duration;

use sockjs::rooms::History;

/// `<prefix>:{<channel>:<room>}:pos` (see the module docs).
pub(crate) fn pos_key(prefix: &str, channel: &str, room: &str) -> String {
    format!("{prefix}:{{{channel}:{room}}}:pos")
}

/// `<prefix>:{<channel>:<room>}:log` (see the module docs).
pub(crate) fn log_key(prefix: &str, channel: &str, room: &str) -> String {
    format!("{prefix}:{{{channel}:{room}}}:log")
}

/// A new epoch to propose (used only when the room has none).
pub(crate) fn new_epoch() -> String {
    format!("{:x}", uuid::Uuid::new_v4().as_u64_pair().0 >> 16)
}

/// How long a room's `pos` hash outlives its last message.
pub(crate) fn pos_ttl(limits: &History) -> Duration {
    limits.age_limit().max(Duration::from_secs(24 * 3600))
}

/// Milliseconds, at least 1, at most what Redis takes.
pub(crate) fn millis(d: Duration) -> u64 {
    (d.as_millis().min(1 << 46) as u64).max(1)
}

/// Trims the stream to the bounds (shared by both scripts).
const TRIM: &str = r"
local function trim(pos, log, max_n, max_b, cutoff)
  local len = redis.call('XLEN', log)
  local bytes = tonumber(redis.call('HGET', pos, 'b') or '0')
  local cut = nil
  local from = '-'
  while len > 0 do
    local batch = redis.call('XRANGE', log, from, '+', 'COUNT', 64)
    if #batch == 0 then break end
    local stop = false
    for _, entry in ipairs(batch) do
      local f = entry[2]
      local t, d = tonumber(f[2]), f[4]
      if len > max_n or bytes > max_b or t < cutoff then
        len = len - 1
        bytes = bytes - #d
        cut = entry[1]
      else
        stop = true
        break
      end
    end
    if stop then break end
    from = '(' .. cut
  end
  if cut then
    local k = string.match(cut, '^(%d+)')
    redis.call('XTRIM', log, 'MINID', k .. '-1')
    redis.call('HSET', pos, 'b', bytes)
  end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// Appends a message and publishes it with its position.
///
/// KEYS: pos, log. ARGV: channel, room, message, proposed epoch, node,
/// node's number, max messages, max bytes, max age (ms), pos ttl (ms).
/// Returns the offset given, or 0 for a message already appended.
pub(crate) fn append() -> String {
    format!(
        "{TRIM}{}",
        r"
local pos, log = KEYS[1], KEYS[2]
local channel, room, message = ARGV[1], ARGV[2], ARGV[3]
local nf = 'd:' .. ARGV[5]
local seq = tonumber(ARGV[6])
if seq <= tonumber(redis.call('HGET', pos, nf) or '0') then return 0 end
local epoch = redis.call('HGET', pos, 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('DEL', log)
  redis.call('HSET', pos, 'e', epoch, 'n', 0, 'b', 0)
end
local n = redis.call('HINCRBY', pos, 'n', 1)
local now = now_ms()
redis.call('XADD', log, n .. '-0', 't', now, 'd', message)
redis.call('HINCRBY', pos, 'b', #message)
redis.call('HSET', pos, nf, seq)
if redis.call('HLEN', pos) > 64 then
  for _, f in ipairs(redis.call('HKEYS', pos)) do
    if string.sub(f, 1, 2) == 'd:' and f ~= nf then redis.call('HDEL', pos, f) end
  end
end
local max_age = tonumber(ARGV[9])
trim(pos, log, tonumber(ARGV[7]), tonumber(ARGV[8]), now - max_age)
redis.call('PEXPIRE', pos, ARGV[10])
redis.call('PEXPIRE', log, max_age + 1000)
redis.call('PUBLISH', channel, 'p ' .. epoch .. ' ' .. n .. ' #' .. #room .. ':' .. room .. ' ' .. message)
return n
"
    )
}

/// Reads what follows a position.
///
/// KEYS: pos, log. ARGV: the position's epoch (hex), its offset, proposed
/// epoch, max messages, max bytes, max age (ms), pos ttl (ms). Returns
/// `[epoch, last offset, id, message, id, message, ...]`: the entries
/// after the offset when the epoch is the room's (none otherwise).
pub(crate) fn since() -> String {
    format!(
        "{TRIM}{}",
        r"
local pos, log = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', pos, 'e')
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', log)
  redis.call('HSET', pos, 'e', epoch, 'n', 0, 'b', 0)
  redis.call('PEXPIRE', pos, ARGV[7])
end
local n = tonumber(redis.call('HGET', pos, 'n'))
trim(pos, log, tonumber(ARGV[4]), tonumber(ARGV[5]), now_ms() - tonumber(ARGV[6]))
local out = {epoch, n}
if ARGV[1] ~= epoch then return out end
local from = tonumber(ARGV[2]) + 1
if from > n then return out end
for _, e in ipairs(redis.call('XRANGE', log, from .. '-0', '+')) do
  table.insert(out, e[1])
  table.insert(out, e[2][4])
end
return out
"
    )
}

/// The offset of a stream entry id `<offset>-0`.
pub(crate) fn offset_of(id: &str) -> Option<u64> {
    let (offset, seq) = id.split_once('-')?;
    if seq != "0" {
        return None;
    }
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rooms_keys_share_one_hash_tag() {
        // Redis Cluster hashes the text between the first `{` and the next
        // `}`: the same for both keys of a room, whatever its name.
        fn tag(key: &str) -> &str {
            let Some(open) = key.find('{') else {
                return key;
            };
            match key[open + 1..].find('}') {
                Some(0) | None => key,
                Some(len) => &key[open + 1..open + 1 + len],
            }
        }
        for (prefix, channel, room) in [
            ("sockjs", "sockjs:rooms:/chat", "lobby"),
            ("sockjs", "sockjs:rooms:/chat", "a}b{c"),
            ("x{y}", "x{y}:rooms:/a", "lobby"),
            ("sockjs", "sockjs:rooms:/chat", ""),
            ("sockjs", "sockjs:rooms:/}", "}"),
        ] {
            let pos = pos_key(prefix, channel, room);
            let log = log_key(prefix, channel, room);
            assert_eq!(tag(&pos), tag(&log), "{pos} {log}");
            assert_ne!(tag(&pos), pos, "a tag: {pos}");
        }
        assert_eq!(
            log_key("sockjs", "sockjs:rooms:/chat", "lobby"),
            "sockjs:{sockjs:rooms:/chat:lobby}:log"
        );
        assert_eq!(
            pos_key("sockjs", "sockjs:rooms:/chat", "lobby"),
            "sockjs:{sockjs:rooms:/chat:lobby}:pos"
        );
    }

    #[test]
    fn entry_ids_and_bounds() {
        assert_eq!(offset_of("17-0"), Some(17));
        assert_eq!(offset_of("17-1"), None);
        assert_eq!(offset_of("x-0"), None);
        assert_eq!(offset_of("17"), None);
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(pos_ttl(&History::messages(1)), day);
        let week = History::messages(1).max_age(day * 7);
        assert_eq!(pos_ttl(&week), day * 7);
        let epoch = new_epoch();
        assert!(u64::from_str_radix(&epoch, 16).is_ok(), "{epoch}");
        assert_eq!(
            format!("{:x}", u64::from_str_radix(&epoch, 16).unwrap()),
            epoch
        );
    }
}
