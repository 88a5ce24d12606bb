//! Reading the load generator's output and writing reports: its flat JSON
//! objects, and files written with errors that name them.

use std::collections::BTreeMap;
use std::path::Path;

/// Writes `text` to `path`; an error names the file.
pub(crate) fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A flat JSON object as the load generator prints it.
pub(crate) type Obj = BTreeMap<String, String>;

/// Parses `{"k": v, ...}` with scalar values (numbers, strings, null,
/// booleans), keeping each value's JSON text.
pub(crate) fn parse_obj(s: &str) -> Option<Obj> {
    let s = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut obj = Obj::new();
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] as char).is_ascii_whitespace() {
            *i += 1;
        }
    };
    let string_end = |start: usize| -> Option<usize> {
        let mut j = start + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return Some(j),
                _ => j += 1,
            }
        }
        None
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return Some(obj);
        }
        if b[i] != b'"' {
            return None;
        }
        let end = string_end(i)?;
        let key = s[i + 1..end].to_string();
        i = end + 1;
        skip_ws(&mut i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let start = i;
        if b.get(i) == Some(&b'"') {
            i = string_end(i)? + 1;
        } else {
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
        }
        obj.insert(key, s[start..i].trim().to_string());
        skip_ws(&mut i);
        if b.get(i) == Some(&b',') {
            i += 1;
        }
    }
}

pub(crate) fn num(o: &Obj, key: &str) -> Option<f64> {
    o.get(key)?.parse().ok()
}
