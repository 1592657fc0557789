//! The `jessy` binary as a user runs it.

use std::path::Path;
use std::process::Command;

fn jessy_query(cache: &Path, text: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_jessy"))
        .args(["query", "--json", text])
        .env("XDG_CACHE_HOME", cache)
        .env_remove("HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cached_snapshots(cache: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache.join("jessy"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("CURRENT").exists())
                .collect()
        })
        .unwrap_or_default()
}

/// `jessy query` without `--registry` builds the default snapshot once, into the user's cache,
/// and maps it from there on every later run instead of training a model per process.
#[test]
fn query_without_a_registry_builds_the_default_snapshot_once() {
    let cache = tempfile::tempdir().unwrap();
    let first = jessy_query(cache.path(), "I'm so anxious about my exam tomorrow");
    let cached = cached_snapshots(cache.path());
    assert_eq!(cached.len(), 1, "one cached default snapshot: {cached:?}");
    let files = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        names
    };
    let before = files(&cached[0]);
    let second = jessy_query(cache.path(), "I'm so anxious about my exam tomorrow");
    assert_eq!(
        files(&cached[0]),
        before,
        "the second run published nothing"
    );
    assert_eq!(first["outcome"], "matched");
    assert_eq!(first["dimensions"], second["dimensions"]);
    assert_eq!(first["generation"], second["generation"]);
}

/// A cache that is damaged is rebuilt, never served and never an error for the user.
#[test]
fn a_corrupt_default_cache_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    jessy_query(cache.path(), "help me plan my week");
    let dir = cached_snapshots(cache.path()).remove(0);
    std::fs::write(dir.join("CURRENT"), b"garbage").unwrap();
    let again = jessy_query(cache.path(), "help me plan my week");
    assert_eq!(again["outcome"], "matched");
    assert_eq!(cached_snapshots(cache.path()).len(), 1);
}
