//! Finds the paths a Rust file names, without a Rust parser.
//!
//! A full parser (`syn`) would be a heavy dependency for one question: *which top-level modules
//! of the crate does this file reach?* Paths are simple enough to find by hand once comments and
//! literals are gone, so this module does two small steps:
//!
//! 1. [`tokenize`] keeps identifiers, `::` and punctuation, with their line, and drops comments
//!    (line, block, nested block, doc), string literals (plain, byte, C and raw with any number
//!    of `#`) and char literals. A path named in a doc comment or an error message is therefore
//!    never an edge.
//! 2. [`paths`] reads every path that starts with `crate::` or `super::` (in a `use` or inline
//!    in code), expands `{…}` groups over any number of lines into one path per leaf, and
//!    resolves `super::` against the file's module depth, keeping only paths that reach the
//!    crate root. Inline `mod name { … }` blocks add a level, so `super::` in a file's `tests`
//!    module is counted from the right place.
//!
//! Also [`use_leaves`], for reading the facade's `pub use` re-exports.

/// One token: what the scan needs of Rust's lexical grammar.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or keyword (`r#` stripped from raw identifiers).
    Ident(String),
    /// `::`.
    PathSep,
    /// Any other punctuation character; numbers and lifetimes are dropped.
    Punct(char),
}

/// A token and the 1-based line it starts on.
#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// A path that reaches the crate root: its segments below the root (`["query", "convergence",
/// "settle"]` for `crate::query::convergence::settle`), and the line of its last segment (for a
/// path in a multi-line group, the line of that group member).
#[derive(Debug, Clone, PartialEq)]
pub struct RootPath {
    pub segments: Vec<String>,
    pub line: usize,
}

/// One leaf of a `use` tree, as written: full path and the name it binds (its last segment,
/// the module for a `self` leaf, or the `as` alias); `None` for a glob.
#[derive(Debug, Clone, PartialEq)]
pub struct UseLeaf {
    pub segments: Vec<String>,
    pub binds: Option<String>,
}

/// The paths in `source` that reach the crate root, for a file whose module sits `depth` levels
/// below it (`query/mod.rs` and `eval.rs` are 1, `query/convergence.rs` is 2).
pub fn paths(source: &str, depth: usize) -> Vec<RootPath> {
    let tokens = tokenize(source);
    let mut out = Vec::new();
    // Brace depth at which each enclosing inline `mod name {` opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut braces = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].tok {
            Tok::Punct('{') => {
                braces += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                braces = braces.saturating_sub(1);
                while inline_mods.last().is_some_and(|&opened| opened > braces) {
                    inline_mods.pop();
                }
                i += 1;
            }
            Tok::Ident(word) if word == "mod" && opens_inline_mod(&tokens, i) => {
                // `mod name {`: the `{` is counted on the next pass of the loop.
                inline_mods.push(braces + 1);
                i += 2;
            }
            Tok::Ident(word)
                if (word == "crate" || word == "super")
                    && follows(&tokens, i + 1, &Tok::PathSep)
                    && !(i > 0 && tokens[i - 1].tok == Tok::PathSep) =>
            {
                let (leaves, next) = tree(&tokens, i, Vec::new());
                let here = depth + inline_mods.len();
                for (segments, line, _) in leaves {
                    if let Some(segments) = below_root(segments, here) {
                        out.push(RootPath { segments, line });
                    }
                }
                i = next.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Every leaf of every `use` item in `source` (used on `lib.rs` to learn what the facade
/// re-exports under which name).
pub fn use_leaves(source: &str) -> Vec<UseLeaf> {
    let tokens = tokenize(source);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].tok == Tok::Ident("use".into()) {
            let (leaves, next) = tree(&tokens, i + 1, Vec::new());
            for (segments, _, binds) in leaves {
                out.push(UseLeaf { segments, binds });
            }
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The segments below the crate root of a path written in a module `depth` levels down, or
/// `None` if the path stays inside the file's own top-level module (or is not a crate path).
fn below_root(segments: Vec<String>, depth: usize) -> Option<Vec<String>> {
    match segments.first().map(String::as_str) {
        Some("crate") => Some(segments[1..].to_vec()),
        Some("super") => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            // Going up fewer levels than the depth lands inside the same top-level module.
            (ups >= depth).then(|| segments[ups..].to_vec())
        }
        _ => None,
    }
}

fn follows(tokens: &[Token], i: usize, tok: &Tok) -> bool {
    tokens.get(i).is_some_and(|t| &t.tok == tok)
}

/// Whether `mod` at `i` starts `mod name {` (not `mod name;`).
fn opens_inline_mod(tokens: &[Token], i: usize) -> bool {
    matches!(tokens.get(i + 1).map(|t| &t.tok), Some(Tok::Ident(_)))
        && follows(tokens, i + 2, &Tok::Punct('{'))
}

/// A leaf of a path tree: segments, the line of its last segment, the name it binds.
type Leaf = (Vec<String>, usize, Option<String>);

/// Reads the path tree starting at `i` (segments joined by `::`, `{a, b::c}` groups at any
/// level, `self` and `*` leaves, `as` aliases) and returns its leaves with the index of the
/// first token after the tree. Generic arguments (`::<T>`) end the path.
fn tree(tokens: &[Token], mut i: usize, mut prefix: Vec<String>) -> (Vec<Leaf>, usize) {
    let mut line = tokens.get(i).map_or(0, |t| t.line);
    loop {
        match tokens.get(i).map(|t| (&t.tok, t.line)) {
            Some((Tok::Ident(seg), at)) => {
                line = at;
                i += 1;
                if seg == "self" && !prefix.is_empty() {
                    let binds = alias(tokens, &mut i).or_else(|| prefix.last().cloned());
                    return (vec![(prefix, line, binds)], i);
                }
                prefix.push(seg.clone());
                if follows(tokens, i, &Tok::PathSep) {
                    i += 1;
                    continue;
                }
                let binds = alias(tokens, &mut i).or_else(|| prefix.last().cloned());
                return (vec![(prefix, line, binds)], i);
            }
            Some((Tok::Punct('*'), at)) => return (vec![(prefix, at, None)], i + 1),
            Some((Tok::Punct('{'), _)) => return group(tokens, i + 1, prefix),
            // `::<T>` or a path cut short: what was read so far is the path.
            _ => return (vec![(prefix, line, None)], i),
        }
    }
}

/// The members of a `{…}` group opened just before `i`, each read as a tree under `prefix`.
fn group(tokens: &[Token], mut i: usize, prefix: Vec<String>) -> (Vec<Leaf>, usize) {
    let mut leaves = Vec::new();
    while let Some(token) = tokens.get(i) {
        match token.tok {
            Tok::Punct('}') => return (leaves, i + 1),
            Tok::Punct(',') => i += 1,
            _ => {
                let (more, next) = tree(tokens, i, prefix.clone());
                leaves.extend(more);
                // A malformed member (no progress) is skipped rather than looped on.
                i = next.max(i + 1);
            }
        }
    }
    (leaves, i)
}

/// Consumes `as name` at `i`, if present, and returns the name.
fn alias(tokens: &[Token], i: &mut usize) -> Option<String> {
    if !follows(tokens, *i, &Tok::Ident("as".into())) {
        return None;
    }
    match tokens.get(*i + 1).map(|t| &t.tok) {
        Some(Tok::Ident(name)) => {
            *i += 2;
            Some(name.clone())
        }
        _ => None,
    }
}

/// Splits `source` into identifiers, `::` and punctuation, dropping comments, literals,
/// numbers and lifetimes.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i, &mut line);
        } else if let Some(end) = string_literal_end(&chars, i, &mut line) {
            i = end;
        } else if c == '\'' {
            i = skip_quote(&chars, i);
        } else if c.is_alphabetic() || c == '_' {
            let start = if c == 'r' && next == Some('#') {
                i + 2
            } else {
                i
            };
            let mut end = start;
            while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                end += 1;
            }
            tokens.push(Token {
                tok: Tok::Ident(chars[start..end].iter().collect()),
                line,
            });
            i = end;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            tokens.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                tok: Tok::Punct(c),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// Skips a (possibly nested) block comment starting at `i`; returns the index after it.
fn skip_block_comment(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut open = 0usize;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1).copied()) {
            ('/', Some('*')) => {
                open += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                open -= 1;
                i += 2;
                if open == 0 {
                    return i;
                }
            }
            (c, _) => {
                *line += usize::from(c == '\n');
                i += 1;
            }
        }
    }
    i
}

/// If a string literal (`"…"`, `b"…"`, `c"…"`, `r#"…"#`, `br"…"`, `cr"…"`) starts at `i`,
/// returns the index after it. An identifier that merely starts with `r`, `b` or `c` is not one.
fn string_literal_end(chars: &[char], i: usize, line: &mut usize) -> Option<usize> {
    // An identifier character before `i` means `r`/`b` is inside a word, not a prefix.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    let raw = chars.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let hashes = chars[j.min(chars.len())..]
        .iter()
        .take_while(|&&c| c == '#')
        .count();
    if !raw && hashes > 0 {
        return None;
    }
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if !raw => {
                *line += usize::from(chars.get(j + 1) == Some(&'\n'));
                j += 2;
            }
            '"' if chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes =>
            {
                return Some(j + 1 + hashes);
            }
            c => {
                *line += usize::from(c == '\n');
                j += 1;
            }
        }
    }
    Some(j)
}

/// Skips a char literal (`'a'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`) at `i`.
fn skip_quote(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            // Past the backslash and the escaped character (which may itself be `'`), then to
            // the closing quote (`\u{…}` escapes are longer).
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            j + 1
        }
        (Some(_), Some('\'')) => i + 3,
        // A lifetime or label: drop the quote, the name is harmless as an identifier.
        _ => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str, depth: usize) -> Vec<(String, usize)> {
        paths(source, depth)
            .into_iter()
            .map(|p| (p.segments.join("::"), p.line))
            .collect()
    }

    #[test]
    fn a_multi_line_group_gives_one_path_per_member_on_its_line() {
        let source = "use crate::{\n    query::{self, QueryOptions},\n    build,\n};\n";
        assert_eq!(
            found(source, 1),
            [
                ("query".to_string(), 2),
                ("query::QueryOptions".to_string(), 2),
                ("build".to_string(), 3)
            ]
        );
    }

    #[test]
    fn an_inline_path_in_code_is_found() {
        let source = "fn f() -> bool {\n    x > crate::build::associations::BASE\n}\n";
        assert_eq!(
            found(source, 2),
            [("build::associations::BASE".to_string(), 2)]
        );
    }

    #[test]
    fn comments_and_literals_are_not_paths() {
        let source = r###"
// use crate::build;
/// See [`crate::build::compile`].
/* use crate::query; /* nested crate::usage */ still crate::eval */
const A: &str = "crate::build::x";
const B: &str = r#"crate::query::y "quoted" crate::eval"#;
const C: &[u8] = b"crate::usage";
const D: char = '"';
const E: [char; 3] = ['\'', '\\', '\u{7b}'];
fn lifetime<'a>(s: &'a str) -> &'a str { s }
use crate::storage::Snapshot;
"###;
        assert_eq!(found(source, 1), [("storage::Snapshot".to_string(), 11)]);
    }

    #[test]
    fn super_counts_only_when_it_leaves_the_top_level_module() {
        // In `query/convergence.rs` (depth 2): one `super` is `query`, two reach the root.
        let source = "use super::pool::Scratch;\nuse super::super::build::compile;\n";
        assert_eq!(found(source, 2), [("build::compile".to_string(), 2)]);
        // Inside `mod tests { … }` one more `super` is needed to reach the root.
        let source = "mod tests {\n    use super::super::x;\n    use super::super::super::build;\n}\nuse super::super::usage;\n";
        assert_eq!(
            found(source, 2),
            [("build".to_string(), 3), ("usage".to_string(), 5)]
        );
    }

    #[test]
    fn visibility_and_generic_arguments_are_not_mistaken() {
        let source = "pub(crate) fn f() { let v = crate::model::Vec::<u8>::new(); }\n";
        assert_eq!(found(source, 1), [("model::Vec".to_string(), 1)]);
    }

    #[test]
    fn use_leaves_report_the_name_each_binds() {
        let leaves = use_leaves("pub use query::result::{self, Outcome as O};\npub use a::*;\n");
        let binds: Vec<_> = leaves
            .iter()
            .map(|l| (l.segments.join("::"), l.binds.clone()))
            .collect();
        assert_eq!(
            binds,
            [
                ("query::result".to_string(), Some("result".to_string())),
                ("query::result::Outcome".to_string(), Some("O".to_string())),
                ("a".to_string(), None)
            ]
        );
    }
}
