//! Layer writes: read the current generation's source, apply the change, validate, rebuild
//! with the build path and publish the next generation. Readers keep the generation they hold.

use super::Engine;
use crate::build::{self, BuildError, BuildOptions};
use crate::registry::{self, DimensionSource, LayerSource, RegistryError};
use crate::storage::PublishError;

/// Errors from a layer write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// No such dimension.
    #[error("unknown dimension {0:?}")]
    UnknownDimension(String),
    /// No such layer (on delete).
    #[error("unknown layer {layer:?} in dimension {dimension:?}")]
    UnknownLayer {
        /// Dimension id.
        dimension: String,
        /// Layer id.
        layer: String,
    },
    /// The change would make the registry invalid; every problem is listed.
    #[error(transparent)]
    Invalid(#[from] RegistryError),
    /// Building or publishing the new generation failed; the old one is still current.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Publishing failed; the old generation is still current.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// What a layer upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    /// The generation that holds the write.
    pub generation: u64,
    /// Whether the layer is new (rather than a replacement), decided under the write lock,
    /// so it is exact even when writes to the same layer race.
    pub created: bool,
}

impl Engine {
    /// Creates or replaces layer `layer.id` of `dimension` and publishes a new generation.
    /// The layer is routable by the next query.
    pub fn upsert_layer(
        &self,
        dimension: &str,
        layer: LayerSource,
    ) -> Result<Upserted, WriteError> {
        let mut created = false;
        let generation = self.write(dimension, |dim| {
            created = put_layer(dim, layer);
            Ok(())
        })?;
        Ok(Upserted {
            generation,
            created,
        })
    }

    /// Deletes a layer (and refuses if other layers name it as parent) and publishes a new
    /// generation.
    pub fn delete_layer(&self, dimension: &str, layer: &str) -> Result<u64, WriteError> {
        self.write(dimension, |dim| remove_layer(dim, layer))
    }

    fn write(
        &self,
        dimension: &str,
        change: impl FnOnce(&mut DimensionSource) -> Result<(), WriteError>,
    ) -> Result<u64, WriteError> {
        let mut warm = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut compiled = self.compile_change(&warm, dimension, change)?;
        let published = self
            .store
            .publish(|generation| compiled.encode(generation))?;
        *warm = Some(std::sync::Arc::new(compiled.take_warm_start()));
        Ok(published.generation())
    }

    /// The build half of a write: the current generation's source with `change` applied to
    /// `dimension`, validated and compiled with the rebuild options (warm start, carried term
    /// associations). A local write publishes the result; a cluster write (`replica.rs`)
    /// stores it in the cluster first. The caller holds the write lock (`warm` is its guard).
    pub(super) fn compile_change(
        &self,
        warm: &Option<std::sync::Arc<build::WarmStart>>,
        dimension: &str,
        change: impl FnOnce(&mut DimensionSource) -> Result<(), WriteError>,
    ) -> Result<build::Compiled, WriteError> {
        let current = self.store.current();
        let mut source = current.to_source();
        let dim = source
            .dimensions
            .iter_mut()
            .find(|d| d.id == dimension)
            .ok_or_else(|| WriteError::UnknownDimension(dimension.to_string()))?;
        let before: std::collections::HashSet<String> = dim
            .layers
            .iter()
            .flat_map(|l| l.examples.iter().cloned())
            .collect();
        change(dim)?;
        // The term associations carry on; only the examples this write adds are observed (a
        // write is not a learning period, so nothing decays).
        let observe = dim
            .layers
            .iter()
            .flat_map(|l| l.examples.iter())
            .filter(|e| !before.contains(*e))
            .cloned()
            .collect();
        registry::validate(&source)?;
        let options = BuildOptions {
            warm: warm.clone(),
            associations: Some(build::AssociationCarry {
                links: current.association_links(),
                observe,
                period_ends: false,
            }),
            // A registry with a semantic head keeps one when this engine has its encoder (the
            // embedding cache beside the snapshot means only new lines are encoded); without
            // the encoder the head cannot be retrained for the new layers and is dropped.
            semantic: self.semantic_rebuild(&current),
            ..BuildOptions::for_rebuild(&current)
        };
        Ok(build::compile(&source, &options)?)
    }

    /// How a rebuild of `current` trains the semantic head: a registry with a head keeps one
    /// when this engine has its encoder (the embedding cache beside the snapshot means only new
    /// lines are encoded); without the encoder the head cannot be retrained for new examples
    /// and is dropped.
    pub(super) fn semantic_rebuild(
        &self,
        current: &crate::Registry,
    ) -> Option<build::SemanticBuild> {
        match (&self.encoder, current.semantic_head()) {
            (Some(encoder), Some(head)) => Some(build::SemanticBuild {
                encoder: encoder.clone(),
                cache: self
                    .dir()
                    .map(|d| d.join(crate::semantic::cache::EMBEDDING_CACHE_FILE)),
                escalate_at_most: head.params.max_rate,
            }),
            _ => None,
        }
    }
}

/// The upsert change, shared by local writes and the cluster's prepared ones: replaces layer
/// `layer.id` in `dim` or appends it; returns whether it is new.
pub(super) fn put_layer(dim: &mut DimensionSource, layer: LayerSource) -> bool {
    match dim.layers.iter_mut().find(|l| l.id == layer.id) {
        Some(existing) => {
            *existing = layer;
            false
        }
        None => {
            dim.layers.push(layer);
            true
        }
    }
}

/// The delete change, shared by local writes and the cluster's prepared ones: removes layer
/// `layer` from `dim`, or says it does not exist.
pub(super) fn remove_layer(dim: &mut DimensionSource, layer: &str) -> Result<(), WriteError> {
    let before = dim.layers.len();
    dim.layers.retain(|l| l.id != layer);
    if dim.layers.len() == before {
        return Err(WriteError::UnknownLayer {
            dimension: dim.id.clone(),
            layer: layer.to_string(),
        });
    }
    Ok(())
}
