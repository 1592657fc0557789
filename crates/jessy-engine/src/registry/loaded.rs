//! [`Registry`]: one loaded generation of a registry — the snapshot storage validated, plus
//! the model checks and lookup tables the query path needs, made once when it is opened.

use std::path::Path;

use super::view::{DimensionView, LayerView};
use super::{DimensionSource, Keyword, LayerSource, RegistrySource, DIMENSIONS_DIR};
use crate::model::{build_dense_map, build_key_index, Calibration, FeatureConfig, ModelView};
use crate::storage::{self, Corruption, OpenError, Snapshot};

/// A registry generation, ready for queries: immutable, shared by every query that started
/// while it was current (readers hold an `Arc`).
///
/// Opening one checks, on top of storage's checks of bytes and records, every invariant of the
/// learned model (so scoring never meets a bad index) and rebuilds the two lookup structures
/// that are derived from the model rather than stored: the key directory and the dense-row
/// map. Being derived, they cannot disagree with what they index.
pub struct Registry {
    snapshot: Snapshot,
    feature_config: FeatureConfig,
    calibration: Calibration,
    /// Bucket directory over the model's keys: one directory read replaces the dozen dependent
    /// probes of a search over the mapped keys.
    key_index: Vec<u32>,
    /// Bitmap and rank over the dense rows, for the same reason.
    dense_map: Vec<(u64, u32)>,
    /// The semantic cascade's head, when the registry was built with an encoder (read from its
    /// section and checked against the model at open).
    semantic: Option<crate::semantic::SemanticHead>,
}

impl storage::Generation for Registry {
    fn load(snapshot: Snapshot) -> Result<Registry, OpenError> {
        Registry::load(snapshot)
    }

    fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }
}

impl Registry {
    /// Checks the model of an opened snapshot and derives its lookup tables.
    pub(crate) fn load(snapshot: Snapshot) -> Result<Registry, OpenError> {
        let corrupt = |message: String| OpenError::Corrupt {
            path: snapshot.path().to_path_buf(),
            problem: Corruption::Structure(format!("model: {message}")),
        };
        let meta = snapshot.model_meta();
        let feature_config =
            FeatureConfig::from_params(meta.feature_params).map_err(|e| corrupt(e.to_string()))?;
        let calibration = Calibration {
            threshold: meta.threshold,
            calibrated: meta.calibrated,
        };
        let stored = ModelView {
            feature_config,
            num_classes: meta.num_classes,
            arrays: snapshot.model_sections(),
            key_index: &[],
            dense_map: &[],
        };
        stored.validate().map_err(|e| corrupt(e.to_string()))?;
        if !calibration.is_valid() {
            return Err(corrupt(format!(
                "no-match threshold {} outside [0, 1]",
                calibration.threshold
            )));
        }
        let semantic = match snapshot.semantic_bytes() {
            [] => None,
            bytes => {
                let head = crate::semantic::SemanticHead::from_bytes(bytes)
                    .map_err(|e| corrupt(e.to_string()))?;
                let outputs = meta.num_classes + u32::from(stored.has_out_of_scope_class());
                if head.num_classes != meta.num_classes || head.outputs != outputs {
                    return Err(corrupt(format!(
                        "semantic head has {} outputs for {} classes, the model {outputs} for {}",
                        head.outputs, head.num_classes, meta.num_classes
                    )));
                }
                Some(head)
            }
        };
        let key_index = build_key_index(stored.arrays.keys);
        let dense_map = build_dense_map(stored.arrays.dense_rows, stored.arrays.keys.len());
        Ok(Registry {
            snapshot,
            feature_config,
            calibration,
            key_index,
            dense_map,
            semantic,
        })
    }

    /// The semantic cascade's head and its encoder's identity, when the registry was built
    /// with an encoder.
    pub fn semantic_head(&self) -> Option<&crate::semantic::SemanticHead> {
        self.semantic.as_ref()
    }

    /// Opens and fully verifies the published generation of `dir`: what `jessy verify` runs.
    pub fn open(dir: &Path) -> Result<Registry, OpenError> {
        storage::open_current(dir)
    }

    /// The generation number.
    pub fn generation(&self) -> u64 {
        self.snapshot.generation()
    }

    /// The snapshot file this generation was read from.
    pub fn path(&self) -> &Path {
        self.snapshot.path()
    }

    /// Size of the generation file in bytes.
    pub fn len_bytes(&self) -> usize {
        self.snapshot.len_bytes()
    }

    /// Number of regions (sections) of the generation file.
    pub fn region_count(&self) -> usize {
        self.snapshot.region_count()
    }

    /// The CRC32 stored in the file's footer (checked against the contents at open).
    pub fn stored_crc(&self) -> u32 {
        self.snapshot.stored_crc()
    }

    /// Generation numbers of the files in this generation's directory other than its own:
    /// files a later publish will collect (empty for a generation held in memory).
    pub fn unreferenced_generations(&self) -> std::io::Result<Vec<u64>> {
        let Some(dir) = self.snapshot.path().parent().filter(|_| self.is_mapped()) else {
            return Ok(Vec::new());
        };
        Ok(storage::publish::generation_files(dir)?
            .into_iter()
            .filter(|&g| g != self.generation())
            .collect())
    }

    /// Registry name.
    pub fn name(&self) -> &str {
        self.snapshot.str(self.snapshot.meta().name)
    }

    /// Registry description.
    pub fn description(&self) -> &str {
        self.snapshot.str(self.snapshot.meta().description)
    }

    /// The no-match rule in effect.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Every dimension, in registry order.
    pub fn dimensions(&self) -> impl ExactSizeIterator<Item = DimensionView<'_>> {
        (0..self.snapshot.dimension_records().len()).map(|i| DimensionView::new(self, i))
    }

    /// The dimension with slug `id`.
    pub fn dimension(&self, id: &str) -> Option<DimensionView<'_>> {
        self.dimensions().find(|d| d.id() == id)
    }

    /// Layer `dimension/layer`.
    pub fn layer(&self, dimension: &str, layer: &str) -> Option<LayerView<'_>> {
        self.dimension(dimension)?.layer(layer)
    }

    /// Number of layers over all dimensions.
    pub fn layer_count(&self) -> usize {
        self.snapshot.layer_records().len()
    }

    /// The labeled lines the no-match threshold was calibrated on: `(text, (dimension id,
    /// layer id))`, no ids for an out-of-scope line. Empty for an uncalibrated registry.
    pub fn validation_lines(&self) -> impl ExactSizeIterator<Item = (&str, Option<(&str, &str)>)> {
        let s = &self.snapshot;
        s.validation_records().iter().map(|v| {
            let (d, l) = (s.str(v.dimension), s.str(v.layer));
            (s.str(v.text), (!d.is_empty()).then_some((d, l)))
        })
    }

    /// The stored term associations `(source key, target term, strength)`, which a rebuild
    /// carries on (see `build::AssociationCarry`).
    pub(crate) fn association_links(&self) -> Vec<(u64, String, f32)> {
        let s = &self.snapshot;
        s.associations()
            .iter()
            .map(|a| (a.source_key, s.str(a.target).to_string(), a.strength))
            .collect()
    }

    /// The build settings a rebuild repeats (opaque flags, owned by the build path).
    pub(crate) fn build_flags(&self) -> u32 {
        self.snapshot.meta().build_flags
    }

    /// Out-of-scope example utterances.
    pub fn out_of_scope_examples(&self) -> impl ExactSizeIterator<Item = &str> {
        let s = &self.snapshot;
        s.out_of_scope_refs().iter().map(|r| s.str(*r))
    }

    /// The model over the mapped arrays, with the lookup tables built at open.
    pub(crate) fn model(&self) -> ModelView<'_> {
        ModelView {
            feature_config: self.feature_config,
            num_classes: self.snapshot.model_meta().num_classes,
            arrays: self.snapshot.model_sections(),
            key_index: &self.key_index,
            dense_map: &self.dense_map,
        }
    }

    /// The snapshot underneath, for the engine's own stages.
    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Whether the generation is a file map (zero-copy) rather than a heap buffer.
    pub fn is_mapped(&self) -> bool {
        self.snapshot.is_mapped()
    }

    /// Whether `text` is borrowed from this generation's mapped bytes (proof of zero copy).
    pub fn contains(&self, text: &str) -> bool {
        self.snapshot.contains(text)
    }

    /// The source this generation was built from, reconstructed from its records: applying a
    /// layer write to it and rebuilding gives the next generation.
    pub fn to_source(&self) -> RegistrySource {
        let dimensions = self
            .dimensions()
            .map(|d| DimensionSource {
                id: d.id().to_string(),
                name: d.name().to_string(),
                description: d.description().to_string(),
                frequency: d.frequency(),
                file: format!("{DIMENSIONS_DIR}/{}.toml", d.id()).into(),
                layers: d
                    .layers()
                    .map(|l| LayerSource {
                        id: l.id().to_string(),
                        name: l.name().to_string(),
                        parent: l.parent().map(|p| p.id().to_string()),
                        frequency: l.frequency(),
                        keywords: l.keywords().map(|(t, w)| Keyword::new(t, w)).collect(),
                        examples: l.examples().map(str::to_string).collect(),
                        content: l.content().to_string(),
                    })
                    .collect(),
            })
            .collect();
        RegistrySource {
            name: self.name().to_string(),
            description: self.description().to_string(),
            out_of_scope: self.out_of_scope_examples().map(str::to_string).collect(),
            encoder: None,
            dimensions,
        }
    }
}
