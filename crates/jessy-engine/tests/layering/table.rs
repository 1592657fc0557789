//! Reads the module table of `docs/architecture.md` ("| Folder | Job | May use |").
//!
//! The first column names one module in backticks (`query/` for a folder, `eval.rs` for a
//! file). The third lists what it may use: module names in backticks (`parser`), or one item of
//! a module (`storage::ModelSections`: only that item, not the rest of `storage`), or the words
//! "nothing else of the engine". Text outside backticks is commentary for the reader.

use std::collections::{BTreeMap, BTreeSet};

/// The header the table is found by.
const HEADER: &str = "| Folder | Job | May use |";
/// What a row says when its module may use no other module.
const NOTHING: &str = "nothing else of the engine";

/// One permission: a module, or one item of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Allowed {
    pub module: String,
    /// `Some("ModelSections")` for `storage::ModelSections`: only paths through that item.
    pub item: Option<String>,
}

impl Allowed {
    /// Whether a path below the crate root (`["storage", "ModelSections", …]`) is permitted.
    pub fn permits(&self, segments: &[String]) -> bool {
        segments.first() == Some(&self.module)
            && self
                .item
                .as_ref()
                .is_none_or(|item| segments.get(1) == Some(item))
    }
}

impl std::fmt::Display for Allowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.item {
            Some(item) => write!(f, "{}::{item}", self.module),
            None => f.write_str(&self.module),
        }
    }
}

/// The table: each module and what it may use.
pub type Table = BTreeMap<String, Vec<Allowed>>;

/// Parses the table out of the whole document.
pub fn parse(doc: &str) -> Result<Table, String> {
    let mut lines = doc.lines().enumerate();
    lines
        .by_ref()
        .find(|(_, l)| l.trim() == HEADER)
        .ok_or_else(|| format!("no table with the header {HEADER:?}"))?;
    lines.next(); // the |---| separator
    let mut table = Table::new();
    for (index, line) in lines.take_while(|(_, l)| l.trim_start().starts_with('|')) {
        let at = index + 1;
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let [folder, _job, may_use] = cells[..] else {
            return Err(format!(
                "line {at}: expected 3 cells, found {}",
                cells.len()
            ));
        };
        let named = ticked(folder);
        let [name] = named[..] else {
            return Err(format!(
                "line {at}: the first cell must name one module in backticks"
            ));
        };
        let module = name
            .strip_suffix('/')
            .or_else(|| name.strip_suffix(".rs"))
            .ok_or_else(|| format!("line {at}: `{name}` is neither a folder/ nor a file.rs"))?;
        let allowed = permissions(may_use).map_err(|e| format!("line {at}: {e}"))?;
        if table.insert(module.to_string(), allowed).is_some() {
            return Err(format!("line {at}: `{module}` has two rows"));
        }
    }
    Ok(table)
}

/// The permissions of one "May use" cell.
fn permissions(cell: &str) -> Result<Vec<Allowed>, String> {
    let names = ticked(cell);
    if names.is_empty() && !cell.contains(NOTHING) {
        return Err(format!(
            "the May use cell names no module in backticks and does not say {NOTHING:?}"
        ));
    }
    names
        .into_iter()
        .map(|name| {
            let mut parts = name.split("::");
            let module = parts.next().unwrap_or_default().to_string();
            let item = parts.next().map(str::to_string);
            if module.is_empty() || parts.next().is_some() {
                return Err(format!("`{name}` is not `module` or `module::Item`"));
            }
            Ok(Allowed { module, item })
        })
        .collect()
}

/// The backticked spans of a cell.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// A cycle in the table's graph (items count as their module), as `a -> b -> a`, if any.
pub fn cycle(table: &Table) -> Option<Vec<String>> {
    fn visit<'t>(
        table: &'t Table,
        module: &'t str,
        done: &mut BTreeSet<&'t str>,
        path: &mut Vec<&'t str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in table.get(module).into_iter().flatten() {
            if next.module != module {
                if let Some(cycle) = visit(table, &next.module, done, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    table
        .keys()
        .find_map(|module| visit(table, module, &mut done, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "intro\n\n| Folder | Job | May use |\n|---|---|---|\n\
        | `storage/` | bytes (`mmap.rs`) | nothing else of the engine |\n\
        | `model/` | the model | `parser`, `storage::ModelSections` (the stored arrays) |\n\
        | `eval.rs` | evaluation | `model` |\n\nafter\n";

    #[test]
    fn rows_give_modules_and_item_permissions() {
        let table = parse(DOC).unwrap();
        assert_eq!(table["storage"], []);
        assert_eq!(
            table["model"],
            [
                Allowed {
                    module: "parser".into(),
                    item: None
                },
                Allowed {
                    module: "storage".into(),
                    item: Some("ModelSections".into())
                }
            ]
        );
        let sections = &table["model"][1];
        assert!(sections.permits(&["storage".into(), "ModelSections".into()]));
        assert!(!sections.permits(&["storage".into(), "Snapshot".into()]));
        assert!(!sections.permits(&["storage".into()]));
        assert_eq!(
            table.keys().collect::<Vec<_>>(),
            ["eval", "model", "storage"]
        );
        assert_eq!(cycle(&table), None);
    }

    #[test]
    fn a_cell_that_says_nothing_clear_is_an_error() {
        let doc = DOC.replace("nothing else of the engine", "nothing");
        assert!(parse(&doc).unwrap_err().contains("names no module"));
    }

    #[test]
    fn a_cycle_is_found() {
        let doc = DOC.replace("| `parser`, `storage", "| `eval`, `storage");
        let cycle = cycle(&parse(&doc).unwrap()).unwrap();
        assert_eq!(cycle, ["eval", "model", "eval"]);
    }
}
