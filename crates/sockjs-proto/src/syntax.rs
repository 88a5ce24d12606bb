//! Small syntax rules: URL segments, iframe file names, JSONP callbacks.

/// Longest `<server>` or `<session>` URL segment, in bytes as sent
/// (percent escapes count as three). sockjs-client's ids are 8 characters
/// (server ids 3), UUIDs 36; sockjs-node takes any length, so a client
/// could make a 60 KB id a map key (and a cluster directory key). Longer
/// segments are not session URLs: 404.
///
/// ```
/// use sockjs_proto::{is_valid_segment, MAX_SEGMENT_LEN};
/// assert!(is_valid_segment(&"a".repeat(MAX_SEGMENT_LEN)));
/// assert!(!is_valid_segment(&"a".repeat(MAX_SEGMENT_LEN + 1)));
/// ```
pub const MAX_SEGMENT_LEN: usize = 64;

/// A `<server>` or `<session>` URL segment: non-empty, no `/` and no `.`
/// (`[^/.]+`, as in the protocol), at most [`MAX_SEGMENT_LEN`] bytes.
///
/// ```
/// use sockjs_proto::is_valid_segment;
/// assert!(is_valid_segment("abcdefgh_i-j%20"));
/// assert!(is_valid_segment("0e5b6a40-6d2e-4c4b-9a8c-4f1d3c2b1a00"));
/// assert!(!is_valid_segment("a.") && !is_valid_segment(""));
/// assert!(!is_valid_segment(&"x".repeat(60_000)));
/// ```
pub fn is_valid_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SEGMENT_LEN && !s.bytes().any(|b| b == b'/' || b == b'.')
}

/// An iframe page name: `iframe.html` or `iframe<[0-9a-z._-]*>.html`, as
/// sockjs-node matches it (`iframe-1.0.0.html`, `iframe-abc.html`).
///
/// ```
/// use sockjs_proto::is_valid_iframe_name;
/// assert!(is_valid_iframe_name("iframe.html") && is_valid_iframe_name("iframe-a_b.1.html"));
/// assert!(!is_valid_iframe_name("IFRAME.HTML") && !is_valid_iframe_name("iframe.htm"));
/// ```
pub fn is_valid_iframe_name(name: &str) -> bool {
    name.strip_prefix("iframe")
        .and_then(|rest| rest.strip_suffix(".html"))
        .is_some_and(|middle| {
            middle
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

/// A JSONP / htmlfile callback name: `^[a-zA-Z0-9_.-]+$`, at most
/// `max_len` bytes when given.
///
/// ```
/// use sockjs_proto::is_valid_callback;
/// assert!(is_valid_callback("jQuery1_2.x-y", Some(32)));
/// assert!(!is_valid_callback("alert(1)", None) && !is_valid_callback("", None));
/// ```
pub fn is_valid_callback(name: &str, max_len: Option<usize>) -> bool {
    !name.is_empty()
        && max_len.is_none_or(|max| name.len() <= max)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        for ok in ["a", "_", "1", "abcdefgh_i-j%20", "000"] {
            assert!(is_valid_segment(ok), "{ok}");
        }
        for bad in ["", "a.", ".", "a/b"] {
            assert!(!is_valid_segment(bad), "{bad}");
        }
        assert!(is_valid_segment(&"%20".repeat(21)));
        assert!(!is_valid_segment(&"%20".repeat(22)), "66 bytes raw");
        assert!(!is_valid_segment(&"é".repeat(33)), "66 bytes");
    }

    #[test]
    fn iframe_names() {
        for ok in [
            "iframe.html",
            "iframe-a.html",
            "iframe-0.1.2-abc.html",
            "iframe_.html",
        ] {
            assert!(is_valid_iframe_name(ok), "{ok}");
        }
        for bad in [
            "a.html",
            "iframe.htm",
            "iframe",
            "IFRAME.HTML",
            "iframe.HTML",
            "iframe.xml",
            "iframe-/.html",
            "iframe-A.html",
            "iframehtml",
        ] {
            assert!(!is_valid_iframe_name(bad), "{bad}");
        }
    }

    #[test]
    fn callbacks() {
        assert!(is_valid_callback(&"a".repeat(32), Some(32)));
        assert!(!is_valid_callback(&"a".repeat(33), Some(32)));
        assert!(is_valid_callback(&"a".repeat(33), None));
        for bad in ["%20", "a b", "a\"", "a;b", "<script>", "é"] {
            assert!(!is_valid_callback(bad, None), "{bad}");
        }
    }
}
