//! Labeled JSONL: one `{"text": ..., "dimension": ..., "layer": ...}` object a line, where
//! `"layer": null` marks an out-of-scope example. Read by `import`, `build --calibrate` and
//! `eval`; every error names the file and the 1-based line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One labeled line.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledExample {
    /// The utterance.
    pub text: String,
    /// Its dimension (`None` for out-of-scope lines).
    pub dimension: Option<String>,
    /// Its layer (`None` marks out of scope).
    pub layer: Option<String>,
    /// 1-based line number in the file.
    pub line: usize,
}

impl LabeledExample {
    /// Whether the line is out of scope.
    pub fn is_out_of_scope(&self) -> bool {
        self.layer.is_none()
    }
}

/// Errors reading a labeled JSONL file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not a valid labeled example.
    #[error("{}: line {line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
struct RawLine {
    text: Option<String>,
    #[serde(default)]
    dimension: Option<String>,
    #[serde(default)]
    layer: Option<String>,
}

/// Reads every line of `path`; blank lines are skipped, any bad line is an error.
pub fn read_jsonl(path: &Path) -> Result<Vec<LabeledExample>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_jsonl(&bytes, path)
}

/// Parses JSONL bytes (`path` is only used in errors).
pub fn parse_jsonl(bytes: &[u8], path: &Path) -> Result<Vec<LabeledExample>, DatasetError> {
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let bad = |message: String| DatasetError::Line {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text = std::str::from_utf8(raw)
            .map_err(|e| bad(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: RawLine =
            serde_json::from_str(text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let utterance = parsed.text.ok_or_else(|| bad("missing \"text\"".into()))?;
        if utterance.trim().is_empty() {
            return Err(bad("empty \"text\"".into()));
        }
        if parsed.layer.is_some() && parsed.dimension.is_none() {
            return Err(bad("a layer without a dimension".into()));
        }
        out.push(LabeledExample {
            text: utterance,
            dimension: parsed.dimension,
            layer: parsed.layer,
            line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_names_bad_ones() {
        let ok = b"{\"text\":\"hi\",\"dimension\":\"a\",\"layer\":\"b\"}\n\n{\"text\":\"x\",\"dimension\":null,\"layer\":null}\n";
        let got = parse_jsonl(ok, Path::new("f.jsonl")).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[1].is_out_of_scope());
        assert_eq!(got[1].line, 3);
        let err = parse_jsonl(b"{\"text\":\"a\"}\n{oops}\n", Path::new("f.jsonl")).unwrap_err();
        assert!(
            err.to_string().starts_with("f.jsonl: line 2: invalid JSON"),
            "{err}"
        );
        let err = parse_jsonl(b"{\"dimension\":\"a\"}\n", Path::new("f.jsonl")).unwrap_err();
        assert!(
            err.to_string().contains("line 1: missing \"text\""),
            "{err}"
        );
    }
}
