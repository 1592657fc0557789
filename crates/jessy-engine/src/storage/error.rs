//! Storage errors: each names the file and says what was expected and what was found.

use std::path::PathBuf;

/// Why a snapshot could not be opened or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The directory has no published generation (no `CURRENT`).
    #[error("{}: no published snapshot (missing CURRENT manifest); build one with `jessy build`", dir.display())]
    NoSnapshot {
        /// The snapshot directory.
        dir: PathBuf,
    },
    /// Another writer owns the directory: a running jessy-core or engine (in this process or
    /// another) holds its `OWNER` lock. One writer per directory, or a writer publishing from
    /// stale state would drop acknowledged writes.
    #[error("{}: the snapshot directory is already owned by a running jessy-core or engine (it holds {}); one writer per directory: stop the other one, give each core its own directory, or open this one read-only", dir.display(), dir.join(super::publish::OWNER).display())]
    Locked {
        /// The snapshot directory.
        dir: PathBuf,
    },
    /// The directory holds generation files but no `CURRENT` manifest, and none of the files
    /// validates, so there is nothing safe to recover. Nothing was changed.
    #[error("{}: missing CURRENT manifest and no generation file validates ({}); nothing was changed — restore the directory from a backup or rebuild it with `jessy build`", dir.display(), problems.iter().map(|(file, problem)| format!("{file}: {problem}")).collect::<Vec<_>>().join("; "))]
    Unrecoverable {
        /// The snapshot directory.
        dir: PathBuf,
        /// Each generation file, newest first, with why it failed.
        problems: Vec<(String, String)>,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's contents are not a valid snapshot file.
    #[error("{}: corrupt snapshot file: {problem}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: Corruption,
    },
}

/// What exactly is wrong with a snapshot file.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum Corruption {
    /// The file is shorter than its fixed parts.
    #[error("file is {len} bytes, too short for a header and footer (truncated?)")]
    TooShort {
        /// Actual length.
        len: u64,
    },
    /// The magic bytes are wrong: not a Jessy file, or the wrong kind of Jessy file.
    #[error("bad magic {found:?}, expected {expected:?} (not a Jessy snapshot file?)")]
    BadMagic {
        /// Expected magic.
        expected: String,
        /// Found bytes, lossily.
        found: String,
    },
    /// Written by another format version.
    #[error("format version {found}, this build reads versions {oldest} to {expected}")]
    Version {
        /// Newest supported version (the one this build writes).
        expected: u32,
        /// Oldest supported version.
        oldest: u32,
        /// Found version.
        found: u32,
    },
    /// The length recorded in the file differs from the real length.
    #[error("file is {actual} bytes but records {recorded} (truncated or appended to)")]
    Length {
        /// Length recorded in the header/footer/manifest.
        recorded: u64,
        /// Actual length.
        actual: u64,
    },
    /// The checksum does not match the contents.
    #[error("CRC32 mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// A structural check failed: an offset, length, index or value is out of range.
    #[error("{0}")]
    Structure(String),
}
