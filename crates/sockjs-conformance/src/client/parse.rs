//! Pure HTTP/1.x parsing: response heads, chunked-encoding chunks and HTTP
//! dates. No I/O, so every corner is unit-tested below.

use std::fmt;

/// Header fields in the order the server sent them; names keep their case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The header fields of a response, as received, except that repeated
    /// fields are combined into one, their values joined by `, ` (RFC 9110
    /// 5.3), which is how a recipient must read them. So a check of a
    /// field's value fails on a duplicated field (`Access-Control-Allow-Origin:
    /// a, a`, which browsers reject) instead of reading only the first.
    /// `Set-Cookie` (RFC 6265: never combined) and `Vary` (a list) stay as
    /// they came: read them with [`Headers::get_all`].
    pub fn combined(fields: Vec<(String, String)>) -> Self {
        let mut out: Vec<(String, String)> = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let repeatable =
                name.eq_ignore_ascii_case("set-cookie") || name.eq_ignore_ascii_case("vary");
            match out.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&name)) {
                Some((_, first)) if !repeatable => {
                    first.push_str(", ");
                    first.push_str(&value);
                }
                _ => out.push((name, value)),
            }
        }
        Headers(out)
    }

    /// The value of `name` (case-insensitive), if any: repeated fields
    /// come combined (see [`Headers::combined`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present at all (even with an empty value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The status line and header fields of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `1.0` or `1.1`, from `HTTP/x.y`.
    pub version: String,
    /// The status code.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
}

/// Why bytes could not be parsed as HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a response head from the start of `buf`. `Ok(None)` means more
/// bytes are needed; otherwise returns the head and how many bytes it took
/// (the blank line included).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, ParseError> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err(ParseError("response head larger than 64 KiB".into()));
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| ParseError("response head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line
        .strip_prefix("HTTP/")
        .ok_or_else(|| ParseError(format!("bad status line {status_line:?}")))?;
    let mut parts = rest.splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_string();
    if version != "1.0" && version != "1.1" {
        return Err(ParseError(format!("bad HTTP version in {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| (s.len() == 3).then_some(s))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ParseError(format!("bad status code in {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError(format!("bad header line {line:?}")))?;
        if name.is_empty() || name.contains(' ') {
            return Err(ParseError(format!("bad header name in {line:?}")));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Some((
        Head {
            version,
            status,
            reason,
            headers: Headers::combined(headers),
        },
        end + 4,
    )))
}

/// One item of a chunked body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// A data chunk (never empty).
    Data(Vec<u8>),
    /// The terminating zero-length chunk, trailers included.
    Last,
}

/// Parses one chunk from the start of `buf`. `Ok(None)` means more bytes are
/// needed; otherwise returns the chunk and how many bytes it took.
pub fn parse_chunk(buf: &[u8]) -> Result<Option<(Chunk, usize)>, ParseError> {
    let Some(line_end) = find(buf, b"\r\n") else {
        if buf.len() > 1024 {
            return Err(ParseError("chunk size line longer than 1 KiB".into()));
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[..line_end])
        .map_err(|_| ParseError("chunk size line is not UTF-8".into()))?;
    let size_text = line.split(';').next().unwrap_or_default().trim();
    let size = usize::from_str_radix(size_text, 16)
        .map_err(|_| ParseError(format!("bad chunk size line {line:?}")))?;
    let start = line_end + 2;
    if size == 0 {
        // Trailers, then an empty line.
        let mut pos = start;
        loop {
            let Some(n) = find(&buf[pos..], b"\r\n") else {
                return Ok(None);
            };
            pos += n + 2;
            if n == 0 {
                return Ok(Some((Chunk::Last, pos)));
            }
        }
    }
    if buf.len() < start + size + 2 {
        return Ok(None);
    }
    if &buf[start + size..start + size + 2] != b"\r\n" {
        return Err(ParseError(format!(
            "chunk of {size} bytes not followed by CRLF"
        )));
    }
    Ok(Some((
        Chunk::Data(buf[start..start + size].to_vec()),
        start + size + 2,
    )))
}

/// Seconds since the Unix epoch of an IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT` (the format of `Expires`).
pub fn parse_http_date(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_needs_blank_line() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n"), Ok(None));
    }

    #[test]
    fn head_parses_status_and_headers() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nX-Empty:\r\nset-cookie: a\r\nSet-Cookie: b\r\n\r\nbody";
        let (head, used) = parse_head(raw).unwrap().unwrap();
        assert_eq!(used, raw.len() - 4);
        assert_eq!(head.version, "1.1");
        assert_eq!(head.status, 404);
        assert_eq!(head.reason, "Not Found");
        assert_eq!(head.headers.get("content-type"), Some("text/plain"));
        assert_eq!(head.headers.get("x-empty"), Some(""));
        assert!(head.headers.contains("X-EMPTY"));
        assert_eq!(
            head.headers.get_all("Set-Cookie").collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn repeated_fields_are_read_combined() {
        let raw = b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nVary: Origin\r\naccess-control-allow-origin: *\r\nVary: Accept\r\n\r\n";
        let (head, _) = parse_head(raw).unwrap().unwrap();
        assert_eq!(
            head.headers.get("access-control-allow-origin"),
            Some("*, *")
        );
        assert_eq!(
            head.headers.get_all("vary").collect::<Vec<_>>(),
            ["Origin", "Accept"]
        );
    }

    #[test]
    fn head_without_reason() {
        let (head, _) = parse_head(b"HTTP/1.0 204\r\n\r\n").unwrap().unwrap();
        assert_eq!((head.version.as_str(), head.status), ("1.0", 204));
        assert_eq!(head.reason, "");
    }

    #[test]
    fn head_rejects_garbage() {
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"ICY 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        ] {
            assert!(
                parse_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn chunks() {
        type Case<'a> = (&'a [u8], Option<(Chunk, usize)>);
        let cases: &[Case<'_>] = &[
            (b"5\r\nhel", None),
            (b"5\r\nhello\r", None),
            (
                b"5\r\nhello\r\nrest",
                Some((Chunk::Data(b"hello".to_vec()), 10)),
            ),
            (
                b"a;ext=1\r\n0123456789\r\n",
                Some((Chunk::Data(b"0123456789".to_vec()), 21)),
            ),
            (b"0\r\n", None),
            (b"0\r\n\r\n", Some((Chunk::Last, 5))),
            (b"0\r\nX-T: 1\r\n\r\nnext", Some((Chunk::Last, 13))),
            (b"", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_chunk(input).unwrap(),
                *expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn chunk_errors() {
        assert!(parse_chunk(b"zz\r\n").is_err());
        assert!(parse_chunk(b"2\r\nabcd").is_err());
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(1_835_438_400)
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
