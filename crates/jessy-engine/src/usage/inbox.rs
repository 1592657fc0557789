//! The no-match inbox: queries nobody routed, kept (bounded, de-duplicated by normalized text,
//! with a count) so they can be grouped into suggested layers ([`super::suggest`]).
//!
//! It lives in memory on the query path (one short lock per no-match answer) and is saved as
//! `nomatch.jsonl` in the registry directory by whoever owns it (the core, on a timer and at
//! shutdown), so `jessy suggest --registry DIR` can read it. It is an inbox, not a ledger: a
//! crash loses at most the answers since the last save.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::fold::normalize;

/// File name of the saved inbox inside a registry directory.
pub const INBOX_FILE: &str = "nomatch.jsonl";

/// Distinct texts kept. When full, the least asked (then the oldest) half is dropped at once,
/// so eviction costs nothing on most inserts.
pub const INBOX_CAPACITY: usize = 10_000;

/// One distinct unrouted query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The text as first asked.
    pub text: String,
    /// How many times it was asked.
    pub count: u64,
    /// Recency: larger is more recent.
    #[serde(default)]
    pub seen: u64,
}

/// Errors reading or saving the inbox.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InboxError {
    /// The inbox file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The bounded, de-duplicated set of unrouted queries.
#[derive(Debug, Default)]
pub struct NoMatchInbox {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, InboxEntry>,
    clock: u64,
    dirty: bool,
}

impl NoMatchInbox {
    /// An empty inbox.
    pub fn new() -> NoMatchInbox {
        NoMatchInbox::default()
    }

    /// Records one unrouted query.
    pub fn record(&self, text: &str) {
        let key = normalize(text);
        if key.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        inner.dirty = true;
        let seen = inner.clock;
        if let Some(entry) = inner.entries.get_mut(&key) {
            entry.count += 1;
            entry.seen = seen;
            return;
        }
        if inner.entries.len() >= INBOX_CAPACITY {
            evict_half(&mut inner.entries);
        }
        inner.entries.insert(
            key,
            InboxEntry {
                text: text.trim().to_string(),
                count: 1,
                seen,
            },
        );
    }

    /// Every entry, most asked first (then most recent).
    pub fn entries(&self) -> Vec<InboxEntry> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<InboxEntry> = inner.entries.values().cloned().collect();
        sort_entries(&mut out);
        out
    }

    /// Removes the entries for `texts` (accepted into a layer).
    pub fn remove(&self, texts: &[String]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for t in texts {
            inner.entries.remove(&normalize(t));
        }
        inner.dirty = true;
    }

    /// Loads `dir/nomatch.jsonl` into this inbox (a missing file is an empty inbox).
    pub fn load(&self, dir: &Path) -> Result<(), InboxError> {
        let entries = read(dir)?;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for e in entries {
            inner.clock = inner.clock.max(e.seen);
            inner.entries.insert(normalize(&e.text), e);
        }
        Ok(())
    }

    /// Saves the inbox to `dir/nomatch.jsonl` (write a temporary file, then rename) if it
    /// changed since the last save.
    pub fn save(&self, dir: &Path) -> Result<(), InboxError> {
        let entries = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            let mut out: Vec<InboxEntry> = inner.entries.values().cloned().collect();
            sort_entries(&mut out);
            out
        };
        let path = dir.join(INBOX_FILE);
        let tmp = dir.join(format!("{INBOX_FILE}.tmp"));
        let err = |e: std::io::Error| InboxError {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut bytes = Vec::new();
        for e in &entries {
            serde_json::to_writer(&mut bytes, e).expect("entries serialize");
            bytes.push(b'\n');
        }
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&bytes).map_err(err)?;
        file.sync_data().map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}

/// Reads a saved inbox (a missing file is empty; unreadable lines are an error naming them).
pub fn read(dir: &Path) -> Result<Vec<InboxEntry>, InboxError> {
    let path = dir.join(INBOX_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(InboxError {
                path,
                message: e.to_string(),
            })
        }
    };
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let entry: InboxEntry = serde_json::from_slice(line).map_err(|e| InboxError {
            path: path.clone(),
            message: format!("line {}: {e}", i + 1),
        })?;
        out.push(entry);
    }
    sort_entries(&mut out);
    Ok(out)
}

fn sort_entries(entries: &mut [InboxEntry]) {
    entries.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.seen.cmp(&a.seen))
            .then(a.text.cmp(&b.text))
    });
}

fn evict_half(entries: &mut HashMap<String, InboxEntry>) {
    let mut ranked: Vec<(u64, u64, String)> = entries
        .iter()
        .map(|(k, e)| (e.count, e.seen, k.clone()))
        .collect();
    ranked.sort();
    for (_, _, key) in ranked.into_iter().take(entries.len() / 2) {
        entries.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_duplicates_and_survives_a_save() {
        let inbox = NoMatchInbox::new();
        inbox.record("Fix my bike");
        inbox.record("fix  my bike");
        inbox.record("what is a yak");
        inbox.record("   ");
        let entries = inbox.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].text.as_str(), entries[0].count),
            ("Fix my bike", 2)
        );
        let dir = tempfile::tempdir().unwrap();
        inbox.save(dir.path()).unwrap();
        let again = NoMatchInbox::new();
        again.load(dir.path()).unwrap();
        assert_eq!(again.entries(), entries);
        again.remove(&["FIX MY BIKE".to_string()]);
        assert_eq!(again.entries().len(), 1);
    }

    #[test]
    fn stays_bounded_keeping_the_most_asked() {
        let inbox = NoMatchInbox::new();
        for _ in 0..3 {
            inbox.record("popular question");
        }
        for i in 0..INBOX_CAPACITY + 10 {
            inbox.record(&format!("rare question {i}"));
        }
        let entries = inbox.entries();
        assert!(entries.len() <= INBOX_CAPACITY);
        assert_eq!(entries[0].text, "popular question");
    }
}
