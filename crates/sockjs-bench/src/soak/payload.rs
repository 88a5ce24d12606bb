//! The soak's messages: `<session>:<seq>:<padding>`. The padding is a pure
//! function of (session, seq), so a received message is checked by
//! generating it again: nothing sent needs to be kept.
//!
//! Sizes vary from empty padding to 20,000 characters (more than the
//! `/echo` service's `response_limit` of 4096 bytes, so some frames end a
//! streaming response on their own), and about one character in eight is
//! one the protocol must escape or that breaks a naive transport: quotes,
//! backslashes, `%` (eventsource percent-escapes it), control characters,
//! `\u2028`, `\u200c`, `\ufff0`, `\uffff`, and non-ASCII text up to
//! four-byte characters.

use super::rng::Rng;

/// Characters that need care somewhere on the way.
const SPECIAL: &[char] = &[
    '"', '\\', '/', '%', '<', '>', '&', '\'', ':', ' ', '\n', '\r', '\t', '\0', '\u{1}', '\u{1f}',
    '\u{7f}', 'é', 'ß', '日', '本', '😀', '\u{2028}', '\u{2029}', '\u{200c}', '\u{200d}',
    '\u{200f}', '\u{2060}', '\u{206f}', '\u{feff}', '\u{fff0}', '\u{fffd}', '\u{ffff}',
];

const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Message `seq` of session `session`.
pub(crate) fn message(session: u64, seq: u64) -> String {
    let mut rng = Rng::new(session.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ seq.rotate_left(29));
    let len = match rng.range(0, 99) {
        0..=59 => rng.range(0, 40),
        60..=89 => rng.range(41, 600),
        90..=97 => rng.range(601, 4000),
        _ => rng.range(4001, 20_000),
    } as usize;
    let mut s = format!("{session}:{seq}:");
    s.reserve(len + len / 4);
    for _ in 0..len {
        let r = rng.next_u64();
        if r.is_multiple_of(8) {
            s.push(SPECIAL[((r >> 8) % SPECIAL.len() as u64) as usize]);
        } else {
            s.push(char::from(PLAIN[((r >> 8) % PLAIN.len() as u64) as usize]));
        }
    }
    s
}

/// The session and sequence number a message claims to be.
pub(crate) fn head(message: &str) -> Option<(u64, u64)> {
    let mut parts = message.splitn(3, ':');
    let session = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((session, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regenerated_identically_and_headed() {
        for seq in 0..200 {
            let m = message(42, seq);
            assert_eq!(m, message(42, seq));
            assert_eq!(head(&m), Some((42, seq)));
            assert_ne!(m, message(43, seq));
        }
        assert_eq!(head("1:2:"), Some((1, 2)));
        assert_eq!(head("1:2"), None);
        assert_eq!(head("x:2:y"), None);
    }

    #[test]
    fn sizes_and_characters_vary() {
        let all: Vec<String> = (0..2000).map(|seq| message(7, seq)).collect();
        let longest = all.iter().map(|m| m.chars().count()).max().unwrap();
        let shortest = all.iter().map(|m| m.chars().count()).min().unwrap();
        assert!(longest > 4096, "{longest}");
        assert!(shortest < 12, "{shortest}");
        for c in [
            '\u{2028}', '\u{200c}', '\u{fff0}', '😀', '%', '"', '\\', '\0',
        ] {
            assert!(all.iter().any(|m| m.contains(c)), "{c:?} never drawn");
        }
    }
}
