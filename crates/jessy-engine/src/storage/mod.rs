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

pub mod error;
pub mod format;
mod mmap;
pub mod publish;
pub mod snapshot;
#[cfg(test)]
mod tests;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use arc_swap::ArcSwap;

pub use error::{Corruption, OpenError};
pub use format::{ModelMeta, ModelSections};
pub use publish::PublishError;
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
pub struct Store<G: Generation = Snapshot> {
    dir: Option<PathBuf>,
    current: ArcSwap<G>,
    /// Every generation handed out, so garbage collection spares the ones readers still hold.
    handed_out: Mutex<Vec<Weak<G>>>,
}

impl<G: Generation> Store<G> {
    /// Opens the published generation of `dir`.
    pub fn open(dir: &Path) -> Result<Store<G>, OpenError> {
        Ok(Store::with_current(Some(dir), open_current(dir)?))
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
            handed_out: Mutex::new(vec![Arc::downgrade(&generation)]),
            current: ArcSwap::new(generation),
        }
    }

    /// The directory, if the store is on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The current generation. Cheap (an atomic load and a reference-count increment); the
    /// returned generation stays valid however many generations are published after it.
    pub fn current(&self) -> Arc<G> {
        self.current.load_full()
    }

    /// Publishes a new generation built by `encode(generation_number)` and makes it current.
    ///
    /// The bytes are validated exactly as a reader would (storage checks and
    /// [`Generation::load`]) before anything touches the disk. Concurrent publishers (threads
    /// or processes) are serialized by the directory lock.
    pub fn publish(&self, encode: impl FnOnce(u64) -> Vec<u8>) -> Result<Arc<G>, PublishError> {
        let generation = match &self.dir {
            None => {
                let number = self.current().snapshot().generation() + 1;
                let snapshot = Snapshot::from_bytes(&encode(number), Path::new("<memory>"))?;
                Arc::new(G::load(snapshot)?)
            }
            Some(dir) => {
                let _lock = publish::lock_writer(dir)?;
                publish::publish_locked(dir, encode, verify::<G>)?;
                Arc::new(open_current(dir)?)
            }
        };
        self.current.store(generation.clone());
        {
            let mut handed_out = self.handed_out.lock().unwrap_or_else(|e| e.into_inner());
            handed_out.retain(|w| w.strong_count() > 0);
            handed_out.push(Arc::downgrade(&generation));
        }
        self.collect_garbage();
        Ok(generation)
    }

    /// Removes generation files that are neither current nor held by a reader of this process.
    /// Returns the generations removed.
    pub fn collect_garbage(&self) -> Vec<u64> {
        let Some(dir) = &self.dir else {
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
