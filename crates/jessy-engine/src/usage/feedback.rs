//! Feedback: what a caller says a query should have routed to, kept in an append-only log.
//!
//! The log is `feedback.jsonl` in the registry directory. Each accepted batch is one line (a
//! JSON object holding the batch's items), written with one `write` and made durable with
//! `fsync` before the caller hears "accepted". One line per batch makes a batch atomic: a crash
//! mid-write leaves at most a final line without its newline, which was never acknowledged and
//! is cut off the next time the log is opened. A damaged line anywhere else is an error naming
//! the line; the log is never rewritten to hide it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the feedback log inside a registry directory.
pub const FEEDBACK_FILE: &str = "feedback.jsonl";

/// Most items one feedback call may carry.
pub const MAX_FEEDBACK_BATCH: usize = 1_000;

/// One piece of feedback as a caller gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackItem {
    /// Which query: by the id its result carried, or by its text.
    pub target: FeedbackTarget,
    /// The layer it should have routed to, as `dimension/layer`; `None` means it should have
    /// been a no-match.
    pub layer: Option<String>,
}

/// How a feedback item names its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackTarget {
    /// A `query_id` from a recent result.
    QueryId(String),
    /// The query text itself.
    Text(String),
}

/// One accepted feedback item as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    /// The query text (resolved from the query id when one was given).
    pub text: String,
    /// `dimension/layer`, or `None` for out of scope.
    pub layer: Option<String>,
    /// The query id the caller gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
}

/// One line of the log.
#[derive(Debug, Serialize, Deserialize)]
struct BatchLine {
    /// Milliseconds since the Unix epoch when the batch was accepted.
    at_ms: u64,
    items: Vec<FeedbackRecord>,
}

/// Errors recording or reading feedback.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedbackError {
    /// An empty batch.
    #[error("no feedback items")]
    Empty,
    /// More than [`MAX_FEEDBACK_BATCH`] items.
    #[error("{count} feedback items; at most {max} per call")]
    TooMany {
        /// Items given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An item's text is blank.
    #[error("item {index}: the text is empty")]
    EmptyText {
        /// 0-based item index.
        index: usize,
    },
    /// An item names a layer the registry does not have (or not as `dimension/layer`).
    #[error(
        "item {index}: unknown layer {layer:?} (expected \"dimension/layer\" of an existing layer)"
    )]
    UnknownLayer {
        /// 0-based item index.
        index: usize,
        /// The layer as given.
        layer: String,
    },
    /// An item names a query id this engine does not remember (never issued, or expired).
    #[error("item {index}: unknown or expired query id {id:?}")]
    UnknownQueryId {
        /// 0-based item index.
        index: usize,
        /// The id as given.
        id: String,
    },
    /// The engine was opened read-only.
    #[error("the registry was opened read-only; feedback needs the process that owns it")]
    ReadOnly,
    /// A line of the log is damaged (not the torn tail of an interrupted write).
    #[error("{path}: line {line}: damaged feedback record: {message}")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing the log failed; nothing was acknowledged.
    #[error("{path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The feedback log: every record accepted so far, and the file it is appended to (none for
/// an in-memory engine, whose feedback lives as long as the process).
#[derive(Debug)]
pub struct FeedbackLog {
    file: Option<(PathBuf, File)>,
    records: Vec<FeedbackRecord>,
}

impl FeedbackLog {
    /// A log kept in memory only.
    pub fn in_memory() -> FeedbackLog {
        FeedbackLog {
            file: None,
            records: Vec::new(),
        }
    }

    /// Opens (creating) `dir/feedback.jsonl` for appending, reading what it holds and cutting
    /// off a torn final line.
    pub fn open(dir: &Path) -> Result<FeedbackLog, FeedbackError> {
        let path = dir.join(FEEDBACK_FILE);
        let io = |source| FeedbackError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (records, complete) = parse_log(&bytes, &path)?;
        if complete < bytes.len() {
            // The tail of a write that never finished (and was never acknowledged).
            file.set_len(complete as u64).map_err(io)?;
            file.sync_data().map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        Ok(FeedbackLog {
            file: Some((path, file)),
            records,
        })
    }

    /// Reads `dir/feedback.jsonl` without opening it for writing (a missing file is empty).
    pub fn read(dir: &Path) -> Result<Vec<FeedbackRecord>, FeedbackError> {
        let path = dir.join(FEEDBACK_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(parse_log(&bytes, &path)?.0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(FeedbackError::Io { path, source }),
        }
    }

    /// Every accepted record, oldest first.
    pub fn records(&self) -> &[FeedbackRecord] {
        &self.records
    }

    /// Appends a batch durably: when this returns `Ok`, the batch survives a crash.
    pub fn append(&mut self, items: Vec<FeedbackRecord>) -> Result<(), FeedbackError> {
        if let Some((path, file)) = &mut self.file {
            let line = BatchLine {
                at_ms: now_ms(),
                items,
            };
            let mut bytes = serde_json::to_vec(&line).expect("feedback records serialize");
            bytes.push(b'\n');
            let io = |source| FeedbackError::Io {
                path: path.clone(),
                source,
            };
            file.write_all(&bytes).map_err(io)?;
            file.sync_data().map_err(io)?;
            self.records.extend(line.items);
        } else {
            self.records.extend(items);
        }
        Ok(())
    }
}

/// The records of a log's bytes and the length of its complete lines.
fn parse_log(bytes: &[u8], path: &Path) -> Result<(Vec<FeedbackRecord>, usize), FeedbackError> {
    let mut records = Vec::new();
    let mut complete = 0;
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if line.last() != Some(&b'\n') {
            break; // torn tail
        }
        let body = &line[..line.len() - 1];
        complete += line.len();
        if body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let batch: BatchLine =
            serde_json::from_slice(body).map_err(|e| FeedbackError::Corrupt {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })?;
        records.extend(batch.items);
    }
    Ok((records, complete))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Splits `dimension/layer` at its first slash.
pub fn split_layer(layer: &str) -> Option<(&str, &str)> {
    let (d, l) = layer.split_once('/')?;
    (!d.is_empty() && !l.is_empty()).then_some((d, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(text: &str, layer: Option<&str>) -> FeedbackRecord {
        FeedbackRecord {
            text: text.into(),
            layer: layer.map(str::to_string),
            query_id: None,
        }
    }

    #[test]
    fn appended_batches_are_read_back_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = FeedbackLog::open(dir.path()).unwrap();
        log.append(vec![rec("a", Some("d/l")), rec("b", None)])
            .unwrap();
        drop(log);
        // A crash in the middle of the next batch's write.
        let path = dir.path().join(FEEDBACK_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"at_ms":1,"items":[{"text":"c","la"#)
            .unwrap();
        drop(f);
        let mut log = FeedbackLog::open(dir.path()).unwrap();
        assert_eq!(log.records(), &[rec("a", Some("d/l")), rec("b", None)]);
        log.append(vec![rec("d", None)]).unwrap();
        drop(log);
        let read = FeedbackLog::read(dir.path()).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[2], rec("d", None));
    }

    #[test]
    fn a_damaged_complete_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = FeedbackLog::open(dir.path()).unwrap();
        log.append(vec![rec("a", None)]).unwrap();
        drop(log);
        let path = dir.path().join(FEEDBACK_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json\n").unwrap();
        drop(f);
        match FeedbackLog::open(dir.path()) {
            Err(FeedbackError::Corrupt { line: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            std::fs::read(&path).unwrap().ends_with(b"not json\n"),
            "left as it was"
        );
    }

    #[test]
    fn layer_names_split_at_the_first_slash() {
        assert_eq!(split_layer("banking/balance"), Some(("banking", "balance")));
        assert_eq!(split_layer("banking/"), None);
        assert_eq!(split_layer("/x"), None);
        assert_eq!(split_layer("plain"), None);
    }
}
