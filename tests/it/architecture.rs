//! The module layers of docs/ARCHITECTURE.md, checked on the source: every
//! `crate::` path in `src/` points to a lower layer, there is no import loop
//! between top-level modules, the domain (`okr`) reaches no database, network or runtime, and no file is
//! over the size a reader can hold in their head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up; a module may use only modules in
/// layers below its own. The same table is in docs/ARCHITECTURE.md.
const LAYERS: &[&[&str]] = &[
    &["okr", "clock", "duration", "cli"],
    &["store"],
    &["access", "connectors", "live"],
    &["config", "metrics"],
    &["scheduler", "logging"],
    &["binding"],
    &["pipeline", "backfill"],
    &["reload"],
    &["api", "web"],
    &["app"],
    &["demo"],
    &["commands"],
    &["main", "lib"],
];

/// Lines a file in `src/` may have before its unit tests.
const MAX_LINES: usize = 500;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to (`src/api/mod.rs` → `api`).
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its comments (doc comments name paths too).
fn code(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named by `crate::` paths in `code`, braces included
/// (`crate::{a, b::c}` names `a` and `b`).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            for item in split_top_level(&group[..end]) {
                if let Some(name) = ident(item.trim()) {
                    out.insert(name);
                }
            }
        } else if let Some(name) = ident(rest) {
            out.insert(name);
        }
    }
    out
}

fn split_top_level(group: &str) -> Vec<&str> {
    let (mut items, mut level, mut start) = (Vec::new(), 0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => level += 1,
            '}' => level -= 1,
            ',' if level == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

fn ident(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// Top-level module → the top-level modules it uses, with one file that does.
fn imports() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let from = top_module(&file);
        let uses = graph.entry(from.clone()).or_default();
        for to in crate_paths(&code(&file)) {
            if to != from {
                uses.entry(to).or_insert_with(|| file.clone());
            }
        }
    }
    graph
}

#[test]
fn the_paths_are_read_whole() {
    let found = crate_paths("use crate::{a::b, cc::{d, e}, self};\nlet x = crate::ff::g();");
    let want: BTreeSet<String> = ["a", "cc", "ff"].map(String::from).into();
    assert_eq!(found, want);
}

#[test]
fn every_module_has_a_layer_and_uses_only_lower_ones() {
    let mut wrong = Vec::new();
    for (from, uses) in imports() {
        let Some(own) = layer_of(&from) else {
            wrong.push(format!(
                "`{from}` has no layer in LAYERS (and docs/ARCHITECTURE.md)"
            ));
            continue;
        };
        for (to, file) in uses {
            match layer_of(&to) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!(
                    "`{from}` uses `{to}`, which is not in a lower layer ({})",
                    file.display()
                )),
                None => wrong.push(format!("`{to}` (used in {}) has no layer", file.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_domain_does_no_io() {
    let mut files = Vec::new();
    rust_files(&src().join("okr"), &mut files);
    for file in files {
        let code = code(&file);
        for io in ["tokio::", "sqlx::", "reqwest::", "axum::"] {
            assert!(!code.contains(io), "{} uses {io}", file.display());
        }
        let uses: Vec<String> = crate_paths(&code)
            .into_iter()
            .filter(|m| m != "okr")
            .collect();
        assert!(uses.is_empty(), "{} uses {uses:?}", file.display());
    }
}

#[test]
fn no_file_is_over_the_limit_before_its_tests() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .count();
        if lines > MAX_LINES {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these (at most {MAX_LINES} lines before the tests):\n{}",
        long.join("\n")
    );
}
