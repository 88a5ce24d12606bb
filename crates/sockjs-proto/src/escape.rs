//! JSON string encoding with SockJS's extra escaping.
//!
//! Besides what JSON needs (`"`, `\` and control characters), SockJS escapes
//! characters that browsers mangle on some transports:
//! `[\u200c-\u200f\u2028-\u202f\u2060-\u206f\ufff0-\uffff]`. Escapes use
//! lowercase hex, and the short forms (`\n`, `\t`, ...) where JSON has them,
//! byte for byte what sockjs-node produces.
//!
//! Frames that go into an HTML page (the `htmlfile` transport) are escaped
//! for HTML as well: `<`, `>` and `&`
//! become `\u003c`, `\u003e` and `\u0026`, so no message text can end the
//! page's `<script>` or start a tag. Here sockjs-node is deliberately not
//! followed: it writes them raw, which lets any peer run script in an
//! htmlfile client's page.

/// Whether `c` must be written as `\uXXXX` although JSON would allow it raw.
#[inline]
fn needs_unicode_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{200c}'..='\u{200f}'
        | '\u{2028}'..='\u{202f}'
        | '\u{2060}'..='\u{206f}'
        | '\u{fff0}'..='\u{ffff}')
}

/// Appends `s` to `out` as a quoted JSON string with SockJS escaping.
///
/// Works on bytes: every character that may need an escape is ASCII or
/// starts with the UTF-8 lead byte `0xE2` (U+2000–U+2FFF) or `0xEF`
/// (U+F000–U+FFFF), so other bytes are skipped without decoding, and runs
/// that need no escape are copied in one piece.
///
/// ```
/// use sockjs_proto::write_json_string;
///
/// let mut frame = String::from("a[");
/// write_json_string(&mut frame, "tab\there");
/// frame.push(']');
/// assert_eq!(frame, r#"a["tab\there"]"#);
/// ```
#[inline]
pub fn write_json_string(out: &mut String, s: &str) {
    write_escaped::<false>(out, s);
}

/// Appends `s` to `out` as a quoted JSON string with SockJS escaping, and
/// `<`, `>`, `&` escaped as well (`\u003c`, `\u003e`, `\u0026`): safe
/// inside an HTML `<script>` element, where a raw `</script>` would end
/// the script and let the rest of the text run as markup.
///
/// ```
/// use sockjs_proto::write_html_safe_json_string;
///
/// let mut out = String::new();
/// write_html_safe_json_string(&mut out, "</script>&");
/// assert_eq!(out, r#""\u003c/script\u003e\u0026""#);
/// ```
#[inline]
pub fn write_html_safe_json_string(out: &mut String, s: &str) {
    write_escaped::<true>(out, s);
}

/// The bytes the escaping loop must look at: `"`, `\`, the control
/// characters, the lead bytes of the three-byte characters that may need a
/// `\u` escape (`0xE2`, `0xEF`) and, for HTML, `<`, `>`, `&`. Every other
/// byte is copied as it is, found by one table look-up.
const fn special_bytes(html: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xE2] = true;
    table[0xEF] = true;
    if html {
        table[b'<' as usize] = true;
        table[b'>' as usize] = true;
        table[b'&' as usize] = true;
    }
    table
}

static SPECIAL: [bool; 256] = special_bytes(false);
static SPECIAL_HTML: [bool; 256] = special_bytes(true);

/// The one escaping loop; `HTML` adds `<`, `>`, `&` to what is escaped.
#[inline]
fn write_escaped<const HTML: bool>(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let special = if HTML { &SPECIAL_HTML } else { &SPECIAL };
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skips the run that needs no look: most messages are one run.
        match bytes[i..].iter().position(|&b| special[usize::from(b)]) {
            Some(n) => i += n,
            None => break,
        }
        let b = bytes[i];
        let (short, len): (&str, usize) = match b {
            b'"' => ("\\\"", 1),
            b'\\' => ("\\\\", 1),
            b'\n' => ("\\n", 1),
            b'\r' => ("\\r", 1),
            b'\t' => ("\\t", 1),
            0x08 => ("\\b", 1),
            0x0c => ("\\f", 1),
            0xE2 | 0xEF => {
                // A three-byte character; `s` is valid UTF-8.
                let c = s[i..].chars().next().unwrap_or_default();
                if needs_unicode_escape(c) {
                    ("", 3)
                } else {
                    i += 3;
                    continue;
                }
            }
            // The other control characters and, for HTML, `<`, `>`, `&`:
            // no other byte is special.
            _ => ("", 1),
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            let c = s[i..].chars().next().unwrap_or_default();
            push_unicode_escape(out, c as u32);
        } else {
            out.push_str(short);
        }
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[inline]
fn push_unicode_escape(out: &mut String, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((code >> shift) & 0xf) as usize] as char);
    }
}

/// `s` as a quoted JSON string with SockJS escaping.
///
/// ```
/// assert_eq!(sockjs_proto::escape_json_string("a\"\u{2028}"), r#""a\"\u2028""#);
/// ```
#[inline]
pub fn escape_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_json_string(&mut out, s);
    out
}

/// Appends `frame` with `%`, `\r`, `\n` and `\0` percent-escaped, so that
/// no frame can break the event framing (the `data:` lines of the
/// `eventsource` transport).
///
/// ```
/// use sockjs_proto::write_event_data;
///
/// let mut event = String::from("data: ");
/// write_event_data(&mut event, "a[\"50%\\n\"]\n");
/// assert_eq!(event, "data: a[\"50%25\\n\"]%0A");
/// ```
#[inline]
pub fn write_event_data(out: &mut String, frame: &str) {
    let mut start = 0;
    for (i, b) in frame.bytes().enumerate() {
        let escaped = match b {
            b'%' => "%25",
            b'\r' => "%0D",
            b'\n' => "%0A",
            b'\0' => "%00",
            _ => continue,
        };
        out.push_str(&frame[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&frame[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain", r#""plain""#),
            ("q\"b\\", r#""q\"b\\""#),
            ("\n\r\t\u{8}\u{c}", r#""\n\r\t\b\f""#),
            ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
            ("\u{7f}é€", "\"\u{7f}é€\""),
            (
                "\u{200b}\u{200c}\u{200f}\u{2010}",
                "\"\u{200b}\\u200c\\u200f\u{2010}\"",
            ),
            ("\u{2028}\u{202f}\u{2030}", "\"\\u2028\\u202f\u{2030}\""),
            (
                "\u{205f}\u{2060}\u{206f}\u{2070}",
                "\"\u{205f}\\u2060\\u206f\u{2070}\"",
            ),
            ("\u{ffef}\u{fff0}\u{ffff}", "\"\u{ffef}\\ufff0\\uffff\""),
            ("😀", "\"😀\""),
            // Plain JSON frames keep markup characters as they are (the
            // xhr, eventsource and websocket transports are not HTML).
            ("a</script>", r#""a</script>""#),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_json_string(input), *expected, "input {input:?}");
        }
    }

    fn html_safe(s: &str) -> String {
        let mut out = String::new();
        write_html_safe_json_string(&mut out, s);
        out
    }

    #[test]
    fn html_safe_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", r#""plain""#),
            (
                "</script><script>alert(1)</script>",
                r#""\u003c/script\u003e\u003cscript\u003ealert(1)\u003c/script\u003e""#,
            ),
            ("a&amp;b", r#""a\u0026amp;b""#),
            ("<!--", r#""\u003c!--""#),
            // Everything the JSON escaping does still happens.
            ("q\"\n\u{2028}<", r#""q\"\n\u2028\u003c""#),
            ("é<€>😀", r#""é\u003c€\u003e😀""#),
        ];
        for (input, expected) in cases {
            assert_eq!(html_safe(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn html_safe_output_has_no_markup_and_decodes_back() {
        let all: String = (0u32..0x11000).filter_map(char::from_u32).collect();
        let escaped = html_safe(&all);
        assert!(!escaped.contains(['<', '>', '&']));
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn every_escaped_output_decodes_back() {
        let all: String = (0u32..0x11000).filter_map(char::from_u32).collect();
        let escaped = escape_json_string(&all);
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, all);
        assert!(!escaped
            .chars()
            .any(|c| c != '"' && c != '\\' && needs_unicode_escape(c)));
    }

    #[test]
    fn event_data_is_percent_escaped() {
        let mut out = String::new();
        write_event_data(&mut out, "a%b\r\n\0c");
        assert_eq!(out, "a%25b%0D%0A%00c");
    }
}
