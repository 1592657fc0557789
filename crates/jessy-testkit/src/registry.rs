//! Snapshot directories holding jessy-core's embedded default registry.
//!
//! Building the default registry trains a model; it is done once per test binary into a
//! template directory, and every test gets a copy of the template's files instead.

use std::path::Path;
use std::sync::OnceLock;

/// The template, built on first use. It lives as long as the test binary (statics are never
/// dropped, so it stays in the temp directory afterwards, a few MB).
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            jessy_core::load_engine(dir.path()).expect("default registry builds");
            dir
        })
        .path()
}

/// A fresh temp snapshot directory with the default registry in it, removed on drop.
/// Blocking (the first call builds the template): in async code, call it through
/// `tokio::task::spawn_blocking` when other tasks must keep running meanwhile.
pub fn prepared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(template()).expect("template readable") {
        let entry = entry.expect("template entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name()))
                .expect("copy snapshot file");
        }
    }
    dir
}
