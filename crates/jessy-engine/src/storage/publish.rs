//! Publishing generations atomically, reading the manifest, and collecting unused files.
//!
//! A snapshot directory holds write-once generation files `gen-<N>.snap` and one manifest,
//! `CURRENT`, naming the published generation. Publishing generation N:
//!
//! 1. take the directory's publish lock (`LOCK`, an OS file lock: one publish at a time, across
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
//! ## One writer per directory
//!
//! `LOCK` serializes single publishes, but a writer that publishes from state it read earlier
//! (an engine applying a layer write to the generation it loaded) must also be the only writer
//! for as long as it holds that state, or it publishes over generations it never saw. So a
//! writing engine holds a second lock for its whole lifetime: an exclusive OS lock on `OWNER`
//! ([`lock_directory`]). A separate file is needed because OS file locks belong to an open
//! file description: the owner's publishes take `LOCK` from the same process while it holds
//! `OWNER`. One-shot publishers that start from their own source (`jessy build --out`) take
//! `OWNER` *shared* and without waiting ([`lock_writer`]), so they can run side by side with
//! each other but never into a directory an engine owns, and an engine cannot claim a
//! directory while one of them is publishing into it.
//!
//! ## A directory without a manifest
//!
//! Jessy never deletes `CURRENT`, so generation files without a manifest mean the directory
//! was damaged or edited by hand. It is never treated as empty: [`recover_manifest`] re-publishes
//! the manifest of the newest generation file that validates completely (see its docs for why
//! that loses no acknowledged write), and refuses when none does.
//!
//! Readers in other processes may still map a file step 6 deletes: on Unix a deleted file stays
//! readable through existing maps, and a reader that lost the race between reading `CURRENT`
//! and opening the file it names retries with the new manifest ([`read_current`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{Corruption, OpenError};
use super::format::*;
use super::snapshot::{check_footer, Snapshot};
use super::Generation;

/// File name of the manifest.
pub const MANIFEST: &str = "CURRENT";
const MANIFEST_TMP: &str = "CURRENT.tmp";
const LOCK: &str = "LOCK";
/// File name of the owner lock a writing engine holds for its lifetime.
pub const OWNER: &str = "OWNER";

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
    /// A one-shot publish (`jessy build --out`) into a directory a running engine owns: its
    /// next write would publish over this generation, so nothing is written.
    #[error("{}: the snapshot directory is owned by a running jessy-core or engine (it holds {}); stop it before building into this directory, or build elsewhere", dir.display(), dir.join(OWNER).display())]
    Locked {
        /// The snapshot directory.
        dir: PathBuf,
    },
    /// The store was opened read-only, so it does not own the directory and may not publish.
    #[error("{}: opened read-only; only the engine that owns the directory may publish", dir.display())]
    ReadOnly {
        /// The snapshot directory.
        dir: PathBuf,
    },
    /// `CURRENT` names another generation than the one this writer built on: someone
    /// published behind the owner's back (possible only where OS file locks do not work, such
    /// as some network filesystems). Publishing now would drop their generation, so nothing is
    /// written.
    #[error("{}: CURRENT names generation {found}, but this writer built on generation {expected}; another process published into the directory", dir.display())]
    Conflict {
        /// The snapshot directory.
        dir: PathBuf,
        /// The generation this writer holds.
        expected: u64,
        /// The generation `CURRENT` names.
        found: u64,
    },
}

/// A filesystem error and the path it happened on; both error types of this module convert
/// from it.
#[derive(Debug)]
pub struct IoAt {
    path: PathBuf,
    source: std::io::Error,
}

impl IoAt {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> IoAt + '_ {
        move |source| IoAt {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<IoAt> for PublishError {
    fn from(e: IoAt) -> PublishError {
        PublishError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl From<IoAt> for OpenError {
    fn from(e: IoAt) -> OpenError {
        OpenError::Io {
            path: e.path,
            source: e.source,
        }
    }
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

/// Holds a one-shot publisher's locks until dropped: `OWNER` shared, `LOCK` exclusive.
pub struct WriterLock {
    _owner: File,
    _publish: PublishLock,
}

/// Holds the directory's publish lock (`LOCK`) until dropped.
pub struct PublishLock {
    _file: File,
}

/// Holds the directory's owner lock (`OWNER`, exclusive) until dropped: while it lives, no
/// other engine can open the directory for writing and no one-shot publisher can publish
/// into it. Taken by [`super::Store::open`] for the lifetime of a writing store.
#[derive(Debug)]
pub struct DirectoryLock {
    _file: File,
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Takes the exclusive owner lock of `dir` without waiting: [`OpenError::Locked`] when a
/// writing engine (in this process or another) or a one-shot publisher holds it.
pub fn lock_directory(dir: &Path) -> Result<DirectoryLock, OpenError> {
    let path = dir.join(OWNER);
    let file = open_lock_file(&path).map_err(IoAt::at(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(DirectoryLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(OpenError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(OpenError::Io { path, source }),
    }
}

/// Takes the publish lock of `dir` (blocking until the current publish finishes). For the
/// owner of the directory, which already holds [`DirectoryLock`].
pub fn lock_publish(dir: &Path) -> Result<PublishLock, IoAt> {
    let path = dir.join(LOCK);
    let file = open_lock_file(&path).map_err(IoAt::at(&path))?;
    file.lock().map_err(IoAt::at(&path))?;
    Ok(PublishLock { _file: file })
}

/// Takes a one-shot publisher's locks on `dir`: `OWNER` shared without waiting
/// ([`PublishError::Locked`] when an engine owns the directory), then the publish lock
/// (blocking until the current publish finishes).
pub fn lock_writer(dir: &Path) -> Result<WriterLock, PublishError> {
    let path = dir.join(OWNER);
    let owner = open_lock_file(&path).map_err(IoAt::at(&path))?;
    match owner.try_lock_shared() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(PublishError::Locked {
                dir: dir.to_path_buf(),
            })
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(PublishError::Io { path, source }),
    }
    Ok(WriterLock {
        _owner: owner,
        _publish: lock_publish(dir)?,
    })
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

/// A generation file found in a directory: what a listing of its history needs, without
/// the caller knowing how generation files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredGeneration {
    /// The generation number.
    pub generation: u64,
    /// Size of its file in bytes.
    pub bytes: u64,
    /// The file's modification time (when it was written: files are never rewritten), when
    /// the file system reports one.
    pub modified: Option<std::time::SystemTime>,
}

/// Every generation file in `dir`, by increasing generation. A file that vanishes while it is
/// listed (collected by a concurrent publish) is left out.
pub fn stored_generations(dir: &Path) -> std::io::Result<Vec<StoredGeneration>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(generation) = entry.file_name().to_str().and_then(parse_generation_file) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        out.push(StoredGeneration {
            generation,
            bytes: meta.len(),
            modified: meta.modified().ok(),
        });
    }
    out.sort_unstable_by_key(|g| g.generation);
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
    publish_locked_from(dir, 0, encode, verify)
}

/// [`publish_locked`], with the generation number at least `at_least`: a replica publishing
/// a generation another process numbered keeps that number whenever the directory allows it.
pub fn publish_locked_from(
    dir: &Path,
    at_least: u64,
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
    let generation = (existing.last().copied().unwrap_or(0).max(current) + 1).max(at_least);
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
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// Makes `manifest` the directory's `CURRENT`, durably: written to `CURRENT.tmp` and fsync'd,
/// renamed over `CURRENT`, the directory fsync'd. The caller holds the publish lock.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), IoAt> {
    let tmp = dir.join(MANIFEST_TMP);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(IoAt::at(&tmp))?;
    f.write_all(&manifest.encode()).map_err(IoAt::at(&tmp))?;
    f.sync_all().map_err(IoAt::at(&tmp))?;
    drop(f);
    let current_path = dir.join(MANIFEST);
    fs::rename(&tmp, &current_path).map_err(IoAt::at(&current_path))?;
    sync_directory(dir).map_err(IoAt::at(dir))?;
    Ok(())
}

/// What opening a directory that had lost its `CURRENT` manifest did: which generation was
/// re-published (the newest generation file that validates completely; nothing is deleted),
/// and which newer files were passed over and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The snapshot directory.
    pub dir: PathBuf,
    /// The generation `CURRENT` names now.
    pub generation: u64,
    /// Its file name.
    pub file: String,
    /// Newer generation files that did not validate: `(file name, what is wrong)`. They are
    /// left in place (the next publish collects them).
    pub skipped: Vec<(String, String)>,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the CURRENT manifest was missing; recovered generation {} from {}, the newest generation file that validates completely",
            self.dir.display(),
            self.generation,
            self.file
        )?;
        for (file, problem) in &self.skipped {
            write!(f, "; skipped {file}: {problem}")?;
        }
        Ok(())
    }
}

/// Re-publishes the manifest of a directory that has generation files but no `CURRENT`.
///
/// The generation files are tried newest first; the first whose `load` (full validation: every
/// storage check and the layers' own, exactly as a reader opens it) succeeds and whose
/// contents hold the generation its name says is named in a new `CURRENT`. Nothing is deleted
/// or rewritten. Returns the loaded generation with what was done, or
/// [`OpenError::Unrecoverable`] listing why each file failed, when none validates.
///
/// Why the newest complete file loses no acknowledged write: a generation is acknowledged only
/// after its file was fsync'd *and* `CURRENT` named it, files are never modified, and every
/// publish picks a number above every file present. So the last acknowledged generation is
/// the newest complete file, unless a later publish crashed after fsyncing its file and
/// before renaming the manifest; recovering that one brings back a write whose client got an
/// error, never loses one that got a success.
///
/// The caller owns the directory ([`lock_directory`]); the publish lock is taken here.
pub fn recover_manifest<G: Generation>(dir: &Path) -> Result<(G, Recovery), OpenError> {
    let _lock = lock_publish(dir)?;
    let files = generation_files(dir).map_err(IoAt::at(dir))?;
    let mut skipped = Vec::new();
    for &number in files.iter().rev() {
        let file = generation_file(number);
        let problem = match Snapshot::open(&dir.join(&file)).and_then(G::load) {
            Ok(loaded) => {
                let snapshot = loaded.snapshot();
                let generation = snapshot.generation();
                if generation == number {
                    let manifest = Manifest {
                        generation,
                        file: file.clone(),
                        data_len: snapshot.len_bytes() as u64,
                        data_crc: snapshot.stored_crc(),
                    };
                    write_manifest(dir, &manifest)?;
                    let recovery = Recovery {
                        dir: dir.to_path_buf(),
                        generation,
                        file,
                        skipped,
                    };
                    return Ok((loaded, recovery));
                }
                format!("holds generation {generation}, not {number}")
            }
            Err(e) => e.to_string(),
        };
        skipped.push((file, problem));
    }
    Err(OpenError::Unrecoverable {
        dir: dir.to_path_buf(),
        problems: skipped,
    })
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
