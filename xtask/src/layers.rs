//! `cargo xtask layers`: no module of any workspace crate imports, directly
//! or through others, a module that imports it back.
//!
//! The graph is read from the source: every `crate::`, `super::` and
//! `self::` path in a `use` or in code, resolved to the module that defines
//! the item (re-exports such as `pub use halves::Sender` in `session/mod.rs`
//! are followed to `session::halves`, so a facade is not a dependency).
//! A module's own children (`mod x;`) are not imports of it, and test-only
//! code (`#[cfg(test)] mod tests`) is left out: tests may reach anywhere.
//!
//! A loop is printed as the chain of modules that forms it, with the line
//! of each import, so it can be cut where it is cheapest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::root;

/// The crates whose module graphs must be free of loops: every folder of
/// `crates/` (libraries and tools alike, so a new crate is checked without
/// being listed), and xtask.
fn crates() -> Result<Vec<String>, String> {
    let dir = root().join("crates");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut crates: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .collect();
    crates.sort();
    crates.push("xtask".to_owned());
    Ok(crates)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let show_order = args.iter().any(|a| a == "--order");
    let mut failed = Vec::new();
    for krate in crates()? {
        let krate = krate.as_str();
        let dir = root().join(krate);
        if !dir.join("src").exists() {
            continue;
        }
        let graph = Graph::read(&dir.join("src"))?;
        let loops = graph.loops();
        if loops.is_empty() {
            println!(
                "layers: {krate}: {} modules, {} imports, no loop",
                graph.modules.len(),
                graph.edges.values().map(BTreeMap::len).sum::<usize>()
            );
            if show_order {
                for (level, modules) in graph.levels().iter().enumerate() {
                    println!("    layer {level}: {}", modules.join(", "));
                }
            }
        } else {
            for group in &loops {
                println!("layers: {krate}: loop among {}", group.join(", "));
                for from in group {
                    for (to, at) in &graph.edges[from] {
                        if group.contains(to) {
                            println!("    {from} -> {to}   ({at})");
                        }
                    }
                }
            }
            failed.push(format!("{krate}: {} loop(s)", loops.len()));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("module loops: {}", failed.join("; ")))
    }
}

/// Module path (`session::core`, empty for the crate root) of each file,
/// and the imports between them.
struct Graph {
    modules: BTreeMap<String, PathBuf>,
    /// from → (to → "file:line" of the first import seen).
    edges: BTreeMap<String, BTreeMap<String, String>>,
}

impl Graph {
    fn read(src: &Path) -> Result<Graph, String> {
        let mut files = Vec::new();
        collect(src, &mut files)?;
        let mut modules = BTreeMap::new();
        for file in &files {
            if let Some(module) = module_of(src, file) {
                modules.insert(module, file.clone());
            }
        }
        // First pass: every module's re-exports (name → full path).
        let mut sources = BTreeMap::new();
        let mut reexports: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (module, file) in &modules {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file:?}: {e}"))?;
            let code = strip(&text);
            for (public, path, _line) in use_paths(&code) {
                if !public {
                    continue;
                }
                let Some(abs) = absolute(module, &path) else {
                    continue;
                };
                let name = abs.last().cloned().unwrap_or_default();
                if name == "*" {
                    continue;
                }
                reexports
                    .entry(module.clone())
                    .or_default()
                    .insert(name, abs);
            }
            sources.insert(module.clone(), code);
        }
        let mut graph = Graph {
            modules: modules.clone(),
            edges: BTreeMap::new(),
        };
        for (module, code) in &sources {
            let file = modules[module]
                .strip_prefix(root())
                .unwrap_or(&modules[module])
                .to_owned();
            let entry = graph.edges.entry(module.clone()).or_default();
            let mut refs: Vec<(Vec<String>, usize)> = Vec::new();
            for (public, path, line) in use_paths(code) {
                // A re-export is a facade, followed where it is used.
                if public {
                    continue;
                }
                if let Some(abs) = absolute(module, &path) {
                    refs.push((abs, line));
                }
            }
            for (path, line) in inline_paths(code) {
                if let Some(abs) = absolute(module, &path) {
                    refs.push((abs, line));
                }
            }
            for (abs, line) in refs {
                let Some(target) = resolve(&modules, &reexports, &abs, 0) else {
                    continue;
                };
                // A module's own descendants and itself are not imports.
                if target == *module || is_within(&target, module) {
                    continue;
                }
                entry
                    .entry(target)
                    .or_insert_with(|| format!("{}:{line}", file.display()));
            }
        }
        Ok(graph)
    }

    /// The modules by layer, for a graph without loops: layer 0 imports no
    /// other module, layer n imports only from layers below n (and at least
    /// one from n - 1). The crate root, which only declares, is left out.
    fn levels(&self) -> Vec<Vec<String>> {
        fn level(
            m: &str,
            graph: &Graph,
            memo: &mut BTreeMap<String, usize>,
            depth: usize,
        ) -> usize {
            if let Some(&l) = memo.get(m) {
                return l;
            }
            let l = match graph.edges.get(m) {
                Some(edges) if depth < graph.modules.len() => edges
                    .keys()
                    .filter(|t| graph.modules.contains_key(*t) && t.as_str() != m)
                    .map(|t| level(t, graph, memo, depth + 1) + 1)
                    .max()
                    .unwrap_or(0),
                _ => 0,
            };
            memo.insert(m.to_owned(), l);
            l
        }
        let mut memo = BTreeMap::new();
        let mut levels: Vec<Vec<String>> = Vec::new();
        for m in self.modules.keys().filter(|m| !m.is_empty()) {
            let l = level(m, self, &mut memo, 0);
            if levels.len() <= l {
                levels.resize(l + 1, Vec::new());
            }
            levels[l].push(display(m));
        }
        levels
    }

    /// Strongly connected groups of more than one module (Tarjan).
    fn loops(&self) -> Vec<Vec<String>> {
        let names: Vec<&String> = self.modules.keys().collect();
        let index_of: BTreeMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let n = names.len();
        let adjacency: Vec<Vec<usize>> = names
            .iter()
            .map(|m| {
                self.edges
                    .get(*m)
                    .map(|e| e.keys().filter_map(|t| index_of.get(t).copied()).collect())
                    .unwrap_or_default()
            })
            .collect();
        let mut state = Tarjan {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            groups: Vec::new(),
        };
        for v in 0..n {
            if state.index[v].is_none() {
                state.visit(v, &adjacency);
            }
        }
        let mut groups: Vec<Vec<String>> = state
            .groups
            .into_iter()
            .filter(|g| g.len() > 1)
            .map(|g| {
                let mut g: Vec<String> = g.into_iter().map(|i| display(names[i])).collect();
                g.sort();
                g
            })
            .collect();
        groups.sort();
        // The edges map is keyed by the raw module path; show the root as
        // `crate` but look edges up by the raw name.
        groups
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|m| if m == "crate" { String::new() } else { m })
                    .collect()
            })
            .collect()
    }
}

fn display(module: &str) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.to_owned()
    }
}

struct Tarjan {
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    groups: Vec<Vec<usize>>,
}

impl Tarjan {
    fn visit(&mut self, v: usize, adjacency: &[Vec<usize>]) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &adjacency[v] {
            match self.index[w] {
                None => {
                    self.visit(w, adjacency);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(i) if self.on_stack[w] => self.low[v] = self.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut group = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            self.groups.push(group);
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir:?}: {e}"))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            // Separate binaries (src/bin) are crates of their own.
            if path.file_name().is_some_and(|n| n == "bin") && path.parent() == Some(dir) {
                continue;
            }
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `a::b`; `src/lib.rs`, `src/main.rs` → ``.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return Some(String::new());
    }
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    Some(parts.join("::"))
}

fn is_within(module: &str, ancestor: &str) -> bool {
    ancestor.is_empty() || module.starts_with(&format!("{ancestor}::"))
}

/// Source without comments, string literals, and the `#[cfg(test)]` items.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(bytes.len(), |e| i + e + 2);
            out.extend(text[i..end].chars().filter(|c| *c == '\n'));
            i = end;
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].chars().take_while(|c| *c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = i + 2 + hashes;
            let end = text[start..]
                .find(&close)
                .map_or(bytes.len(), |e| start + e + close.len());
            out.extend(text[i..end].chars().filter(|c| *c == '\n'));
            out.push_str("\"\"");
            i = end;
        } else if bytes[i] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                if bytes[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            let end = (j + 1).min(bytes.len());
            out.extend(text[i..end].chars().filter(|c| *c == '\n'));
            out.push_str("\"\"");
            i = end;
        } else if rest.starts_with("'\"'") {
            out.push_str("' '");
            i += 3;
        } else if rest.starts_with("#[cfg(test)]") {
            // Skip the attribute and the item after it: up to its `;` or
            // the end of its braces.
            let mut j = i + "#[cfg(test)]".len();
            let mut depth = 0usize;
            while j < bytes.len() {
                match bytes[j] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    }
                    b';' if depth == 0 => {
                        j += 1;
                        break;
                    }
                    _ => {}
                }
                j += 1;
            }
            out.extend(text[i..j.min(bytes.len())].chars().filter(|c| *c == '\n'));
            i = j;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn line_at(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// Every path named by a `use` item: (is it a re-export, segments, line).
fn use_paths(code: &str) -> Vec<(bool, Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = find_word(code, "use", from) {
        let Some(end) = code[found..].find(';').map(|e| found + e) else {
            break;
        };
        let before = code[..found].trim_end();
        let public = before.ends_with("pub")
            || before.ends_with(')') && {
                // `pub(crate) use`, `pub(super) use`
                before
                    .rfind("pub(")
                    .is_some_and(|p| !before[p..].contains('\n'))
            };
        let tree: String = code[found + 3..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" as ", "@")
            .replace(' ', "");
        let line = line_at(code, found);
        for path in expand(&tree) {
            out.push((public, path, line));
        }
        from = end;
    }
    out
}

/// The position of `word` as a whole word at or after `from`.
fn find_word(code: &str, word: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = code[at..].find(word) {
        let start = at + i;
        let end = start + word.len();
        let before_ok = start == 0 || !is_ident(code.as_bytes()[start - 1]);
        let after_ok = end < code.len() && code.as_bytes()[end].is_ascii_whitespace();
        if before_ok && after_ok {
            return Some(start);
        }
        at = end;
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `a::{b, c::{d, e}}` → `[a, b]`, `[a, c, d]`, `[a, c, e]`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim_start_matches("::");
    let mut out = Vec::new();
    match tree.find('{') {
        None => {
            // `Name as Other` was written `Name@Other`: the path is the name.
            let path = tree.split('@').next().unwrap_or(tree);
            out.push(
                path.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        Some(open) => {
            let prefix: Vec<String> = tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            for part in split_top(inner) {
                if part.is_empty() {
                    continue;
                }
                for rest in expand(part) {
                    let mut p = prefix.clone();
                    if rest.len() == 1 && rest[0] == "self" {
                        out.push(p);
                        continue;
                    }
                    p.extend(rest);
                    out.push(p);
                }
            }
        }
    }
    out
}

fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Paths written in code, outside `use` items: `crate::a::b`, `super::x`.
fn inline_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for start_word in ["crate::", "super::", "self::"] {
        let mut at = 0;
        while let Some(i) = code[at..].find(start_word) {
            let start = at + i;
            at = start + start_word.len();
            if start > 0 && (is_ident(bytes[start - 1]) || bytes[start - 1] == b':') {
                continue;
            }
            // Skip paths inside `use` items (read by `use_paths`).
            let line_start = code[..start].rfind([';', '}', '{']).map_or(0, |p| p + 1);
            if find_word(&code[line_start..start], "use", 0).is_some() {
                continue;
            }
            let mut end = start;
            while end < bytes.len() && (is_ident(bytes[end]) || bytes[end] == b':') {
                end += 1;
            }
            let path: Vec<String> = code[start..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            out.push((path, line_at(code, start)));
        }
    }
    out
}

/// A path as written in `module` → segments from the crate root, or None
/// for a path into another crate.
fn absolute(module: &str, path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    };
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            base.clear();
            segments.next();
        }
        Some("super") => {
            while segments.peek().is_some_and(|s| *s == "super") {
                segments.next();
                base.pop()?;
            }
        }
        Some("self") => {
            segments.next();
        }
        _ => return None,
    }
    base.extend(segments.cloned());
    Some(base)
}

/// The module that defines the item at `path`: the longest module prefix,
/// then through that module's re-exports when the next name is one.
fn resolve(
    modules: &BTreeMap<String, PathBuf>,
    reexports: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    path: &[String],
    depth: usize,
) -> Option<String> {
    let mut best = String::new();
    let mut used = 0;
    for n in 1..=path.len() {
        let candidate = path[..n].join("::");
        if modules.contains_key(&candidate) {
            best = candidate;
            used = n;
        } else {
            break;
        }
    }
    if depth < 8 {
        if let Some(name) = path.get(used) {
            if let Some(target) = reexports.get(&best).and_then(|r| r.get(name)) {
                let mut followed = target.clone();
                followed.extend(path[used + 1..].iter().cloned());
                if let Some(m) = resolve(modules, reexports, &followed, depth + 1) {
                    return Some(m);
                }
            }
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_use_trees() {
        let got = expand("crate::{a::B,c::{self,D},e}");
        let want: Vec<Vec<String>> = vec![
            vec!["crate".into(), "a".into(), "B".into()],
            vec!["crate".into(), "c".into()],
            vec!["crate".into(), "c".into(), "D".into()],
            vec!["crate".into(), "e".into()],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn finds_a_loop_and_only_it() {
        let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/s")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "mod a; mod b; mod s; pub use s::T;").unwrap();
        std::fs::write(dir.join("src/a.rs"), "use crate::b::X;\n").unwrap();
        std::fs::write(
            dir.join("src/b.rs"),
            "pub struct X; fn f() { crate::a::g() }\n",
        )
        .unwrap();
        std::fs::write(dir.join("src/s/mod.rs"), "mod t; pub use t::T;\n").unwrap();
        // Through the facade: `crate::T` is `s::t`, which imports `b`, not a loop.
        std::fs::write(dir.join("src/s/t.rs"), "use crate::b::X; pub struct T;\n").unwrap();
        let graph = Graph::read(&dir.join("src")).unwrap();
        assert_eq!(graph.loops(), vec![vec!["a".to_owned(), "b".to_owned()]]);
        // Cutting the inline call leaves none.
        std::fs::write(
            dir.join("src/b.rs"),
            "pub struct X;\n#[cfg(test)]\nmod tests { use crate::a; }\n",
        )
        .unwrap();
        let graph = Graph::read(&dir.join("src")).unwrap();
        assert!(graph.loops().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
