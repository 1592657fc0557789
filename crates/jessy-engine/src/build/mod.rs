//! The build path: registry source → validate → order → features → train → calibrate →
//! derive → write snapshot.
//!
//! 1. Validate the source (every problem at once; [`crate::registry::validate`]).
//! 2. Order layers ([`order`]): dimensions in source order, each dimension's layers
//!    breadth-first, so a dimension's layers and a layer's children are contiguous ranges.
//! 3. Learn ([`compile`]): every example is a training utterance of its layer; every keyword a
//!    short, weighted one; out-of-scope utterances teach the model what routes nowhere.
//! 4. Calibrate the no-match threshold on a validation file when one is given ([`calibrate`]).
//! 5. Derive per layer its learned terms and expansion vector, and term associations from
//!    co-occurrence in the training utterances ([`derive`]; the links themselves are the
//!    model's, `model::associations`, because the query path reads them too).
//! 6. Lay the result out as one generation file ([`layout`]) and publish it.
//!
//! [`import`] turns a labeled data set into a registry source; [`crate::dataset`] reads the
//! labeled JSONL both use.

mod calibrate;
mod compile;
mod derive;
pub mod import;
mod layout;
mod order;
mod semantic;
mod warm;

use std::path::Path;

use crate::dataset::{self, DatasetError, LabeledExample};
use crate::model;
use crate::registry::{RegistryError, RegistrySource};
use crate::storage::{self, PublishError};

pub use crate::model::associations::AssociationCarry;
/// The model settings a build takes ([`BuildOptions::train`]), the calibration it keeps, and
/// the errors training reports ([`BuildError::Train`]).
pub use crate::model::{
    Calibration, FeatureConfig, Loss, ModelError, OutOfScope, TrainConfig, TrainError,
};
pub use compile::{compile, Compiled};
pub use semantic::{SemanticBuild, DEFAULT_ESCALATE_AT_MOST};
pub use warm::WarmStart;

/// [`crate::storage::format::RegistryMeta::build_flags`] bit: calibration kept the first model.
pub(crate) const BUILD_FLAG_NO_REFIT: u32 = 1;

/// Errors building a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The source is invalid.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The validation file could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The validation file names layers the registry does not have.
    #[error("{path}: line {line}: unknown layer {dimension:?}/{layer:?}")]
    UnknownLabel {
        /// The validation file.
        path: String,
        /// 1-based line.
        line: usize,
        /// Dimension named.
        dimension: String,
        /// Layer named.
        layer: String,
    },
    /// The output directory could not be prepared or already holds something else.
    #[error("{path}: {message}")]
    Output {
        /// The directory.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The routing model could not be trained.
    #[error("training the routing model: {0}")]
    Train(#[from] model::TrainError),
    /// Publishing failed.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The semantic head could not be trained (the encoder failed, or no validation lines).
    #[error("semantic head: {0}")]
    Semantic(String),
    /// The built snapshot failed to open (a bug: builds are validated before publishing).
    #[error(transparent)]
    Open(#[from] storage::OpenError),
}

/// Build settings.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Labeled validation examples to calibrate the no-match threshold on.
    pub calibrate: Option<(String, Vec<LabeledExample>)>,
    /// In a rebuild: drop validation lines whose layer no longer exists instead of failing.
    pub drop_unknown_labels: bool,
    /// In a rebuild: the threshold in effect, kept unless re-calibration finds a clearly better
    /// one (see `calibrate_near` in the model's calibration).
    pub incumbent_threshold: Option<f32>,
    /// In a rebuild: where the last compile's classifiers ended, to start from there.
    pub warm: Option<std::sync::Arc<WarmStart>>,
    /// Model training settings.
    pub train: model::TrainConfig,
    /// Keep the model trained before calibration instead of retraining it on the training and
    /// validation examples together once the threshold is chosen.
    ///
    /// By default a calibrated build trains twice: first on the registry's examples alone, to
    /// choose the no-match threshold on validation lines the model has not seen (their scores
    /// are then honest), then on the examples plus the validation lines, keeping that threshold.
    /// The second model has more data; the threshold carries over because both models are fit
    /// with the same loss, regularization and feature weighting, so their scores share a scale.
    pub no_refit: bool,
    /// In a rebuild: the serving generation's term associations to carry on (grown by new
    /// utterances, decayed when a learning period ends) instead of recomputing them from every
    /// example. `None` (a fresh build) computes them from the training examples.
    pub associations: Option<AssociationCarry>,
    /// Train the semantic cascade's head with this encoder (needs [`BuildOptions::calibrate`]).
    pub semantic: Option<SemanticBuild>,
}

impl BuildOptions {
    /// Options that calibrate on the labeled JSONL file at `path`.
    pub fn calibrate_on(path: &Path) -> Result<BuildOptions, BuildError> {
        let examples = dataset::read_jsonl(path)?;
        Ok(BuildOptions {
            calibrate: Some((path.display().to_string(), examples)),
            ..BuildOptions::default()
        })
    }

    /// How to rebuild `registry` after a layer write: calibrate again on the validation lines
    /// it was calibrated on (stored in the snapshot), with the same refit setting, so a write
    /// neither loses those lines from training nor keeps a threshold chosen for another model.
    pub fn for_rebuild(registry: &crate::registry::Registry) -> BuildOptions {
        let lines: Vec<LabeledExample> = registry
            .validation_lines()
            .enumerate()
            .map(|(i, (text, ids))| LabeledExample {
                text: text.to_string(),
                dimension: ids.map(|(d, _)| d.to_string()),
                layer: ids.map(|(_, l)| l.to_string()),
                line: i + 1,
            })
            .collect();
        BuildOptions {
            calibrate: (!lines.is_empty()).then(|| {
                (
                    "<validation lines stored in the snapshot>".to_string(),
                    lines,
                )
            }),
            no_refit: registry.build_flags() & BUILD_FLAG_NO_REFIT != 0,
            drop_unknown_labels: true,
            incumbent_threshold: registry
                .calibration()
                .calibrated
                .then_some(registry.calibration().threshold),
            ..BuildOptions::default()
        }
    }

    /// How the embedded default registry is built: calibrated on its embedded validation
    /// file (`registry/default/validation.jsonl`), like any registry that ships one.
    pub fn for_default_registry() -> Result<BuildOptions, BuildError> {
        let examples = crate::registry::default_validation()?;
        Ok(BuildOptions {
            calibrate: (!examples.is_empty()).then(|| {
                (
                    crate::registry::DEFAULT_VALIDATION_FILE.to_string(),
                    examples,
                )
            }),
            ..BuildOptions::default()
        })
    }
}

/// Compiles `source` into the bytes of generation `generation`.
pub fn build_bytes(
    source: &RegistrySource,
    options: &BuildOptions,
    generation: u64,
) -> Result<Vec<u8>, BuildError> {
    Ok(compile(source, options)?.encode(generation))
}

/// Compiles `source` and publishes it into `dir` (created if missing) as a new generation.
pub fn build_dir(
    source: &RegistrySource,
    dir: &Path,
    options: &BuildOptions,
) -> Result<Compiled, BuildError> {
    let compiled = compile(source, options)?;
    publish_compiled(&compiled, dir)?;
    Ok(compiled)
}

/// Publishes an already compiled registry into `dir` (created if missing).
pub fn publish_compiled(compiled: &Compiled, dir: &Path) -> Result<u64, BuildError> {
    std::fs::create_dir_all(dir).map_err(|e| BuildError::Output {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let _lock = storage::publish::lock_writer(dir)?;
    let manifest = storage::publish::publish_locked(
        dir,
        |generation| compiled.encode(generation),
        storage::verify::<crate::registry::Registry>,
    )?;
    storage::publish::collect_garbage(dir, manifest.generation, &[]);
    Ok(manifest.generation)
}
