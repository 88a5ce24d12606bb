//! hixie-76 handshake: `Sec-WebSocket-Key1` / `Key2` numbers and the MD5
//! answer. Input: key1, a newline, key2, a newline, the 8 body bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use md5::{Digest, Md5};
use sockjs::fuzzing;
use sockjs_fuzz::reference_key_number;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let key1 = parts.next().unwrap_or("");
    let key2 = parts.next().unwrap_or("");
    let mut key3 = [0u8; 8];
    for (k, b) in key3.iter_mut().zip(parts.next().unwrap_or("").bytes()) {
        *k = b;
    }
    assert_eq!(
        fuzzing::hixie76_key_number(key1),
        reference_key_number(key1),
        "{key1:?}"
    );
    let want = reference_key_number(key1)
        .zip(reference_key_number(key2))
        .map(|(a, b)| {
            let mut md5 = Md5::new();
            md5.update(a.to_be_bytes());
            md5.update(b.to_be_bytes());
            md5.update(key3);
            <[u8; 16]>::from(md5.finalize())
        });
    assert_eq!(fuzzing::hixie76_challenge_response(key1, key2, &key3), want);
});
