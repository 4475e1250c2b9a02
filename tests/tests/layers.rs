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
        if t.starts_with("#[cfg(test)]") {
            // Skip the item: up to its `;`, or to the brace that closes its first `{`.
            let mut depth = 0i32;
            let mut opened = false;
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
    found.retain(|n| !n.is_empty() && n.chars().next().is_some_and(char::is_lowercase));
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
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for (rel, (_, names)) in imports() {
        let from = top_module(&rel);
        seen.insert(from.to_owned());
        if from == "lib" || TOP.contains(&from) {
            continue;
        }
        let allowed = rule
            .get(from)
            .unwrap_or_else(|| panic!("{rel}: top-level module `{from}` has no layer in RULE"));
        for to in names {
            if to != from && !allowed.contains(&to.as_str()) && !is_root_item(&to) {
                violations.push(format!(
                    "{rel} imports crate::{to} (layer `{from}` may import {allowed:?})"
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

/// `crate::x` where `x` is not a module but something `lib.rs` defines itself (a macro).
fn is_root_item(name: &str) -> bool {
    !src().join(format!("{name}.rs")).exists() && !src().join(name).is_dir()
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
        // Files of the folder (by stem; `mod.rs` is the folder itself) and their edges.
        let prefix = format!("crate::{folder}::");
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (rel, (code, _)) in all
            .iter()
            .filter(|(rel, _)| rel.starts_with(&format!("{folder}/")))
        {
            let stem = rel
                .split('/')
                .nth(1)
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            let mut to = paths_after(code, &prefix);
            to.extend(paths_after(code, "super::"));
            to.remove(&stem);
            edges.entry(stem).or_default().extend(to);
        }
        // `mod.rs` declares its children: its own imports of them are not a layer edge.
        edges.remove("mod");
        let known: BTreeSet<String> = edges.keys().cloned().collect();
        for targets in edges.values_mut() {
            targets.retain(|t| known.contains(t));
        }
        if let Some(cycle) = find_cycle(&edges) {
            panic!(
                "files of {folder}/ import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
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
        "use crate::{ws::X, runtime::{a, b}};\n// crate::app\n#[cfg(test)]\nmod tests {\n    use crate::driver;\n}\nfn f() { crate::config::x(); }\n",
    );
    assert_eq!(
        paths_after(&code, "crate::"),
        ["config", "runtime", "ws"].map(String::from).into()
    );
}

#[test]
fn the_code_map_in_architecture_md_names_every_source_file_and_folder() {
    let map = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for rel in imports().keys() {
        let mut parts: Vec<&str> = rel.split('/').collect();
        let file = parts.pop().unwrap();
        if file != "mod.rs"
            && !map.contains(&format!("`{file}`"))
            && !map.contains(&format!("`{rel}`"))
        {
            missing.push(rel.clone());
        }
        for folder in parts {
            if !map.contains(&format!("`{folder}/`")) {
                missing.push(format!("{folder}/"));
            }
        }
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name: {missing:?}"
    );
}
