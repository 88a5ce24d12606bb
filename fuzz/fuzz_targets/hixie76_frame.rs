//! hixie-76 frames at the front of the read buffer: `0x00 text 0xFF`,
//! the closing `0xFF 0x00`, or not enough bytes yet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockjs::fuzzing::{self, Hixie76Frame};

fuzz_target!(|buf: &[u8]| {
    let got = fuzzing::hixie76_parse_frame(buf);
    let want = match buf {
        [] | [0xFF] => Hixie76Frame::Incomplete,
        [0x00, rest @ ..] => match rest.iter().position(|b| *b == 0xFF) {
            Some(len) => Hixie76Frame::Text(len),
            None => Hixie76Frame::Incomplete,
        },
        [0xFF, 0x00, ..] => Hixie76Frame::Close,
        _ => Hixie76Frame::Invalid,
    };
    assert_eq!(got, want);
    if let Hixie76Frame::Text(len) = got {
        // The frame, end marker included, lies inside the buffer.
        assert!(len + 2 <= buf.len());
        assert_eq!(buf[len + 1], 0xFF);
        assert!(!buf[1..=len].contains(&0xFF));
    }
});
