//! Storage: the MMAP Manager, MMAP Regions and snapshot generations — the engine's floor.
//!
//! - [`format`]: the byte layout (records, sections, footer).
//! - [`mmap`]: mapping files and zero-copy `&str` views (`unsafe`, as is only the vector
//!   kernel in `model::simd`).
//! - [`snapshot`]: opening = validating one generation file; typed views into it.
//! - [`writer`]: laying out a compiled registry as a generation file.
//! - [`publish`]: write-once files, atomic manifest publish, garbage collection.
//!
//! [`Store`] ties them together: it holds the current generation behind an atomic pointer so
//! readers never block, keeps generations alive while any reader holds them (reference
//! counted), and publishes new ones crash-safely.
//!
//! Storage stores and validates bytes and records; it knows nothing of routing. What a layer
//! above needs checked or derived on open (the model's invariants, its lookup tables) it does
//! in its [`Generation::load`], which the store runs on every generation it opens or publishes.

pub(crate) mod error;
pub mod format;
mod mmap;
pub mod publish;
pub(crate) mod replica;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

pub use error::{Corruption, OpenError};
pub use format::{ModelMeta, ModelSections};
pub use publish::{DirectoryLock, PublishError, Recovery, StoredGeneration};
pub use snapshot::Snapshot;
pub use writer::{DimensionData, LayerData, SnapshotData};

/// How many times a reader re-reads `CURRENT` when the file it names vanished in between
/// (a concurrent publish collected it). Each retry sees a newer manifest, so two suffice in
/// practice; the bound keeps a pathological writer from starving a reader forever.
const OPEN_RETRIES: usize = 8;

/// Numbers describing what is mapped, for `/ready`, `/metrics` and `jessy verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// The current generation.
    pub generation: u64,
    /// Regions (sections) of the current generation.
    pub regions: usize,
    /// Bytes of the current generation's file.
    pub mapped_bytes: u64,
    /// Generations still held by readers in this process, current included.
    pub live_generations: usize,
}

/// What a store holds per generation: a validated [`Snapshot`], plus whatever the layer above
/// checks and derives from it when it is opened (a snapshot that fails `load` is refused like
/// a corrupt file, and is never published).
pub trait Generation: Sized + Send + Sync + 'static {
    /// Checks and wraps an opened snapshot.
    fn load(snapshot: Snapshot) -> Result<Self, OpenError>;
    /// The snapshot underneath.
    fn snapshot(&self) -> &Snapshot;
}

impl Generation for Snapshot {
    fn load(snapshot: Snapshot) -> Result<Snapshot, OpenError> {
        Ok(snapshot)
    }

    fn snapshot(&self) -> &Snapshot {
        self
    }
}

/// The MMAP Manager: the current snapshot generation of a directory (or of memory).
///
/// A store on disk either owns its directory ([`Store::open`], [`Store::claim`]: it holds the
/// directory's owner lock for its lifetime and is the only one that may publish there) or
/// only reads it ([`Store::open_read_only`]: never publishes, never deletes a file).
pub struct Store<G: Generation = Snapshot> {
    dir: Option<PathBuf>,
    /// The directory's owner lock, for a writing store on disk.
    owner: Option<DirectoryLock>,
    current: ArcSwap<G>,
    /// Every generation handed out, so garbage collection spares the ones readers still hold.
    handed_out: Mutex<Vec<Weak<G>>>,
}

/// What [`Store::claim`] found in a directory it now owns.
pub enum Claimed<G: Generation> {
    /// The generation `CURRENT` names.
    Opened(Store<G>),
    /// There was no `CURRENT` but there were generation files: the newest one that validates
    /// was re-published ([`publish::recover_manifest`]). The caller should say so loudly.
    Recovered(Store<G>, Recovery),
    /// Neither a manifest nor a generation file: the directory may be filled
    /// ([`EmptyDir::publish_first`]).
    Empty(EmptyDir),
}

/// A directory this process owns that holds no snapshot yet (other files are left alone).
pub struct EmptyDir {
    dir: PathBuf,
    owner: DirectoryLock,
}

impl EmptyDir {
    /// Publishes the directory's first generation, validated as a reader of `G` will, and
    /// returns the owning store over it.
    pub fn publish_first<G: Generation>(
        self,
        encode: impl FnOnce(u64) -> Vec<u8>,
    ) -> Result<Store<G>, PublishError> {
        let generation = {
            let _lock = publish::lock_publish(&self.dir)?;
            publish::publish_locked(&self.dir, encode, verify::<G>)?;
            open_current::<G>(&self.dir)?
        };
        let store = Store::with_current(Some(&self.dir), generation);
        Ok(Store {
            owner: Some(self.owner),
            ..store
        })
    }
}

impl<G: Generation> Store<G> {
    /// Opens the published generation of `dir` for writing: takes the directory's owner lock
    /// ([`OpenError::Locked`] if another writer holds it) and keeps it while the store lives.
    /// A directory with generation files but no manifest is recovered as [`Store::claim`]
    /// does; one without either is [`OpenError::NoSnapshot`].
    // The engine goes through `claim` (it reports a recovery); tests and `internals` users
    // open with this.
    #[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))]
    pub fn open(dir: &Path) -> Result<Store<G>, OpenError> {
        match Store::claim(dir)? {
            Claimed::Opened(store) | Claimed::Recovered(store, _) => Ok(store),
            Claimed::Empty(_) => Err(OpenError::NoSnapshot {
                dir: dir.to_path_buf(),
            }),
        }
    }

    /// Opens the published generation of `dir` without owning it: no lock, and
    /// [`Store::publish`] is refused. For readers (`jessy query --registry`, `jessy eval`)
    /// that may run beside the core that owns the directory.
    pub fn open_read_only(dir: &Path) -> Result<Store<G>, OpenError> {
        Ok(Store::with_current(Some(dir), open_current(dir)?))
    }

    /// Takes ownership of `dir` (an existing directory) and says what is in it: the published
    /// generation, a recovered one (generation files but no `CURRENT`), or nothing yet.
    ///
    /// Fails with [`OpenError::Locked`] when another writer owns the directory, with the
    /// usual open errors when `CURRENT` or the file it names is corrupt (never replaced), and
    /// with [`OpenError::Unrecoverable`] when there are generation files, no manifest, and
    /// none of the files validates.
    pub fn claim(dir: &Path) -> Result<Claimed<G>, OpenError> {
        if !dir.is_dir() {
            return Err(OpenError::NoSnapshot {
                dir: dir.to_path_buf(),
            });
        }
        let owner = publish::lock_directory(dir)?;
        let owned = |generation| Store {
            owner: None,
            ..Store::with_current(Some(dir), generation)
        };
        match open_current::<G>(dir) {
            Ok(generation) => Ok(Claimed::Opened(Store {
                owner: Some(owner),
                ..owned(generation)
            })),
            Err(OpenError::NoSnapshot { .. }) => {
                let files = publish::generation_files(dir).map_err(|source| OpenError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                if files.is_empty() {
                    return Ok(Claimed::Empty(EmptyDir {
                        dir: dir.to_path_buf(),
                        owner,
                    }));
                }
                let (generation, recovery) = publish::recover_manifest::<G>(dir)?;
                Ok(Claimed::Recovered(
                    Store {
                        owner: Some(owner),
                        ..owned(generation)
                    },
                    recovery,
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// A store without a directory: the snapshot lives on the heap and publishing replaces it
    /// in memory only (nothing is durable). Used for the embedded default registry when no
    /// directory is given, and in tests.
    pub fn in_memory(bytes: &[u8]) -> Result<Store<G>, OpenError> {
        let generation = G::load(Snapshot::from_bytes(bytes, Path::new("<memory>"))?)?;
        Ok(Store::with_current(None, generation))
    }

    fn with_current(dir: Option<&Path>, generation: G) -> Store<G> {
        let generation = Arc::new(generation);
        Store {
            dir: dir.map(Path::to_path_buf),
            owner: None,
            handed_out: Mutex::new(vec![Arc::downgrade(&generation)]),
            current: ArcSwap::new(generation),
        }
    }

    /// The directory, if the store is on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether this store may publish: it is in memory, or it owns its directory.
    pub fn is_writable(&self) -> bool {
        self.dir.is_none() || self.owner.is_some()
    }

    /// The current generation. Cheap (an atomic load and a reference-count increment); the
    /// returned generation stays valid however many generations are published after it.
    pub fn current(&self) -> Arc<G> {
        self.current.load_full()
    }

    /// Publishes a new generation built by `encode(generation_number)` and makes it current.
    ///
    /// The bytes are validated exactly as a reader would (storage checks and
    /// [`Generation::load`]) before anything touches the disk. Only a store that owns its
    /// directory publishes ([`PublishError::ReadOnly`] otherwise); concurrent publishes from
    /// its threads are serialized by the directory's publish lock, and one that finds
    /// `CURRENT` naming another generation than this store's current one is refused
    /// ([`PublishError::Conflict`]) rather than published over it.
    pub fn publish(&self, encode: impl FnOnce(u64) -> Vec<u8>) -> Result<Arc<G>, PublishError> {
        let generation = match &self.dir {
            None => {
                let number = self.current().snapshot().generation() + 1;
                let snapshot = Snapshot::from_bytes(&encode(number), Path::new("<memory>"))?;
                Arc::new(G::load(snapshot)?)
            }
            Some(dir) => {
                let _lock = self.lock_for_publish(dir)?;
                publish::publish_locked(dir, encode, verify::<G>)?;
                Arc::new(open_current(dir)?)
            }
        };
        Ok(self.swap_in(generation))
    }

    /// Takes the directory's publish lock for a publish over this store's current generation:
    /// only the owner publishes ([`PublishError::ReadOnly`]), and a `CURRENT` naming another
    /// generation than this store's is refused ([`PublishError::Conflict`]).
    fn lock_for_publish(&self, dir: &Path) -> Result<publish::PublishLock, PublishError> {
        if self.owner.is_none() {
            return Err(PublishError::ReadOnly {
                dir: dir.to_path_buf(),
            });
        }
        let lock = publish::lock_publish(dir)?;
        let expected = self.current().snapshot().generation();
        let found = publish::read_current(dir)?.generation;
        if found != expected {
            return Err(PublishError::Conflict {
                dir: dir.to_path_buf(),
                expected,
                found,
            });
        }
        Ok(lock)
    }

    /// Makes a just-published `generation` current, remembers it among the generations handed
    /// out (so garbage collection spares it while readers hold it), and collects garbage.
    fn swap_in(&self, generation: Arc<G>) -> Arc<G> {
        self.current.store(generation.clone());
        {
            let mut handed_out = self.handed_out.lock().unwrap_or_else(|e| e.into_inner());
            handed_out.retain(|w| w.strong_count() > 0);
            handed_out.push(Arc::downgrade(&generation));
        }
        self.collect_garbage();
        generation
    }

    /// Removes generation files that are neither current nor held by a reader of this process.
    /// Returns the generations removed. Only the owner of the directory collects; a read-only
    /// store removes nothing.
    pub fn collect_garbage(&self) -> Vec<u64> {
        let (Some(dir), Some(_)) = (&self.dir, &self.owner) else {
            return Vec::new();
        };
        let in_use = self.live_generations();
        publish::collect_garbage(dir, self.current().snapshot().generation(), &in_use)
    }

    fn live_generations(&self) -> Vec<u64> {
        let mut handed_out = self.handed_out.lock().unwrap_or_else(|e| e.into_inner());
        handed_out.retain(|w| w.strong_count() > 0);
        handed_out
            .iter()
            .filter_map(|w| w.upgrade().map(|g| g.snapshot().generation()))
            .collect()
    }

    /// Generation, regions and mapped bytes.
    pub fn stats(&self) -> StoreStats {
        let current = self.current();
        let snapshot = current.snapshot();
        StoreStats {
            generation: snapshot.generation(),
            regions: snapshot.region_count(),
            mapped_bytes: snapshot.len_bytes() as u64,
            live_generations: self.live_generations().len(),
        }
    }
}

/// Checks bytes about to be published exactly as a reader of generation type `G` will.
pub fn verify<G: Generation>(bytes: &[u8], path: &Path) -> Result<(), OpenError> {
    G::load(Snapshot::from_bytes(bytes, path)?).map(drop)
}

/// Reads `CURRENT` and opens the generation it names, checking the file against the manifest,
/// then loads it as a `G` (which runs the checks of the layers above).
///
/// This is also what `jessy verify` runs.
pub fn open_current<G: Generation>(dir: &Path) -> Result<G, OpenError> {
    let mut attempt = 0;
    loop {
        let manifest = publish::read_current(dir)?;
        let path = dir.join(&manifest.file);
        match Snapshot::open(&path) {
            Err(OpenError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && attempt < OPEN_RETRIES =>
            {
                attempt += 1;
                continue;
            }
            Err(e) => return Err(e),
            Ok(snapshot) => {
                let corrupt = |problem| OpenError::Corrupt {
                    path: path.clone(),
                    problem,
                };
                if snapshot.len_bytes() as u64 != manifest.data_len {
                    return Err(corrupt(Corruption::Length {
                        recorded: manifest.data_len,
                        actual: snapshot.len_bytes() as u64,
                    }));
                }
                if snapshot.stored_crc() != manifest.data_crc {
                    return Err(corrupt(Corruption::Checksum {
                        stored: manifest.data_crc,
                        computed: snapshot.stored_crc(),
                    }));
                }
                if snapshot.generation() != manifest.generation {
                    return Err(corrupt(Corruption::Structure(format!(
                        "file holds generation {}, manifest names {}",
                        snapshot.generation(),
                        manifest.generation
                    ))));
                }
                return G::load(snapshot);
            }
        }
    }
}
