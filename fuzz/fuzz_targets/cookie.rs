//! The JSESSIONID echo: `Cookie` header values, one per input line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs::fuzzing;

fuzz_target!(|data: &[u8]| {
    let headers: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let got = fuzzing::jsessionid(&headers);
    if let Some(value) = got {
        let value = value.as_bytes();
        assert!(value.starts_with(b"JSESSIONID=") && value.ends_with(b"; path=/"));
        let echoed = &value[b"JSESSIONID=".len()..value.len() - b"; path=/".len()];
        // The value is `dummy` or comes from a JSESSIONID pair of a header.
        assert!(
            echoed == b"dummy"
                || headers.iter().any(|h| h
                    .windows(echoed.len() + 11)
                    .any(|w| w == [&b"JSESSIONID="[..], echoed].concat())),
            "{:?}",
            String::from_utf8_lossy(value)
        );
    }
});
