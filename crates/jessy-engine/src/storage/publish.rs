//! Publishing generations atomically, reading the manifest, and collecting unused files.
//!
//! A snapshot directory holds write-once generation files `gen-<N>.snap` and one manifest,
//! `CURRENT`, naming the published generation. Publishing generation N:
//!
//! 1. take the directory's writer lock (`LOCK`, an OS file lock: one writer at a time, across
//!    processes; readers never take it);
//! 2. pick N greater than every generation file present, so a file left half-written by a
//!    crashed writer is never reused (`create_new` would fail on it);
//! 3. write `gen-N.snap` with `create_new`, fsync it;
//! 4. write the manifest to `CURRENT.tmp` (truncating a stale one from a crash), fsync it;
//! 5. rename `CURRENT.tmp` over `CURRENT` (atomic on POSIX), fsync the directory so the rename
//!    itself is durable;
//! 6. delete generation files that the new manifest does not name and no reader of this process
//!    still holds.
//!
//! Crash scenarios, by the step reached:
//! - before 5: `CURRENT` still names the previous generation, which was never touched; the new
//!   file (complete or not) is unreferenced and removed by a later collection.
//! - after 5: the new generation is complete (its file was fsync'd before the manifest could
//!   name it), and the manifest's CRC and length of the data file catch any mismatch.
//!
//! Readers in other processes may still map a file step 6 deletes: on Unix a deleted file stays
//! readable through existing maps, and a reader that lost the race between reading `CURRENT`
//! and opening the file it names retries with the new manifest ([`read_current`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Corruption, OpenError};
use super::format::*;
use super::snapshot::check_footer;

/// File name of the manifest.
pub const MANIFEST: &str = "CURRENT";
const MANIFEST_TMP: &str = "CURRENT.tmp";
const LOCK: &str = "LOCK";

/// Errors while publishing a generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// A filesystem operation failed; nothing was published.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The data to publish is not a valid snapshot (a bug in the caller, caught before writing).
    #[error("refusing to publish an invalid snapshot: {0}")]
    Invalid(#[from] OpenError),
}

/// Name of generation `n`'s file.
pub fn generation_file(n: u64) -> String {
    format!("gen-{n:016}.snap")
}

/// The generation number of a generation file name.
pub fn parse_generation_file(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("gen-")?.strip_suffix(".snap")?;
    (digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

/// The manifest's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Published generation.
    pub generation: u64,
    /// Its file name inside the directory.
    pub file: String,
    /// Expected length of that file.
    pub data_len: u64,
    /// Expected CRC32 of that file's body (everything before its footer).
    pub data_crc: u32,
}

impl Manifest {
    /// Encodes the manifest with its own footer.
    pub fn encode(&self) -> Vec<u8> {
        let header = ManifestHeader {
            magic: MANIFEST_MAGIC,
            version: FORMAT_VERSION,
            data_crc: self.data_crc,
            generation: self.generation,
            data_len: self.data_len,
            name_len: self.file.len() as u32,
            reserved: 0,
        };
        let mut out = bytemuck::bytes_of(&header).to_vec();
        out.extend_from_slice(self.file.as_bytes());
        let total = (out.len() + FOOTER_LEN) as u64;
        let foot = footer(&out, total);
        out.extend_from_slice(&foot);
        out
    }

    /// Decodes and checks a manifest.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, Corruption> {
        let header_len = std::mem::size_of::<ManifestHeader>();
        if bytes.len() < header_len + FOOTER_LEN {
            return Err(Corruption::TooShort {
                len: bytes.len() as u64,
            });
        }
        let header: ManifestHeader = bytemuck::pod_read_unaligned(&bytes[..header_len]);
        if header.magic != MANIFEST_MAGIC {
            return Err(Corruption::BadMagic {
                expected: String::from_utf8_lossy(&MANIFEST_MAGIC).into(),
                found: String::from_utf8_lossy(&header.magic).into(),
            });
        }
        if !readable_version(header.version) {
            return Err(Corruption::Version {
                expected: FORMAT_VERSION,
                oldest: OLDEST_READABLE_VERSION,
                found: header.version,
            });
        }
        check_footer(bytes)?;
        let name = bytes
            .get(header_len..header_len + header.name_len as usize)
            .filter(|_| header_len + header.name_len as usize + FOOTER_LEN == bytes.len())
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| {
                Corruption::Structure("manifest file name length or UTF-8 invalid".into())
            })?;
        if parse_generation_file(name) != Some(header.generation) {
            return Err(Corruption::Structure(format!(
                "manifest names {name:?}, which is not the file of generation {}",
                header.generation
            )));
        }
        Ok(Manifest {
            generation: header.generation,
            file: name.to_string(),
            data_len: header.data_len,
            data_crc: header.data_crc,
        })
    }
}

/// Reads and checks `dir/CURRENT`.
pub fn read_current(dir: &Path) -> Result<Manifest, OpenError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(OpenError::NoSnapshot {
                dir: dir.to_path_buf(),
            })
        }
        Err(source) => return Err(OpenError::Io { path, source }),
    };
    Manifest::decode(&bytes).map_err(|problem| OpenError::Corrupt { path, problem })
}

/// Holds the directory's writer lock until dropped.
pub struct WriterLock {
    _file: File,
}

/// Takes the exclusive writer lock of `dir` (blocking until the current writer finishes).
pub fn lock_writer(dir: &Path) -> Result<WriterLock, PublishError> {
    let path = dir.join(LOCK);
    let io = |source| PublishError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    file.lock().map_err(io)?;
    Ok(WriterLock { _file: file })
}

/// Every generation number that has a file in `dir`.
pub fn generation_files(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry.file_name().to_str().and_then(parse_generation_file) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Fsyncs a directory so renames and creations in it are durable.
pub fn sync_directory(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `encode(generation)` as a new generation and publishes it. The caller holds the
/// writer lock. Returns the manifest now in `CURRENT`.
pub fn publish_locked(
    dir: &Path,
    encode: impl FnOnce(u64) -> Vec<u8>,
    verify: impl FnOnce(&[u8], &Path) -> Result<(), OpenError>,
) -> Result<Manifest, PublishError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PublishError::Io { path, source }
    };
    let existing = generation_files(dir).map_err(io(dir))?;
    let current = match read_current(dir) {
        Ok(m) => m.generation,
        Err(_) => 0,
    };
    let generation = existing.last().copied().unwrap_or(0).max(current) + 1;
    let bytes = encode(generation);
    let file_name = generation_file(generation);
    let data_path = dir.join(&file_name);
    verify(&bytes, &data_path)?;

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&data_path)
        .map_err(io(&data_path))?;
    file.write_all(&bytes).map_err(io(&data_path))?;
    file.sync_all().map_err(io(&data_path))?;
    drop(file);

    let body_len = bytes.len() - FOOTER_LEN;
    let manifest = Manifest {
        generation,
        file: file_name,
        data_len: bytes.len() as u64,
        data_crc: u32::from_le_bytes(bytes[body_len..body_len + 4].try_into().expect("4 bytes")),
    };
    let tmp = dir.join(MANIFEST_TMP);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(&manifest.encode()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    let current_path = dir.join(MANIFEST);
    fs::rename(&tmp, &current_path).map_err(io(&current_path))?;
    sync_directory(dir).map_err(io(dir))?;
    Ok(manifest)
}

/// Deletes generation files other than `keep` and the ones in `in_use`. Errors are ignored:
/// a file that cannot be deleted now is retried at the next collection.
pub fn collect_garbage(dir: &Path, keep: u64, in_use: &[u64]) -> Vec<u64> {
    let mut removed = Vec::new();
    if let Ok(files) = generation_files(dir) {
        for n in files {
            if n != keep
                && !in_use.contains(&n)
                && fs::remove_file(dir.join(generation_file(n))).is_ok()
            {
                removed.push(n);
            }
        }
    }
    removed
}
