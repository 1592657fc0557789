//! The crate's module structure, checked: every import points down the module map in
//! `lib.rs` (which lists exactly the crate's modules), no two modules of `src/` import each
//! other (directly or around a longer circle), and no source file is over 600 lines. The
//! module map promises all three; a promise nobody checks drifts within a wave.
//!
//! Imports are read as text: every `crate::…` and `super::…` path outside comments and
//! `#[cfg(test)]` modules (which sit at the end of their file here, and may reach anywhere),
//! `use` groups expanded, each path resolved to the deepest module it names. A module
//! importing its own ancestor or descendant is not an edge: a parent and its submodules are
//! one unit. Circles are looked for twice, between files and between top-level modules (so
//! `a::x → b` and `b → a::y` count as one).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file allowed (issue 24: files with one job stay a few hundred lines).
const MAX_FILE_LINES: usize = 600;

/// Module path (`["auth", "keys"]`) of every `.rs` file under `src`, except the crate roots.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut segments: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if segments == ["lib"] || segments == ["main"] {
                continue;
            }
            if segments.last().is_some_and(|s| s == "mod") {
                segments.pop();
            }
            found.insert(segments, path);
        }
    }
    found
}

/// The code of a file with comments and the trailing test module removed.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::`/`super::` path in `code`, `use` groups expanded into one path each.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if starts_word && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (found, end) = parse_path(&chars, i, Vec::new());
            paths.extend(found);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

/// Parses `a::b::{c, d::e}` from `start`, after `prefix`; returns the expanded paths and
/// where parsing stopped.
fn parse_path(chars: &[char], start: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut path = prefix;
    let mut i = start;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i < chars.len() && chars[i] == '{' {
            let mut found = Vec::new();
            i += 1;
            loop {
                while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                    i += 1;
                }
                if i >= chars.len() || chars[i] == '}' {
                    return (found, i + 1);
                }
                let (inner, end) = parse_path(chars, i, path.clone());
                found.extend(inner);
                i = end.max(i + 1);
            }
        }
        let begin = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i == begin {
            return (vec![path], i);
        }
        path.push(chars[begin..i].iter().collect());
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            return (vec![path], i);
        }
    }
}

/// The import edges between the modules of `sources` (module path → code).
fn edges(sources: &BTreeMap<Vec<String>, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in sources {
        let name = module.join("::");
        graph.entry(name.clone()).or_default();
        for path in paths_in(code) {
            let mut target: Vec<String> = Vec::new();
            let mut segments = path.iter().peekable();
            if segments.peek().is_some_and(|s| *s == "super") {
                target = module.clone();
                // `super` of a directory module (`x/mod.rs`) is its parent, as for a file.
                while segments.peek().is_some_and(|s| *s == "super") {
                    segments.next();
                    target.pop();
                }
            } else {
                segments.next(); // `crate`
            }
            target.extend(segments.cloned());
            let Some(resolved) = (1..=target.len())
                .rev()
                .map(|n| &target[..n])
                .find(|prefix| sources.contains_key(*prefix))
            else {
                continue;
            };
            let related = module.starts_with(resolved) || resolved.starts_with(module);
            if !related {
                graph
                    .entry(name.clone())
                    .or_default()
                    .insert(resolved.join("::"));
            }
        }
    }
    graph
}

/// The same graph between top-level modules.
fn top_level(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |name: &str| name.split("::").next().unwrap_or(name).to_owned();
    let mut result: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in graph {
        let entry = result.entry(top(from)).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    result
}

/// One import circle of `graph`, as the modules around it, if there is any.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        OnPath,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::OnPath);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::Unseen) {
                Mark::OnPath => {
                    let start = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut circle = path[start..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Mark::Unseen => {
                    if let Some(circle) = visit(next, graph, marks, path) {
                        return Some(circle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::Unseen) == Mark::Unseen {
            if let Some(circle) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(circle);
            }
        }
    }
    None
}

/// The module map's rows in `lib.rs`, top to bottom: the module named first in each row of
/// the table under `# Module map`.
fn map_order(lib: &str) -> Vec<String> {
    lib.lines()
        .skip_while(|line| !line.starts_with("//! # Module map"))
        .filter_map(|line| line.strip_prefix("//! | "))
        .filter_map(|row| {
            let name = row.trim_start_matches('[').strip_prefix('`')?;
            name.split('`').next().map(str::to_owned)
        })
        .collect()
}

fn crate_sources() -> BTreeMap<Vec<String>, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    modules(&src)
        .into_iter()
        .map(|(module, path)| {
            let text = std::fs::read_to_string(&path).expect("read source");
            (module, code_of(&text))
        })
        .collect()
}

#[test]
fn no_module_of_the_gateway_imports_one_that_imports_it_back() {
    let graph = edges(&crate_sources());
    // Not vacuous: the reader sees the imports the module map describes.
    for (from, to) in [
        ("state", "auth"),
        ("auth", "error"),
        ("auth::scope", "caller"),
    ] {
        assert!(
            graph[from].contains(to),
            "{from} -> {to} not seen: {graph:#?}"
        );
    }
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle between files: {}", circle.join(" -> "));
    }
    if let Some(circle) = find_circle(&top_level(&graph)) {
        panic!("import circle between modules: {}", circle.join(" -> "));
    }
}

#[test]
fn every_import_points_down_the_module_map() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let order = map_order(&std::fs::read_to_string(lib).expect("read lib.rs"));
    let graph = top_level(&edges(&crate_sources()));
    let modules: BTreeSet<&String> = graph.keys().collect();
    let listed: BTreeSet<&String> = order.iter().collect();
    assert_eq!(
        modules, listed,
        "the module map in lib.rs must list exactly the crate's modules"
    );
    let rank = |module: &str| order.iter().position(|listed| listed == module);
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(from, targets)| {
            targets
                .iter()
                .filter(|to| rank(to) <= rank(from))
                .map(move |to| format!("{from} -> {to}"))
        })
        .collect();
    assert!(
        upward.is_empty(),
        "imports that point up lib.rs's module map: {upward:?}"
    );
}

#[test]
fn the_module_map_is_read_in_order() {
    let lib = "//! text\n//! # Module map\n//!\n//! | module | does |\n//! | --- | --- |\n\
               //! | `server` | serves |\n//! | [`auth`] | keys |\n//!\n//! | after | x |\n";
    assert_eq!(map_order(lib), ["server", "auth"]);
}

#[test]
fn a_circle_is_found_through_use_groups_super_and_submodules() {
    let sources: BTreeMap<Vec<String>, String> = [
        (
            vec!["a"],
            "use crate::{x, b::{Thing, other}};\n// use crate::c;",
        ),
        (vec!["b"], "pub struct Thing;"),
        (vec!["b", "inner"], "fn f() { super::super::c::g() }"),
        (
            vec!["c"],
            "use crate::a::Item;\n#[cfg(test)]\nmod tests { use crate::b::Thing; }",
        ),
    ]
    .into_iter()
    .map(|(module, code)| {
        let module = module.into_iter().map(str::to_owned).collect();
        (module, code_of(code))
    })
    .collect();
    let graph = edges(&sources);
    assert_eq!(graph["a"], BTreeSet::from(["b".to_owned()]));
    assert_eq!(graph["b::inner"], BTreeSet::from(["c".to_owned()]));
    assert_eq!(
        graph["c"],
        BTreeSet::from(["a".to_owned()]),
        "test modules are skipped"
    );
    assert_eq!(find_circle(&graph), None, "no circle between files");
    let circle = find_circle(&top_level(&graph)).expect("a -> b -> c -> a between modules");
    assert_eq!(circle.first(), circle.last());
    assert_eq!(circle.len(), 4, "{circle:?}");
}

#[test]
fn no_source_file_is_over_the_line_limit() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let roots = [src.join("lib.rs"), src.join("main.rs")];
    let long: Vec<String> = modules(&src)
        .into_values()
        .chain(roots)
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count();
            (lines > MAX_FILE_LINES).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_FILE_LINES} lines: {long:?}");
}
