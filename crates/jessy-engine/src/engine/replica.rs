//! The engine as a cluster replica: the entry points a cluster needs, with no network code.
//!
//! In a cluster the next generation is built by one core and installed by all of them, so a
//! layer write splits in two: [`Engine::prepare_upsert`] / [`Engine::prepare_delete`] build
//! the next generation's bytes from the current generation without publishing them (the
//! caller stores them in the cluster first), and [`Engine::install`] publishes verified bytes
//! — built here or downloaded — into the local directory with the existing atomic publish and
//! swaps them in. [`Engine::open_or_adopt`] lets a core joining a cluster start from the
//! cluster's generation instead of building the default registry.

use std::path::Path;
use std::sync::Arc;

use super::{Engine, EngineError, WriteError};
use crate::build::BuildError;
use crate::registry::{DimensionSource, LayerSource, Registry};
use crate::storage::{self, publish, PublishError};

/// A generation built but not published: what a cluster stores before any core serves it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The number inside the bytes (the caller chose it).
    pub generation: u64,
    /// The complete generation file, verified exactly as a reader will open it.
    pub bytes: Vec<u8>,
    /// For an upsert: whether the layer is new.
    pub created: bool,
}

/// Errors from installing a generation built elsewhere, or reading the current one's bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The bytes are not a valid generation, or publishing them failed; the previous
    /// generation is still current.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The current generation's file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The generation file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Engine {
    /// Opens `dir` for writing like [`Engine::open_or_init_default`], except that a directory
    /// holding no snapshot is filled with `adopt` (a complete generation file, typically the
    /// cluster's current generation) when given, instead of building the default registry.
    pub fn open_or_adopt(dir: &Path, adopt: Option<&[u8]>) -> Result<Engine, EngineError> {
        let Some(bytes) = adopt else {
            return Engine::open_or_init_default(dir);
        };
        Engine::open_or_fill(dir, |empty| {
            Ok(empty.publish_first_bytes(bytes).map_err(BuildError::from)?)
        })
    }

    /// Whether `dir` holds a snapshot (a manifest or a generation file), i.e. whether opening
    /// it would serve its own data rather than fill it.
    pub fn holds_snapshot(dir: &Path) -> bool {
        publish::read_current(dir).is_ok()
            || publish::generation_files(dir).is_ok_and(|files| !files.is_empty())
    }

    /// The bytes of the current generation's file, as published (what a cluster is seeded
    /// with). Reads the file; the current generation's file is never collected.
    pub fn current_bytes(&self) -> Result<Vec<u8>, InstallError> {
        let registry = self.registry();
        let path = registry.path().to_path_buf();
        std::fs::read(&path).map_err(|source| InstallError::Read { path, source })
    }

    /// [`Engine::current_bytes`] numbered as `generation` (restamped when the file holds
    /// another number, and verified again): what `jessy cluster push` stores as the cluster's
    /// next generation.
    pub fn current_bytes_as(&self, generation: u64) -> Result<Vec<u8>, InstallError> {
        let bytes = self.current_bytes()?;
        if storage::replica::generation_of(&bytes).map_err(PublishError::from)? == generation {
            return Ok(bytes);
        }
        let renumbered =
            storage::replica::restamp(&bytes, generation).map_err(PublishError::from)?;
        storage::verify::<Registry>(&renumbered, Path::new("<renumbered generation>"))
            .map_err(PublishError::from)?;
        Ok(renumbered)
    }

    /// Builds generation `generation`: the current generation with layer `layer.id` of
    /// `dimension` created or replaced. Nothing is published.
    pub fn prepare_upsert(
        &self,
        dimension: &str,
        layer: LayerSource,
        generation: u64,
    ) -> Result<Prepared, WriteError> {
        let mut created = false;
        let bytes = self.prepare(dimension, generation, |dim| {
            created = super::write::put_layer(dim, layer);
            Ok(())
        })?;
        Ok(Prepared {
            generation,
            bytes,
            created,
        })
    }

    /// Builds generation `generation`: the current generation without layer `layer` of
    /// `dimension`. Nothing is published.
    pub fn prepare_delete(
        &self,
        dimension: &str,
        layer: &str,
        generation: u64,
    ) -> Result<Prepared, WriteError> {
        let bytes = self.prepare(dimension, generation, |dim| {
            super::write::remove_layer(dim, layer)
        })?;
        Ok(Prepared {
            generation,
            bytes,
            created: false,
        })
    }

    /// The build half of a layer write (`Engine::compile_change`, shared with local writes),
    /// encoded as `generation` and verified; nothing is published.
    fn prepare(
        &self,
        dimension: &str,
        generation: u64,
        change: impl FnOnce(&mut DimensionSource) -> Result<(), WriteError>,
    ) -> Result<Vec<u8>, WriteError> {
        let mut warm = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut compiled = self.compile_change(&warm, dimension, change)?;
        let bytes = compiled.encode(generation);
        storage::verify::<Registry>(&bytes, Path::new("<prepared generation>"))
            .map_err(PublishError::from)?;
        // Kept even if the caller's publication fails: duals are only a starting point, keyed
        // by what they belong to (see `build::warm`), so they are safe for any next build.
        *warm = Some(Arc::new(compiled.take_warm_start()));
        Ok(bytes)
    }

    /// Publishes `bytes` (a complete generation file built by any core) into this engine's
    /// directory and makes it current; returns the local generation number (the one in the
    /// bytes, unless the directory was ahead of it: see `storage::replica`). Queries running
    /// meanwhile finish on the generation they hold.
    pub fn install(&self, bytes: &[u8]) -> Result<u64, InstallError> {
        let _writer = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let published = self.store.publish_replica(bytes)?;
        Ok(published.generation())
    }
}
