//! Generation history: what each published generation changed.
//!
//! The engine's snapshot files say what a generation *is*, not why it exists, and unreferenced
//! generation files are collected, so the directory alone cannot answer "what changed in
//! generation 12?". The smallest honest mechanism is a change note per write: after the layer
//! write routes publish a generation, they append one JSON line to `history.jsonl` in the
//! snapshot directory (number, time, file size, what changed), fsync'd before the write is
//! acknowledged. [`History::list`] merges those notes with the generation files still on disk,
//! so a generation published some other way (`jessy build`, the first start on the default
//! registry, a write before this file existed) is still listed, marked as having no note.
//!
//! What it covers: writes made through this service's HTTP routes. What it does not: builds
//! made by `jessy build --out` into the directory, and generations whose file was collected
//! before any note was written (they are gone from the directory and from this list).
//!
//! The storage layer leaves files other than its own alone (it only creates, collects and
//! recovers its generation files, `CURRENT` and its locks), so the note file lives safely
//! beside them. Which generations are on disk, and their sizes, come from the engine
//! ([`Engine::stored_generations`]): how storage names its files is storage's business.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use jessy_engine::{Engine, StoredGeneration};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// File name of the change notes inside the snapshot directory.
pub const HISTORY_FILE: &str = "history.jsonl";

/// At most this many generations are listed (newest first): the page is for people, and a
/// long-lived registry can have thousands of writes.
pub const MAX_LISTED: usize = 200;

/// One generation in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GenerationNote {
    /// Generation number.
    pub generation: u64,
    /// When it was published, Unix time in milliseconds (from the note, else the file's
    /// modification time; 0 when neither is known).
    pub published_unix_ms: u64,
    /// Size of its snapshot file in bytes (0 when unknown).
    pub bytes: u64,
    /// What changed, e.g. `created layer emotion/grief`; `None` for a generation published
    /// without a note.
    pub change: Option<String>,
    /// Whether its snapshot file is still in the directory.
    #[serde(default)]
    pub on_disk: bool,
}

/// The change notes of one snapshot directory (or of memory only, for an engine without one).
#[derive(Debug)]
pub struct History {
    dir: Option<PathBuf>,
    /// Notes written by this process, kept so an engine without a directory still has a
    /// history for as long as it runs. Also serializes appends.
    written: Mutex<Vec<GenerationNote>>,
}

impl History {
    /// The history of `dir` (`None`: in memory only).
    pub fn new(dir: Option<&Path>) -> History {
        History {
            dir: dir.map(Path::to_path_buf),
            written: Mutex::new(Vec::new()),
        }
    }

    /// Records that `generation` of `engine` was published because of `change`. The note is
    /// appended and fsync'd; a failure to write it is logged and does not fail the write it
    /// describes (the generation is already durable and current).
    pub fn record(&self, engine: &Engine, generation: u64, change: String) {
        let bytes = stored(engine)
            .into_iter()
            .find(|stored| stored.generation == generation)
            .map_or(0, |stored| stored.bytes);
        self.record_sized(generation, bytes, change);
    }

    /// [`History::record`] for a generation whose file holds `bytes` (0: not on disk).
    fn record_sized(&self, generation: u64, bytes: u64, change: String) {
        let note = GenerationNote {
            generation,
            published_unix_ms: unix_ms(SystemTime::now()),
            bytes,
            change: Some(change),
            on_disk: bytes > 0,
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = &self.dir {
            if let Err(error) = append(&dir.join(HISTORY_FILE), &note) {
                tracing::warn!(%error, generation, "cannot write the generation's change note");
            }
        }
        written.push(note);
    }

    /// Every known generation of `engine`, newest first, at most [`MAX_LISTED`]: the notes,
    /// merged with the generation files on disk; `current` (of `current_bytes`, as the caller
    /// read them from the engine's stats) is always listed.
    pub fn list(&self, engine: &Engine, current: u64, current_bytes: u64) -> Vec<GenerationNote> {
        self.merge(current, current_bytes, &stored(engine))
    }

    /// The notes merged with the generations `stored` on disk and the `current` one.
    fn merge(
        &self,
        current: u64,
        current_bytes: u64,
        stored: &[StoredGeneration],
    ) -> Vec<GenerationNote> {
        let mut notes: std::collections::BTreeMap<u64, GenerationNote> = Default::default();
        let written = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let from_file = self
            .dir
            .as_deref()
            .map(|dir| read_notes(&dir.join(HISTORY_FILE)))
            .unwrap_or_default();
        for note in from_file.into_iter().chain(written) {
            notes.insert(note.generation, note);
        }
        for note in notes.values_mut() {
            note.on_disk = false;
        }
        for file in stored {
            let note = notes.entry(file.generation).or_insert(GenerationNote {
                generation: file.generation,
                published_unix_ms: file.modified.map_or(0, unix_ms),
                bytes: file.bytes,
                change: None,
                on_disk: true,
            });
            note.on_disk = true;
            note.bytes = file.bytes;
        }
        notes.entry(current).or_insert(GenerationNote {
            generation: current,
            published_unix_ms: 0,
            bytes: current_bytes,
            change: None,
            on_disk: self.dir.is_some(),
        });
        notes.into_values().rev().take(MAX_LISTED).collect()
    }
}

/// The generation files of `engine`'s directory; an unreadable directory lists none (the
/// history then shows the notes and the current generation only).
fn stored(engine: &Engine) -> Vec<StoredGeneration> {
    engine.stored_generations().unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot list the snapshot directory's generations");
        Vec::new()
    })
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn append(path: &Path, note: &GenerationNote) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(note).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}

/// The notes of `path`; a line that does not parse (a crash mid-append) is skipped and logged.
fn read_notes(path: &Path) -> Vec<GenerationNote> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .filter_map(
            |(i, line)| match serde_json::from_str::<GenerationNote>(line) {
                Ok(note) => Some(note),
                Err(error) => {
                    tracing::warn!(file = %path.display(), line = i + 1, %error, "skipping an unreadable change note");
                    None
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(generation: u64, bytes: u64) -> StoredGeneration {
        StoredGeneration {
            generation,
            bytes,
            modified: Some(SystemTime::now()),
        }
    }

    #[test]
    fn notes_merge_with_generation_files_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stored = [on_disk(1, 5), on_disk(2, 7)];
        let history = History::new(Some(dir.path()));
        history.record_sized(2, 7, "created layer a/b".into());
        // A torn last line from a crash is skipped, not fatal.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(HISTORY_FILE))
            .expect("open");
        file.write_all(b"{\"generation\": 3, \"publ")
            .expect("write");

        let listed = History::new(Some(dir.path())).merge(2, 7, &stored);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!(listed[0].generation, 2);
        assert_eq!(listed[0].change.as_deref(), Some("created layer a/b"));
        assert_eq!(listed[0].bytes, 7);
        assert!(listed[0].on_disk);
        assert_eq!(listed[1].generation, 1);
        assert_eq!(listed[1].change, None);
        assert_eq!(listed[1].bytes, 5);
    }

    #[test]
    fn without_a_directory_the_history_is_what_this_process_wrote() {
        let history = History::new(None);
        assert_eq!(history.merge(4, 10, &[])[0].change, None);
        history.record_sized(5, 0, "deleted layer a/b".into());
        let listed = history.merge(5, 10, &[]);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].change.as_deref(), Some("deleted layer a/b"));
        assert!(!listed[0].on_disk);
    }
}
