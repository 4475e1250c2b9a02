//! Docs must not point at files that are not there (the protocol docs once sent readers to a
//! `DESIGN.md` section that no longer existed): every `NAME.md` named in the repository's
//! docs, sources and scripts exists, relative to the naming file's folder (or its parent, for
//! paths relative to a crate) or to the repository root.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// The files to read: docs, sources and scripts, outside build output and installed packages.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && !["target", "node_modules", "dist"].contains(&name) {
                files(&path, out);
            }
        } else if [".md", ".rs", ".mjs", ".ts", ".sh", ".toml"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
}

/// The `*.md` paths named in `text` (runs of path characters ending in `.md`).
fn md_refs(text: &str) -> Vec<&str> {
    let is_path = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    let mut refs = Vec::new();
    for (i, _) in text.match_indices(".md") {
        let end = i + 3;
        if text[end..].chars().next().is_some_and(is_path) {
            continue; // `.mdx`, `.md5`, ...
        }
        let start = text[..i]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_path(c))
            .last()
            .map_or(i, |(j, _)| j);
        let name = &text[start..end];
        let relative = name.starts_with("../") || !name.starts_with(['/', '.']);
        let variable = text[..start].ends_with('$'); // `$repo/README.md` in a script
        if name.len() > 3 && relative && !variable {
            refs.push(name);
        }
    }
    refs
}

#[test]
fn every_markdown_file_the_repository_names_exists() {
    let root = root();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut missing = Vec::new();
    // This file names missing files on purpose (the examples of its docs and test).
    all.retain(|f| !f.ends_with("tests/tests/doc_links.rs"));
    for file in &all {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        let dir = file.parent().expect("a parent folder");
        for name in md_refs(&text) {
            // Paths in code are often relative to the crate (`CARGO_MANIFEST_DIR`): the
            // file's folder, its parent, or the root.
            let bases = [dir, dir.parent().unwrap_or(dir), root.as_path()];
            if !bases.iter().any(|b| b.join(name).exists()) {
                let rel = file.strip_prefix(&root).unwrap_or(file);
                missing.push(format!("{}: {name}", rel.display()));
            }
        }
    }
    assert!(missing.is_empty(), "named but not there: {missing:#?}");
}

#[test]
fn md_refs_finds_names_and_relative_paths() {
    assert_eq!(
        md_refs("see `ARCHITECTURE.md`, [x](../../README.md), /tmp/t.md, $dir/A.md, a.mdx"),
        ["ARCHITECTURE.md", "../../README.md"]
    );
}
