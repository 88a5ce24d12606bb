//! The proof that a forwarded request comes from a node of the cluster:
//! the value of `X-SockJS-Forwarded`, `v1 <unix seconds> <hex HMAC>`.
//!
//! The HMAC-SHA256, keyed with the cluster's shared secret, covers the
//! method, the path and query, the session's directory key and the
//! timestamp, each on its own line after a version line:
//!
//! ```text
//! sockjs-forwarded v1\nPOST\n/echo/0/s/xhr_send?t=1\n/echo/s\n1767225600
//! ```
//!
//! A request is accepted when the MAC matches (compared in constant time by
//! `ring::hmac::verify`) and its timestamp is within the allowed clock skew
//! of this node's clock, either way. Pure: no I/O, the clock is an
//! argument.

use std::fmt;
use std::time::Duration;

use ring::hmac;

/// The first word of the header value: the format's version.
const VERSION: &str = "v1";

/// Why a forwarded request's proof was refused (logged; the client gets
/// one answer for all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not `v1 <seconds> <64 hex digits>`: a client's marker (the old bare
    /// `1`, say) or a node of another version.
    Malformed,
    /// Signed too long ago, or too far ahead: a replay, or clocks apart.
    Stale,
    /// The MAC does not match: another secret, or a forgery.
    BadSignature,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Malformed => "malformed forwarding marker",
            Refusal::Stale => "forwarding marker outside the allowed clock skew",
            Refusal::BadSignature => "forwarding marker with a bad signature",
        })
    }
}

/// What is signed.
fn message(method: &str, path_and_query: &str, key: &str, timestamp: u64) -> String {
    format!("sockjs-forwarded {VERSION}\n{method}\n{path_and_query}\n{key}\n{timestamp}")
}

/// The header value that proves the request `method path_and_query` for
/// session `key` was forwarded by a node holding `secret`, at `now` (unix
/// seconds).
pub(crate) fn sign(
    secret: &hmac::Key,
    method: &str,
    path_and_query: &str,
    key: &str,
    now: u64,
) -> String {
    let tag = hmac::sign(secret, message(method, path_and_query, key, now).as_bytes());
    let mut value = format!("{VERSION} {now} ");
    for byte in tag.as_ref() {
        value.push_str(&format!("{byte:02x}"));
    }
    value
}

/// Checks a header value made by [`sign`] against this request and this
/// node's clock (`now`, unix seconds).
pub(crate) fn verify(
    secret: &hmac::Key,
    value: &[u8],
    method: &str,
    path_and_query: &str,
    key: &str,
    now: u64,
    max_skew: Duration,
) -> Result<(), Refusal> {
    let value = std::str::from_utf8(value).map_err(|_| Refusal::Malformed)?;
    let mut words = value.split(' ');
    let (Some(VERSION), Some(timestamp), Some(mac), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(Refusal::Malformed);
    };
    // Digits only: `u64::from_str` would also take a leading `+`.
    if timestamp.is_empty()
        || timestamp.len() > 20
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Refusal::Malformed);
    }
    let timestamp: u64 = timestamp.parse().map_err(|_| Refusal::Malformed)?;
    let tag = decode_hex(mac).ok_or(Refusal::Malformed)?;
    if tag.len() != 32 {
        return Err(Refusal::Malformed);
    }
    // The MAC first: a forger learns nothing about the clock from timing.
    hmac::verify(
        secret,
        message(method, path_and_query, key, timestamp).as_bytes(),
        &tag,
    )
    .map_err(|_| Refusal::BadSignature)?;
    if now.abs_diff(timestamp) > max_skew.as_secs() {
        return Err(Refusal::Stale);
    }
    Ok(())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    hex.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_767_225_600;
    const SKEW: Duration = Duration::from_secs(10);

    fn key(secret: &[u8]) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, secret)
    }

    fn check(
        secret: &[u8],
        value: &str,
        method: &str,
        path: &str,
        session: &str,
        now: u64,
    ) -> Result<(), Refusal> {
        verify(
            &key(secret),
            value.as_bytes(),
            method,
            path,
            session,
            now,
            SKEW,
        )
    }

    #[test]
    fn a_signature_holds_for_its_request_only() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let value = sign(
            &key(secret),
            "POST",
            "/echo/0/s/xhr_send?x=1",
            "/echo/s",
            NOW,
        );
        assert!(value.starts_with("v1 1767225600 "), "{value}");
        assert_eq!(value.len(), "v1 1767225600 ".len() + 64);
        let ok = |method, path, session, now| check(secret, &value, method, path, session, now);
        assert_eq!(ok("POST", "/echo/0/s/xhr_send?x=1", "/echo/s", NOW), Ok(()));
        // Either side of the clock, up to the skew.
        assert_eq!(
            ok("POST", "/echo/0/s/xhr_send?x=1", "/echo/s", NOW + 10),
            Ok(())
        );
        assert_eq!(
            ok("POST", "/echo/0/s/xhr_send?x=1", "/echo/s", NOW - 10),
            Ok(())
        );
        let table = [
            (
                "GET",
                "/echo/0/s/xhr_send?x=1",
                "/echo/s",
                NOW,
                Refusal::BadSignature,
            ),
            (
                "POST",
                "/echo/0/s/xhr?x=1",
                "/echo/s",
                NOW,
                Refusal::BadSignature,
            ),
            (
                "POST",
                "/echo/0/s/xhr_send?x=2",
                "/echo/s",
                NOW,
                Refusal::BadSignature,
            ),
            (
                "POST",
                "/echo/0/s/xhr_send?x=1",
                "/echo/t",
                NOW,
                Refusal::BadSignature,
            ),
            (
                "POST",
                "/echo/0/s/xhr_send?x=1",
                "/echo/s",
                NOW + 11,
                Refusal::Stale,
            ),
            (
                "POST",
                "/echo/0/s/xhr_send?x=1",
                "/echo/s",
                NOW - 11,
                Refusal::Stale,
            ),
        ];
        for (method, path, session, now, want) in table {
            assert_eq!(
                ok(method, path, session, now),
                Err(want),
                "{method} {path} {session} {now}"
            );
        }
        // Another secret.
        assert_eq!(
            check(
                b"another secret, 32 bytes long...",
                &value,
                "POST",
                "/echo/0/s/xhr_send?x=1",
                "/echo/s",
                NOW
            ),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn refusals_say_what_was_wrong() {
        assert_eq!(
            Refusal::Malformed.to_string(),
            "malformed forwarding marker"
        );
        assert_eq!(
            Refusal::Stale.to_string(),
            "forwarding marker outside the allowed clock skew"
        );
        assert_eq!(
            Refusal::BadSignature.to_string(),
            "forwarding marker with a bad signature"
        );
    }

    #[test]
    fn malformed_markers() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let good = sign(&key(secret), "POST", "/p", "/k", NOW);
        let mac = good.rsplit(' ').next().unwrap().to_owned();
        let table = [
            "1".to_owned(),
            String::new(),
            "v1".to_owned(),
            format!("v1 {NOW}"),
            format!("v2 {NOW} {mac}"),
            format!("v1 +{NOW} {mac}"),
            format!("v1 -{NOW} {mac}"),
            format!("v1 {NOW} {mac} extra"),
            format!("v1  {NOW} {mac}"),
            format!("v1 {NOW} {}", mac.to_uppercase()),
            format!("v1 {NOW} {}", &mac[..62]),
            format!("v1 {NOW} {mac}00"),
            format!("v1 {NOW} {}g", &mac[..63]),
            format!("v1 99999999999999999999999 {mac}"),
            // The right time and MAC, but more than 20 digits.
            format!("v1 {NOW:0>21} {mac}"),
        ];
        for value in table {
            assert_eq!(
                check(secret, &value, "POST", "/p", "/k", NOW),
                Err(Refusal::Malformed),
                "{value:?}"
            );
        }
        assert_eq!(
            verify(&key(secret), b"v1 \xff 00", "POST", "/p", "/k", NOW, SKEW),
            Err(Refusal::Malformed)
        );
        // Twenty digits (u64's most) are read, leading zeros and all.
        assert_eq!(
            check(
                secret,
                &format!("v1 {NOW:0>20} {mac}"),
                "POST",
                "/p",
                "/k",
                NOW
            ),
            Ok(())
        );
        // A well-formed forgery.
        let forged = format!("v1 {NOW} {}", "0".repeat(64));
        assert_eq!(
            check(secret, &forged, "POST", "/p", "/k", NOW),
            Err(Refusal::BadSignature)
        );
    }
}
