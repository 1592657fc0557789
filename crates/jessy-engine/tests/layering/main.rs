//! The engine's layering, checked: every path from one top-level module of `src/` into another
//! must be allowed by the "May use" column of the table in `docs/architecture.md`; that table
//! must have no cycle; every module under `src/` must have a row, so a new module is placed
//! before it is used; and every permission of the table must be used by some path.
//!
//! `lib.rs` is the facade: it declares the modules and re-exports the public API, so it names
//! every module and is not checked itself. A path through one of its re-exports
//! (`crate::QueryResult`) counts as a path to the module the item comes from
//! (`query::result::QueryResult`). Every other file directly under `src/` is a module of its
//! own and needs a row like a folder does.

mod scan;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use table::{Allowed, Table};

/// The facade, exempt from the table (see the crate docs above).
const FACADE: &str = "lib.rs";

fn engine_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read_table() -> Table {
    let doc = engine_dir().join("../../docs/architecture.md");
    table::parse(&read(&doc)).unwrap_or_else(|e| panic!("{}: {e}", doc.display()))
}

/// The top-level modules on disk: each folder and each `.rs` file of `src/` but the facade.
fn modules_on_disk(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut modules = BTreeMap::new();
    for entry in fs::read_dir(src).expect("src/ is readable") {
        let path = entry.expect("src/ entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            modules.insert(name, path);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if name != FACADE {
                modules.insert(stem.to_string(), path);
            }
        }
    }
    modules
}

/// Every `.rs` file of a module with its depth below the crate root (`query/mod.rs` 1,
/// `query/scanner.rs` 2, `model/train/docs.rs` 3), in a stable order.
fn files_of(module: &Path) -> Vec<(PathBuf, usize)> {
    if module.is_file() {
        return vec![(module.to_path_buf(), 1)];
    }
    let mut out = Vec::new();
    let mut stack = vec![(module.to_path_buf(), 1)];
    while let Some((dir, depth)) = stack.pop() {
        let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
            .expect("module folder is readable")
            .map(|e| e.expect("module folder entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push((path, depth + 1));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let own = path.file_name().is_some_and(|n| n == "mod.rs");
                out.push((path, if own { depth } else { depth + 1 }));
            }
        }
    }
    out.sort();
    out
}

/// What the facade re-exports, by the name it is reachable under at the crate root:
/// `QueryResult` → `["query", "result", "QueryResult"]`.
fn facade_names(src: &Path) -> BTreeMap<String, Vec<String>> {
    scan::use_leaves(&read(&src.join(FACADE)))
        .into_iter()
        .filter_map(|leaf| {
            let mut segments = leaf.segments;
            if segments.first().is_some_and(|s| s == "crate") {
                segments.remove(0);
            }
            Some((leaf.binds?, segments))
        })
        .collect()
}

/// What the scan of one module found: each path the table forbids (formatted as the failure
/// lists it), and which of the module's permissions some path used.
#[derive(Default)]
struct Findings {
    forbidden: Vec<String>,
    used: BTreeSet<Allowed>,
}

/// Scans every file of `module` (its folder or file at `location`) against its row.
fn scan_module(
    table: &Table,
    facade: &BTreeMap<String, Vec<String>>,
    module: &str,
    location: &Path,
) -> Findings {
    let allowed = &table[module];
    let allows = if allowed.is_empty() {
        "nothing else of the engine".to_string()
    } else {
        allowed
            .iter()
            .map(Allowed::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let root = engine_dir();
    let mut found = Findings::default();
    for (file, depth) in files_of(location) {
        let shown = file.strip_prefix(&root).unwrap_or(&file).display();
        let shown = format!("crates/jessy-engine/{shown}");
        for path in scan::paths(&read(&file), depth) {
            let Some(first) = path.segments.first() else {
                continue;
            };
            let segments: Vec<String> = if table.contains_key(first) {
                path.segments.clone()
            } else if let Some(target) = facade.get(first) {
                target.iter().chain(&path.segments[1..]).cloned().collect()
            } else {
                found.forbidden.push(format!(
                    "{shown}:{}: crate::{} is neither a module in the table nor re-exported \
                     by {FACADE}",
                    path.line,
                    path.segments.join("::")
                ));
                continue;
            };
            if segments[0] == module {
                continue;
            }
            if let Some(permission) = allowed.iter().find(|a| a.permits(&segments)) {
                found.used.insert(permission.clone());
                continue;
            }
            let target = segments
                .iter()
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join("::");
            found.forbidden.push(format!(
                "{shown}:{}: {module} -> {target} (the table allows: {allows})",
                path.line
            ));
        }
    }
    found
}

/// Every module on disk that has a row, scanned.
fn scan_all(table: &Table) -> BTreeMap<String, Findings> {
    let src = engine_dir().join("src");
    let facade = facade_names(&src);
    modules_on_disk(&src)
        .into_iter()
        .filter(|(module, _)| table.contains_key(module))
        .map(|(module, location)| {
            let found = scan_module(table, &facade, &module, &location);
            (module, found)
        })
        .collect()
}

#[test]
fn every_module_has_a_row_and_every_row_a_module() {
    let table = read_table();
    let on_disk = modules_on_disk(&engine_dir().join("src"));
    let unplaced: Vec<_> = on_disk.keys().filter(|m| !table.contains_key(*m)).collect();
    assert!(
        unplaced.is_empty(),
        "modules under crates/jessy-engine/src with no row in docs/architecture.md's table \
         (add one saying what each may use): {unplaced:?}"
    );
    let gone: Vec<_> = table.keys().filter(|m| !on_disk.contains_key(*m)).collect();
    assert!(
        gone.is_empty(),
        "rows for modules that do not exist: {gone:?}"
    );
    for (module, allowed) in &table {
        for a in allowed {
            assert!(
                table.contains_key(&a.module),
                "`{module}` may use `{a}`, which is not a module in the table"
            );
        }
    }
}

#[test]
fn the_table_has_no_cycle() {
    if let Some(cycle) = table::cycle(&read_table()) {
        panic!(
            "docs/architecture.md's table has a cycle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn every_module_uses_only_what_the_table_allows() {
    let table = read_table();
    let broken: Vec<String> = scan_all(&table)
        .into_values()
        .flat_map(|found| found.forbidden)
        .collect();
    assert!(
        broken.is_empty(),
        "{} path(s) break docs/architecture.md's table:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

/// The table says what *is* used, not what might be: a permission no path uses is stale (and
/// would let a new upward edge in unnoticed). This also keeps the scan honest: a scanner that
/// found no paths at all would fail here rather than pass the test above.
#[test]
fn every_permission_in_the_table_is_used() {
    let table = read_table();
    let found = scan_all(&table);
    let stale: Vec<String> = table
        .iter()
        .flat_map(|(module, allowed)| {
            let used = found.get(module).map(|f| &f.used);
            allowed
                .iter()
                .filter(move |a| used.is_none_or(|u| !u.contains(*a)))
                .map(move |a| format!("{module} -> {a}"))
        })
        .collect();
    assert!(
        stale.is_empty(),
        "permissions in docs/architecture.md's table that no path uses (remove them): {stale:?}"
    );
}
