//! Input generators shared by the property tests (`properties.rs`) and the
//! differential test against sockjs-node (`differential.rs`): arbitrary
//! bytes and strings, and structured near-valid inputs (JSON with random
//! escapes, nesting, numbers and whitespace, then mutated), forms, query
//! strings, cookies and paths.
#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Characters that stress the escaper and the parsers: JSON syntax, the
/// characters SockJS escapes and their neighbours, surrogate neighbours,
/// non-characters, astral planes.
pub fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('a', 'z'),
        2 => select(vec![
            '"', '\\', '/', '\n', '\r', '\t', '\u{0}', '\u{8}', '\u{b}', '\u{c}', '\u{1f}',
            ' ', '\u{7f}', '\u{80}', '\u{a0}', '\u{ad}', '\u{200b}', '\u{200c}', '\u{200f}',
            '\u{2010}', '\u{2027}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{2030}', '\u{205f}',
            '\u{2060}', '\u{206f}', '\u{2070}', '\u{d7ff}', '\u{e000}', '\u{fdd0}', '\u{feff}',
            '\u{ffef}', '\u{fff0}', '\u{fffd}', '\u{ffff}', '\u{10000}', '\u{1f600}',
            '\u{10ffff}', '[', ']', '{', '}', ',', ':', '%', '&', '=', '+', ';', '.',
        ]),
        1 => any::<char>(),
    ]
}

/// A string of [`interesting_char`]s.
pub fn interesting_string() -> impl Strategy<Value = String> {
    prop::collection::vec(interesting_char(), 0..24).prop_map(|v| v.into_iter().collect())
}

/// Whitespace, JSON's and not JSON's.
fn ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => Just(""),
        3 => select(vec![" ", "\n", "\t", "\r", "  \r\n"]),
        1 => select(vec!["\u{a0}", "\u{feff}", "\u{b}", "\u{c}", "\u{2028}", "\u{0}"]),
    ]
}

/// One piece of a JSON string literal's body: raw characters (some not
/// allowed raw), short escapes, `\uXXXX` in both cases, surrogate pairs,
/// lone surrogates and broken escapes.
fn string_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => interesting_char().prop_map(|c| c.to_string()),
        2 => select(vec!["\\n", "\\t", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r"])
            .prop_map(String::from),
        2 => any::<u16>().prop_map(|u| format!("\\u{u:04x}")),
        1 => any::<u16>().prop_map(|u| format!("\\u{u:04X}")),
        1 => (0xD800u16..0xDC00, 0xDC00u16..0xE000)
            .prop_map(|(h, l)| format!("\\u{h:04x}\\u{l:04x}")),
        1 => (0xD800u16..0xE000).prop_map(|s| format!("\\u{s:04x}")),
        1 => select(vec![
            "\\x41", "\\u12", "\\u", "\\", "\\U0041", "\\ud800\\u", "\\ud800\\", "\\ud83d\\ude0",
            "\\ud83d\\u0041", "\\udc00\\ud800", "\\a", "\\'", "\\0",
        ])
        .prop_map(String::from),
    ]
}

/// A JSON string literal, quoted, mostly valid.
pub fn json_string_literal() -> impl Strategy<Value = String> {
    prop::collection::vec(string_piece(), 0..8).prop_map(|p| format!("\"{}\"", p.concat()))
}

/// Numbers, valid and not: big, tiny, out of range, malformed.
fn json_number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        any::<f64>().prop_map(|f| format!("{f}")),
        select(vec![
            "0",
            "-0",
            "01",
            "1.",
            "-",
            ".5",
            "1e",
            "1e+",
            "1E400",
            "-1e-400",
            "1e308",
            "1.5e-7",
            "123456789012345678901234567890",
            "0.0e0",
            "+1",
            "0x10",
            "Infinity",
            "-Infinity",
            "NaN",
            "1_000",
            "١",
        ])
        .prop_map(String::from),
        "[0-9]{20,400}",
    ]
}

/// A JSON value as text, nested up to a few levels, mostly valid.
pub fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => json_string_literal(),
        2 => json_number(),
        2 => select(vec![
            "true", "false", "null", "nul", "tru", "True", "NULL", "undefined", "[]", "{}",
        ])
        .prop_map(String::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec((ws(), inner.clone(), ws()), 0..6).prop_map(|v| {
                let items: Vec<String> = v
                    .into_iter()
                    .map(|(a, x, b)| format!("{a}{x}{b}"))
                    .collect();
                format!("[{}]", items.join(","))
            }),
            prop::collection::vec((json_string_literal(), ws(), inner), 0..4).prop_map(|v| {
                let items: Vec<String> = v
                    .into_iter()
                    .map(|(k, w, x)| format!("{k}{w}:{x}"))
                    .collect();
                format!("{{{}}}", items.join(","))
            }),
        ]
    })
}

/// A client send payload as text: mostly arrays of strings, sometimes any
/// value, with whitespace around.
pub fn json_payload() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (ws(), prop::collection::vec((ws(), json_string_literal(), ws()), 0..6), ws())
            .prop_map(|(a, v, b)| {
                let items: Vec<String> = v.into_iter().map(|(x, s, y)| format!("{x}{s}{y}")).collect();
                format!("{a}[{}]{b}", items.join(","))
            }),
        2 => (ws(), json_value(), ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}")),
        1 => (ws(), json_string_literal(), ws()).prop_map(|(a, v, b)| format!("{a}{v}{b}")),
    ]
}

/// Bytes that JSON text sometimes gets spliced with.
fn splice_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        select(vec![
            &b"]"[..],
            b"[",
            b",",
            b"\"",
            b"\\",
            b"}",
            b"{",
            b":",
            b" ",
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
            b"\xef\xbb\xbf",
            b"\x00",
            b"null",
            b"1",
        ])
        .prop_map(<[u8]>::to_vec),
        prop::collection::vec(any::<u8>(), 1..4),
    ]
}

/// `text` with one random edit (or none): truncation, insertion, deletion,
/// a prefix or a suffix.
pub fn mutated(text: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    (text, 0u8..8, any::<Index>(), splice_bytes()).prop_map(|(text, op, at, bytes)| {
        let mut v = text.into_bytes();
        let i = at.index(v.len() + 1);
        match op {
            0 => v.truncate(i),
            1 => {
                v.splice(i..i, bytes);
            }
            2 if i < v.len() => {
                v.remove(i);
            }
            3 => v.splice(0..0, bytes).for_each(drop),
            4 => v.extend_from_slice(&bytes),
            _ => {}
        }
        v
    })
}

/// Bodies for `xhr_send` / `jsonp_send` / WebSocket messages: arbitrary
/// bytes, arbitrary strings and mutated near-valid JSON.
pub fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..48),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => interesting_string().prop_map(String::into_bytes),
        6 => mutated(json_payload()),
    ]
}

/// Percent-encodes `bytes` the way a form might: all of it, only what must
/// be, or with `+` for spaces.
fn form_encode(bytes: &[u8], style: u8) -> String {
    let mut out = String::new();
    for &b in bytes {
        let plain = b.is_ascii_alphanumeric() || b"-_.*".contains(&b);
        match style % 3 {
            0 => out.push_str(&format!("%{b:02X}")),
            1 if plain => out.push(b as char),
            2 if b == b' ' => out.push('+'),
            2 if b.is_ascii_graphic() && !b"%&+=".contains(&b) => out.push(b as char),
            _ => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

/// `application/x-www-form-urlencoded` bodies for `jsonp_send`: `d=` with
/// a payload, other fields, repeated or missing `d`, broken escapes.
pub fn form_body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        6 => (mutated(json_payload()), 0u8..3).prop_map(|(v, s)| format!("d={}", form_encode(&v, s))),
        1 => select(vec![
            "d=", "d", "=", "", "a=1", "D=%5B%5D", "d=%", "d=%zz", "d=%5", "d=%5B%22%ff%22%5D",
            "d=%5B%22%ED%A0%80%22%5D", "d=+", "d=%20", "d=[\"x\"]", "%64=%5B%5D", "d%3D=1",
            "d=%5B%22a%22%5D%5B",
        ])
        .prop_map(String::from),
        1 => interesting_string().prop_map(|s| format!("x={s}")),
    ];
    let other = prop_oneof![
        select(vec![
            "a=1",
            "",
            "=",
            "x",
            "D=%5B%5D",
            "%64=%5B%5D",
            "d%3D=1",
            "dd=1"
        ])
        .prop_map(String::from),
        interesting_string().prop_map(|s| format!("x={s}")),
    ];
    let one_d = (
        prop::collection::vec(other.clone(), 0..2),
        field.clone(),
        prop::collection::vec(other, 0..2),
    )
        .prop_map(|(mut before, d, after)| {
            before.push(d);
            before.extend(after);
            before
        });
    let fields = prop_oneof![
        4 => one_d,
        1 => prop::collection::vec(field, 0..4),
    ];
    (fields, any::<bool>()).prop_map(|(fields, trailing)| {
        let mut body = fields.join("&");
        if trailing {
            body.push('&');
        }
        body.into_bytes()
    })
}

/// `Content-Type` values of send requests: none, the ones sockjs-client
/// sends, the ones sockjs-node knows, and others.
pub fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        6 => select(vec![
            "text/plain", "text/plain;charset=UTF-8", "T", "application/json", "application/xml",
            "text/xml", "text/xml; charset=utf-8", "", "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=UTF-8",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => select(vec![
            "application/octet-stream", "Text/Plain", " text/plain", "text/plain ", "text/html",
            "Application/X-WWW-Form-Urlencoded", " application/x-www-form-urlencoded",
            "application/x-www-form-urlencodedx", "multipart/form-data", ";", "application/json;",
        ])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => "[ -~]{0,24}".prop_map(|s| Some(s.into_bytes())),
    ]
}

/// Query strings of `jsonp` / `htmlfile` URLs (characters a request target
/// may carry; the caller drops the few that `http::Uri` refuses).
pub fn callback_query() -> impl Strategy<Value = Option<String>> {
    let value = prop_oneof![
        4 => "[a-zA-Z0-9_.-]{1,40}",
        1 => select(vec![
            "", "a".repeat(32).leak() as &str, "a".repeat(33).leak(), "%41", "%2e", "%2E", "%ff", "%",
            "%zz", "a+b", "a%20b", "a%2Cb", "jQuery123_456", "a.b-c_d", "é", "%C3%A9", "a,b",
            "a;b", "alert(1)", "%00", "a%0A", "_", "-", ".", "a/b", "a?b", "a=b", "%E2%80%A8",
        ])
        .prop_map(String::from),
        1 => "[!$'()*+,;:@/?%a-zA-Z0-9_.~-]{0,12}",
    ];
    let name = prop_oneof![
        4 => select(vec!["c", "callback"]),
        1 => select(vec!["C", "cb", "d", "", "c ", "%63", "callback[]", "c[]"]),
    ];
    let pair = prop_oneof![
        8 => (name, value).prop_map(|(n, v)| format!("{n}={v}")),
        1 => select(vec!["c", "callback", "", "=", "c=a=b"]).prop_map(String::from),
    ];
    prop_oneof![
        1 => Just(None),
        9 => prop::collection::vec(pair, 0..4).prop_map(|p| Some(p.join("&"))),
    ]
}

/// `Cookie` header values (valid header bytes only: the caller drops the
/// rest, as hyper refuses them).
pub fn cookie_headers() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let name = prop_oneof![
        4 => Just("JSESSIONID".to_string()),
        2 => select(vec!["a", "jsessionid", "JSESSIONID ", " JSESSIONID", "JSESSIONIDx", "", "x y"])
            .prop_map(String::from),
    ];
    let value = prop_oneof![
        4 => "[a-zA-Z0-9_.-]{1,16}",
        2 => select(vec!["", "a=b", " x ", "\"q\"", "abc==", "=", "a b", "\t"]).prop_map(String::from),
        1 => "[ -~]{0,10}",
        1 => "[a-z\u{80}-\u{ff}]{1,4}",
    ];
    let pair = prop_oneof![
        8 => (name, value).prop_map(|(n, v)| format!("{n}={v}")),
        1 => select(vec!["JSESSIONID", "", " ", "=x"]).prop_map(String::from),
    ];
    let header = (
        prop::collection::vec(pair, 0..4),
        select(vec![";", "; ", " ;"]),
    )
        // Characters up to U+00FF stand for the bytes of the header (latin1).
        .prop_map(|(p, sep)| {
            p.join(sep)
                .chars()
                .map(|c| c as u32 as u8)
                .collect::<Vec<u8>>()
        });
    prop::collection::vec(header, 0..3)
}

/// Paths under the prefix `/p` shaped like session URLs.
pub fn session_path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        4 => "[a-zA-Z0-9_~-]{1,8}",
        2 => "[a-z0-9%.!$&'()*+,;=:@_~-]{0,8}",
        1 => select(vec!["", ".", "..", "a.", ".a", "%2e", "%2E", "%2f", "a%20b", "000", "_", "é"])
            .prop_map(String::from),
    ];
    (segment.clone(), segment, any::<bool>(), 0u8..10).prop_map(
        |(server, session, slash, extra)| {
            let mut p = format!("/p/{server}/{session}/xhr_send");
            if slash {
                p.push('/');
            }
            match extra {
                0 => p = format!("/p/{server}/xhr_send"),
                1 => p = format!("/p/{server}/{session}/x/xhr_send"),
                2 => p = format!("/p//{session}/xhr_send"),
                _ => {}
            }
            p
        },
    )
}

/// Draws `n` values of `strategy` from a generator seeded with `seed`.
pub fn sample<S: Strategy>(strategy: S, seed: u64, n: usize) -> Vec<S::Value> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("strategies here never reject")
                .current()
        })
        .collect()
}

/// Fixed inputs every run includes: empty and blank bodies, each JSON type
/// at the top level, truncations, nesting at and past serde_json's depth
/// limit, very long inputs.
pub fn edge_payloads() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        "",
        " ",
        "\n",
        "\t \r\n",
        "[]",
        "[ ]",
        " []",
        "[] ",
        "[\"\"]",
        "null",
        "0",
        "\"\"",
        "\"a\"",
        " \"a\"",
        " [\"a\"]",
        "{}",
        "[null]",
        "[1]",
        "[\"a\",1]",
        "[1,",
        "{",
        "{\"a\":",
        "[\"a\"",
        "[\"a\",]",
        "[,]",
        "[\"\\ud800\"]",
        "[\"\\udc00\\ud800\"]",
        "\u{feff}[]",
        "[\"a\"]\u{0}",
        "[\"a\"]]",
        "[1e400]",
        "[\"a\",1e400]",
        "[-]",
        "\"\\ud800\"",
        "[\"\\ud800\\u\"]",
        "[\"\t\"]",
        "[\"\u{2028}\"]",
        "[\"\\u0000\"]",
        "true",
        "tru",
        "[true,",
        "[\"a\"] [\"b\"]",
        "[\"a\"\"b\"]",
        "[\"a\" \"b\"]",
        "[\"\\/\"]",
        "[\"\\U0041\"]",
        "[\"\\u004\"]",
        "[\"\u{0}\"]",
        "[\"\u{7f}\"]",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for depth in [127, 128, 129, 200, 5000] {
        v.push(format!("{}\"a\"{}", "[".repeat(depth), "]".repeat(depth)).into_bytes());
        v.push("[".repeat(depth).into_bytes());
        v.push(format!("[\"a\",{}1{}]", "[".repeat(depth), "]".repeat(depth)).into_bytes());
        v.push(format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes());
        v.push(format!("{{\"a\":{}", "{\"a\":".repeat(depth)).into_bytes());
    }
    v.push(format!("[\"{}\"]", "x".repeat(200_000)).into_bytes());
    v.push(format!("[{}\"z\"]", "\"y\",".repeat(20_000)).into_bytes());
    v.push(format!("[\"{}\"]", "\\u2028\\ud83d\\ude00".repeat(10_000)).into_bytes());
    v.push(format!("[\"{}]", "\\\"".repeat(10_000)).into_bytes());
    v.push(format!("[{}]", "1,".repeat(10_000)).into_bytes());
    v
}
