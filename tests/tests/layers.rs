//! The layer rule of `ARCHITECTURE.md`, checked on the sources: each top-level module of
//! `swoft-ws/src` may import (`crate::<module>`) only the modules its layer allows, so the graph
//! of top-level modules has no cycle. Within a folder, only `runtime/` (the running app's object
//! graph) may have files that import each other in a cycle.
//!
//! The scan reads production code only: line comments (docs included) and `#[cfg(test)]`
//! modules are skipped, and so are `tests.rs` files and `tests/` folders.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Who may import whom, lowest layer first. `lib.rs` and the modules of the top layer
/// (`private`, `error`, `testing`) may import anything.
const RULE: &[(&str, &[&str])] = &[
    // 0: RFC 6455. Knows no modules, commands or connections.
    ("ws", &[]),
    // 1: what a frame means, what can be set, what a handshake is.
    ("protocol", &["ws"]),
    ("config", &[]),
    ("handshake", &[]),
    // The typed contract: plain data about commands and their documents.
    ("contract", &["ws", "protocol"]),
    // 2: the running app's object graph.
    ("runtime", &["ws", "protocol", "config", "handshake"]),
    // 3: built on the runtime, never on each other.
    (
        "extract",
        &["ws", "protocol", "config", "handshake", "runtime"],
    ),
    (
        "driver",
        &["ws", "protocol", "config", "handshake", "runtime"],
    ),
    (
        "cluster",
        &["ws", "protocol", "config", "handshake", "runtime"],
    ),
    // 4: building and serving an app.
    (
        "app",
        &[
            "ws",
            "contract",
            "protocol",
            "config",
            "handshake",
            "runtime",
            "extract",
            "driver",
            "cluster",
        ],
    ),
];
const TOP: &[&str] = &["private", "error", "testing"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../swoft-ws/src")
}

/// Every `.rs` file under `dir` but test files.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The file's code without comments and `#[cfg(test)]` modules.
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("//") {
            continue;
        }
        if let Some(same_line) = t.strip_prefix("#[cfg(test)]") {
            // Skip the item: up to its `;`, or to the brace that closes its first `{` (which
            // may be on the attribute's own line).
            let mut depth =
                same_line.matches('{').count() as i32 - same_line.matches('}').count() as i32;
            let mut opened = same_line.contains('{');
            let done_here = (opened && depth <= 0) || same_line.trim_end().ends_with(';');
            if done_here {
                continue;
            }
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push_str(line.split(" // ").next().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// The names that follow `prefix` in `code` (`crate::` → `ws`, `runtime`, ...), including each
/// first name inside a `prefix{a::.., b::..}` group.
fn paths_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(group[start..i].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(group[start..i].trim()));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|n| !n.is_empty());
    found
}

/// `relative path of the file` → the `crate::` paths it names, for every source file.
fn imports() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let root = src();
    let mut files = Vec::new();
    sources(&root, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let code = production_code(&fs::read_to_string(&f).unwrap());
            (rel, (code.clone(), paths_after(&code, "crate::")))
        })
        .collect()
}

fn top_module(rel: &str) -> &str {
    rel.split('/').next().unwrap().trim_end_matches(".rs")
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    let rule: BTreeMap<&str, &[&str]> = RULE.iter().copied().collect();
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for (rel, (code, names)) in imports() {
        let from = top_module(&rel);
        seen.insert(from.to_owned());
        if from == "lib" || TOP.contains(&from) {
            continue;
        }
        let allowed = rule
            .get(from)
            .unwrap_or_else(|| panic!("{rel}: top-level module `{from}` has no layer in RULE"));
        for what in opaque_paths(&code) {
            violations.push(format!("{rel} uses {what}, which hides what it imports"));
        }
        for name in names {
            let to = resolve(&name, &lib);
            if to != from && !allowed.contains(&to.as_str()) {
                violations.push(format!(
                    "{rel} imports crate::{name} (from `{to}`; layer `{from}` may import {allowed:?})"
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layer rule:\n  {}",
        violations.join("\n  ")
    );
    for (m, _) in RULE {
        assert!(
            seen.contains(*m),
            "RULE names `{m}`, which is not a module of swoft-ws/src"
        );
    }
}

/// The top-level module a `crate::<name>` path reaches: the module itself, or, for a name
/// `lib.rs` re-exports (`crate::App`, `crate::redis`, `crate::metrics`), the module it comes
/// from; `lib.rs`'s own items (the prelude, the macros, `__private`) count as the top layer.
fn resolve(name: &str, lib: &str) -> String {
    if src().join(format!("{name}.rs")).exists() || src().join(name).is_dir() {
        return name.to_owned();
    }
    for line in lib.lines().map(str::trim) {
        let Some(path) = line.strip_prefix("pub use crate::") else {
            continue;
        };
        let module = path.split("::").next().unwrap_or("");
        let names = path.rsplit("::").next().unwrap_or("");
        let listed = names
            .trim_matches(|c| c == '{' || c == '}' || c == ';')
            .split(',')
            .any(|n| n.trim().rsplit(" as ").next() == Some(name));
        if listed || path.trim_end_matches(';').ends_with(&format!("::{name}")) {
            return module.to_owned();
        }
    }
    // `prelude`, `__private`, a macro: what only the top layer may name.
    "lib".to_owned()
}

/// Paths the scan cannot follow, so the rule forbids them: an alias of the crate root, and
/// `super::super` out of a folder.
fn opaque_paths(code: &str) -> Vec<&'static str> {
    let squeezed: String = code.split_whitespace().collect();
    [
        ("usecrateas", "`use crate as ..`"),
        ("crate::{self", "`use crate::{self ..}`"),
        ("super::super", "`super::super`"),
    ]
    .into_iter()
    .filter(|(p, _)| squeezed.contains(p))
    .map(|(_, what)| what)
    .collect()
}

#[test]
fn only_runtime_has_files_that_import_each_other_in_a_cycle() {
    let all = imports();
    let folders: BTreeSet<&str> = all
        .keys()
        .filter(|rel| rel.contains('/'))
        .map(|rel| top_module(rel))
        .collect();
    for folder in folders.into_iter().filter(|f| *f != "runtime") {
        if let Some(cycle) = find_cycle(&file_graph(&all, folder)) {
            panic!(
                "files of {folder}/ import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
}

/// The files of `folder` and which of them each one uses. A node is a file's path below the
/// folder without `.rs` (`registry/check`; a `mod.rs` is its folder: `registry`, and the
/// folder's own `mod.rs` is `mod`). A `mod.rs`'s declarations and re-exports of its children
/// are not uses; everything else is, through `crate::folder::..`, `super::..` or `self::..`.
fn file_graph(
    all: &BTreeMap<String, (String, BTreeSet<String>)>,
    folder: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    let node_of = |rel: &str| -> String {
        let below = rel
            .strip_prefix(&format!("{folder}/"))
            .unwrap()
            .trim_end_matches(".rs");
        match below
            .strip_suffix("/mod")
            .or((below == "mod").then_some(""))
        {
            Some("") => "mod".to_owned(),
            Some(dir) => dir.to_owned(),
            None => below.to_owned(),
        }
    };
    let files: Vec<(&String, &String)> = all
        .iter()
        .filter(|(rel, _)| rel.starts_with(&format!("{folder}/")))
        .map(|(rel, (code, _))| (rel, code))
        .collect();
    let nodes: BTreeSet<String> = files.iter().map(|(rel, _)| node_of(rel)).collect();
    // The node a path below the folder reaches: the longest prefix that is a node.
    let reach = |segments: &[String]| -> String {
        (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("/"))
            .find(|p| nodes.contains(p))
            .unwrap_or_else(|| "mod".to_owned())
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, code) in files {
        let from = node_of(rel);
        let is_mod = rel.ends_with("mod.rs");
        // The folder (below `folder`) that `super::` and `self::` start from.
        let here: Vec<String> = {
            let node = if from == "mod" {
                String::new()
            } else {
                from.clone()
            };
            let mut parts: Vec<String> = node
                .split('/')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if !is_mod {
                parts.pop();
            }
            parts
        };
        let uses: String = code
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                !(is_mod
                    && (l.starts_with("pub use")
                        || l.starts_with("pub(crate) use")
                        || l.starts_with("mod ")
                        || l.starts_with("pub mod ")
                        || l.starts_with("pub(crate) mod ")))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut targets = BTreeSet::new();
        for path in segment_paths(&uses, &format!("crate::{folder}::")) {
            targets.insert(reach(&path));
        }
        for (prefix, base) in [
            ("super::", {
                let mut b = here.clone();
                b.pop();
                b
            }),
            ("self::", here.clone()),
        ] {
            for path in segment_paths(&uses, prefix) {
                let mut full = base.clone();
                full.extend(path);
                targets.insert(if full.is_empty() {
                    "mod".to_owned()
                } else {
                    reach(&full)
                });
            }
        }
        if is_mod {
            // What a `mod.rs` re-exports from a child and then uses itself is a use of that
            // child (`pub use self::limits::RateLimit;` and a field of type `RateLimit`).
            for line in code.lines().map(str::trim_start) {
                let Some(path) = line
                    .strip_prefix("pub use ")
                    .or_else(|| line.strip_prefix("pub(crate) use "))
                else {
                    continue;
                };
                let path = path.trim_end_matches(';');
                let below = path
                    .strip_prefix(&format!("crate::{folder}::"))
                    .or_else(|| path.strip_prefix("self::"));
                let Some(below) = below else { continue };
                let child = below.split("::").next().unwrap_or("");
                let names = below.rsplit("::").next().unwrap_or("");
                let used = names
                    .trim_matches(|c| c == '{' || c == '}')
                    .split(',')
                    .map(|n| n.trim().rsplit(" as ").next().unwrap_or("").trim())
                    .filter(|n| !n.is_empty())
                    .any(|n| {
                        uses.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .any(|w| w == n)
                    });
                let node = if from == "mod" {
                    child.to_owned()
                } else {
                    format!("{from}/{child}")
                };
                if used && nodes.contains(&node) {
                    targets.insert(node);
                }
            }
            // A `mod.rs` names its children without a prefix (`check::problems`).
            let child_prefix = if from == "mod" {
                String::new()
            } else {
                format!("{from}/")
            };
            for child in nodes.iter().filter_map(|n| n.strip_prefix(&child_prefix)) {
                if !child.contains('/') && !segment_paths(&uses, &format!("{child}::")).is_empty() {
                    targets.insert(format!("{child_prefix}{child}"));
                }
            }
        }
        targets.remove(&from);
        edges.entry(from).or_default().extend(targets);
    }
    edges
}

/// The lowercase path segments after each `prefix` (`crate::app::registry::X` → `registry`),
/// with the first segment of each item of a `prefix{..}` group.
fn segment_paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices(prefix) {
        if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        let mut segments = Vec::new();
        let mut s = rest;
        loop {
            let ident: String = s
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() || !ident.starts_with(|c: char| c.is_lowercase()) {
                break;
            }
            s = &s[ident.len()..];
            segments.push(ident);
            match s.strip_prefix("::") {
                Some(next) => s = next,
                None => break,
            }
        }
        if segments.is_empty() && rest.starts_with('{') {
            for name in paths_after(&format!("x::{rest}"), "x::") {
                if name.starts_with(|c: char| c.is_lowercase()) {
                    out.push(vec![name]);
                } else {
                    out.push(Vec::new());
                }
            }
            continue;
        }
        out.push(segments);
    }
    out
}

/// A cycle of the graph, if it has one (depth-first search).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_scan_sees_grouped_imports_and_skips_comments_and_tests() {
    let code = production_code(
        "use crate::{ws::X, runtime::{a, b}};\n// crate::app\n#[cfg(test)]\nmod tests {\n    use crate::driver;\n}\n#[cfg(test)] fn t() {}\nfn f() { crate::config::x(); }\n",
    );
    assert_eq!(
        paths_after(&code, "crate::"),
        ["config", "runtime", "ws"].map(String::from).into()
    );
}

#[test]
fn names_re_exported_by_the_crate_root_count_as_the_module_they_come_from() {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    for (name, module) in [
        ("App", "app"),
        ("Server", "runtime"),
        ("RawMessage", "ws"),
        ("metrics", "runtime"),
        ("Config", "config"),
        ("prelude", "lib"),
        ("__private", "lib"),
        ("ws_module", "lib"),
    ] {
        assert_eq!(resolve(name, &lib), module, "crate::{name}");
    }
    let code = "use crate::{App, Server};";
    assert_eq!(
        paths_after(code, "crate::"),
        ["App", "Server"].map(String::from).into()
    );
    for hidden in [
        "use crate as r;",
        "use crate::{self as r};",
        "use super::super::app;",
    ] {
        assert!(!opaque_paths(hidden).is_empty(), "{hidden}");
    }
}

#[test]
fn the_code_map_in_architecture_md_names_every_source_file_under_its_folder() {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    // The runtime's code map: from its heading to the next heading or the invariants.
    let start = doc
        .find("### `swoft-ws/src`")
        .expect("a `swoft-ws/src` code map");
    let rest = &doc[start + 1..];
    let end = ["\n### ", "\n## ", "\n**Invariants.**"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .unwrap_or(rest.len());
    let map = &rest[..end];
    // One block per top-level bullet (`- `x``), keyed by what it names first.
    let mut blocks: BTreeMap<String, String> = BTreeMap::new();
    let mut current = None;
    for line in map.lines() {
        if let Some(head) = line.strip_prefix("- `") {
            let key = head.split('`').next().unwrap_or("").to_owned();
            current = Some(key.clone());
            blocks.entry(key).or_default();
        }
        if let Some(k) = &current {
            let block = blocks.get_mut(k).unwrap();
            block.push_str(line);
            block.push('\n');
        }
    }
    let mut missing = Vec::new();
    for rel in imports().keys() {
        let parts: Vec<&str> = rel.split('/').collect();
        let named = match parts.as_slice() {
            [file] => blocks.contains_key(*file),
            [folder, below @ ..] => blocks.get(&format!("{folder}/")).is_some_and(|block| {
                let (file, dirs) = below.split_last().unwrap();
                dirs.iter().all(|d| block.contains(&format!("`{d}/`")))
                    && (*file == "mod.rs" || block.contains(&format!("`{file}`")))
            }),
            [] => true,
        };
        if !named {
            missing.push(rel.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name these under their folder's bullet: {missing:?}"
    );
}

#[test]
fn only_the_ws_layer_names_axums_websocket_types() {
    let outside: Vec<String> = imports()
        .into_iter()
        .filter(|(rel, (code, _))| rel != "ws/mod.rs" && code.contains("axum::extract::ws"))
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        outside.is_empty(),
        "name the frame types through crate::ws (Message, CloseFrame, WireText), not axum: {outside:?}"
    );
}
