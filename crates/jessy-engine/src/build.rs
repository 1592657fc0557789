//! Compiling a registry source into a snapshot: ordering, learning, calibration, layout.
//!
//! 1. Validate the source (every problem at once).
//! 2. Order layers: dimensions in source order, each dimension's layers breadth-first, so a
//!    dimension's layers and a layer's children are contiguous ranges in the snapshot.
//! 3. Learn: every example is a training utterance of its layer; every keyword a short,
//!    weighted one; out-of-scope utterances teach the model what routes nowhere.
//! 4. Derive per layer its learned terms and expansion vector, and term associations from
//!    co-occurrence in the training utterances.
//! 5. Calibrate the no-match threshold on a validation file when one is given.
//! 6. Lay the result out as one generation file and publish it.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use crate::dataset::{self, DatasetError, LabeledExample};
use crate::import::slugify;
use crate::model::{self, Example, OwnedModel};
use crate::navigation::associations::{AssociationMemory, BASE_STRENGTH};
use crate::registry::{self, DimensionSource, Keyword, LayerSource, RegistryError, RegistrySource};
use crate::storage::format::{FeatureValue, NO_PARENT};
use crate::storage::{self, DimensionData, LayerData, PublishError, Snapshot, SnapshotData};

/// Weight of a keyword as a training utterance relative to an example. Keywords are short and
/// deliberate, so they count a little more than one example each.
const KEYWORD_WEIGHT: f32 = 1.5;
/// Learned terms kept per layer (shown in the registry views and used for expansion).
const LEARNED_TERMS: usize = 12;
/// Features kept in a layer's expansion vector.
const EXPANSION_FEATURES: usize = 24;
/// Associations kept per source term.
const ASSOCIATIONS_PER_SOURCE: usize = 4;

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
    /// The built snapshot failed to open (a bug: builds are validated before publishing).
    #[error(transparent)]
    Open(#[from] storage::OpenError),
}

/// A calibrated decision threshold carried from one generation to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// No-match threshold on the decision value (see [`crate::learn::calibrate::decision`]).
    pub threshold: f32,
    /// Whether it came from a validation file.
    pub calibrated: bool,
}

/// Build settings.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Labeled validation examples to calibrate the no-match threshold on.
    pub calibrate: Option<(String, Vec<LabeledExample>)>,
    /// Reuse this calibration (writes to a live registry, where no validation file exists).
    pub keep_calibration: Option<Calibration>,
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
}

/// A compiled registry, ready to be laid out as any generation.
pub struct Compiled {
    source: RegistrySource,
    order: Vec<(usize, usize)>,
    parents: Vec<u32>,
    children: Vec<(u32, u32)>,
    depths: Vec<u32>,
    model: OwnedModel,
    calibration: Calibration,
    learned: Vec<Vec<(String, f32)>>,
    expansion: Vec<Vec<FeatureValue>>,
    associations: Vec<(u64, String, u32, f32)>,
    /// Number of training examples used (examples + keywords + out-of-scope).
    pub training_examples: usize,
}

impl Compiled {
    /// The calibration in effect.
    pub fn calibration(&self) -> Calibration {
        self.calibration
    }

    /// Lays the registry out as the bytes of generation `generation`.
    pub fn encode(&self, generation: u64) -> Vec<u8> {
        let s = &self.source;
        let mut dimensions = Vec::with_capacity(s.dimensions.len());
        let mut start = 0u32;
        for (d, dim) in s.dimensions.iter().enumerate() {
            let count = self.order.iter().filter(|(od, _)| *od == d).count() as u32;
            dimensions.push(DimensionData {
                id: &dim.id,
                name: &dim.name,
                description: &dim.description,
                frequency: dim.frequency,
                layers: (start, count),
            });
            start += count;
        }
        let layers = self
            .order
            .iter()
            .enumerate()
            .map(|(i, &(d, l))| {
                let layer = &s.dimensions[d].layers[l];
                LayerData {
                    id: &layer.id,
                    name: &layer.name,
                    content: &layer.content,
                    dimension: d as u32,
                    parent: self.parents[i],
                    children: self.children[i],
                    depth: self.depths[i],
                    frequency: layer.frequency,
                    keywords: layer
                        .keywords
                        .iter()
                        .map(|k| (k.term(), k.weight()))
                        .collect(),
                    learned: self.learned[i].clone(),
                    examples: layer.examples.iter().map(String::as_str).collect(),
                    expansion: self.expansion[i].clone(),
                }
            })
            .collect();
        let data = SnapshotData {
            name: &s.name,
            description: &s.description,
            dimensions,
            layers,
            out_of_scope: s.out_of_scope.iter().map(String::as_str).collect(),
            model: self
                .model
                .arrays(self.calibration.threshold, self.calibration.calibrated),
            associations: self.associations.clone(),
        };
        storage::writer::encode(&data, generation)
    }
}

/// The layer table's shape: per layer (in table order) its `(dimension, index in source)`, its
/// parent's table index, its children range and its depth.
struct LayerOrder {
    order: Vec<(usize, usize)>,
    parents: Vec<u32>,
    children: Vec<(u32, u32)>,
    depths: Vec<u32>,
}

/// Breadth-first order of each dimension's layers.
fn order_layers(source: &RegistrySource) -> LayerOrder {
    let mut order = Vec::new();
    let mut parents = Vec::new();
    let mut depths = Vec::new();
    for (d, dim) in source.dimensions.iter().enumerate() {
        let mut queue: VecDeque<(Option<&str>, u32, u32)> = VecDeque::from([(None, NO_PARENT, 0)]);
        while let Some((parent_id, parent_index, depth)) = queue.pop_front() {
            for (l, layer) in dim.layers.iter().enumerate() {
                if layer.parent.as_deref() == parent_id {
                    let index = order.len() as u32;
                    order.push((d, l));
                    parents.push(parent_index);
                    depths.push(depth);
                    queue.push_back((Some(layer.id.as_str()), index, depth + 1));
                }
            }
        }
    }
    let mut children = vec![(0u32, 0u32); order.len()];
    for (i, &p) in parents.iter().enumerate() {
        if p != NO_PARENT {
            let c = &mut children[p as usize];
            if c.1 == 0 {
                c.0 = i as u32;
            }
            c.1 += 1;
        }
    }
    LayerOrder {
        order,
        parents,
        children,
        depths,
    }
}

/// Compiles a validated source: learns the model and everything derived from it.
pub fn compile(source: &RegistrySource, options: &BuildOptions) -> Result<Compiled, BuildError> {
    registry::validate(source)?;
    let LayerOrder {
        order,
        parents,
        children,
        depths,
    } = order_layers(source);
    let class_of: HashMap<(&str, &str), u32> = order
        .iter()
        .enumerate()
        .map(|(i, &(d, l))| {
            (
                (
                    source.dimensions[d].id.as_str(),
                    source.dimensions[d].layers[l].id.as_str(),
                ),
                i as u32,
            )
        })
        .collect();

    let mut examples: Vec<Example> = Vec::new();
    for (class, &(d, l)) in order.iter().enumerate() {
        let layer = &source.dimensions[d].layers[l];
        for text in &layer.examples {
            examples.push(Example {
                text,
                label: Some(class as u32),
                weight: 1.0,
            });
        }
        for k in &layer.keywords {
            examples.push(Example {
                text: k.term(),
                label: Some(class as u32),
                weight: KEYWORD_WEIGHT * k.weight(),
            });
        }
    }
    for text in &source.out_of_scope {
        examples.push(Example {
            text,
            label: None,
            weight: 1.0,
        });
    }
    let mut model = model::train_with(&examples, order.len() as u32, &options.train)?;

    let calibration = match (&options.calibrate, options.keep_calibration) {
        (Some((path, val)), _) => {
            let mut labeled = Vec::with_capacity(val.len());
            for ex in val {
                let label = match (&ex.dimension, &ex.layer) {
                    (Some(d), Some(l)) => {
                        let exact = class_of.get(&(d.as_str(), l.as_str())).copied();
                        let slug = || {
                            class_of
                                .get(&(slugify(d).as_str(), slugify(l).as_str()))
                                .copied()
                        };
                        Some(
                            exact
                                .or_else(slug)
                                .ok_or_else(|| BuildError::UnknownLabel {
                                    path: path.clone(),
                                    line: ex.line,
                                    dimension: d.clone(),
                                    layer: l.clone(),
                                })?,
                        )
                    }
                    _ => None,
                };
                labeled.push((ex.text.as_str(), label));
            }
            let threshold = model::calibrate(&model, &labeled);
            if !options.no_refit {
                // The threshold is fixed; now the validation lines teach the model too.
                examples.extend(labeled.iter().map(|&(text, label)| Example {
                    text,
                    label,
                    weight: 1.0,
                }));
                model = model::train_with(&examples, order.len() as u32, &options.train)?;
            }
            Calibration {
                threshold,
                calibrated: true,
            }
        }
        (None, Some(kept)) => kept,
        (None, None) => Calibration {
            threshold: model::uncalibrated_threshold(!source.out_of_scope.is_empty()),
            calibrated: false,
        },
    };

    let learned = model::learned_terms(&examples, &model, LEARNED_TERMS);
    let arrays = model.arrays(calibration.threshold, calibration.calibrated);
    let expansion = order
        .iter()
        .enumerate()
        .map(|(i, &(d, l))| {
            let layer = &source.dimensions[d].layers[l];
            let mut text = String::new();
            for k in &layer.keywords {
                text.push_str(k.term());
                text.push(' ');
            }
            for (t, _) in &learned[i] {
                text.push_str(t);
                text.push(' ');
            }
            let mut features = model::featurize_text(&arrays, &text);
            features.sort_by(|a, b| b.1.total_cmp(&a.1));
            features.truncate(EXPANSION_FEATURES);
            features
                .into_iter()
                .map(|(row, value)| FeatureValue { row, value })
                .collect()
        })
        .collect();

    let mut memory = AssociationMemory::new();
    for ex in examples.iter().filter(|e| e.label.is_some()) {
        let terms = model::terms(ex.text);
        for (i, a) in terms.iter().enumerate() {
            for b in &terms[i + 1..] {
                memory.observe(a, b);
            }
        }
    }
    let associations = memory
        .links(ASSOCIATIONS_PER_SOURCE)
        .into_iter()
        .filter_map(|(from, to, strength)| {
            // Only links that grew beyond a single co-occurrence carry signal; the target must
            // be a known feature so expansion can add it without parsing.
            (strength > BASE_STRENGTH)
                .then(|| {
                    model::term_row(&arrays, &to)
                        .map(|row| (model::term_key(&from), to, row, strength))
                })
                .flatten()
        })
        .collect();

    Ok(Compiled {
        source: source.clone(),
        order,
        parents,
        children,
        depths,
        training_examples: examples.len(),
        model,
        calibration,
        learned,
        expansion,
        associations,
    })
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
        |bytes, path| Snapshot::from_bytes(bytes, path).map(drop),
    )?;
    storage::publish::collect_garbage(dir, manifest.generation, &[]);
    Ok(manifest.generation)
}

/// Reconstructs the source a snapshot was built from (used to apply a write and rebuild).
pub fn source_of(snapshot: &Snapshot) -> RegistrySource {
    let meta = snapshot.meta();
    let terms = snapshot.term_records();
    let examples = snapshot.example_refs();
    let layers = snapshot.layer_records();
    let dimensions = snapshot
        .dimension_records()
        .iter()
        .map(|d| DimensionSource {
            id: snapshot.str(d.id).to_string(),
            name: snapshot.str(d.name).to_string(),
            description: snapshot.str(d.description).to_string(),
            frequency: [d.freq_min, d.freq_max],
            file: format!("{}/{}.toml", registry::DIMENSIONS_DIR, snapshot.str(d.id)).into(),
            layers: layers[d.layers.as_range()]
                .iter()
                .map(|l| LayerSource {
                    id: snapshot.str(l.id).to_string(),
                    name: snapshot.str(l.name).to_string(),
                    parent: (l.parent != NO_PARENT)
                        .then(|| snapshot.str(layers[l.parent as usize].id).to_string()),
                    frequency: l.frequency,
                    keywords: terms[l.keywords.as_range()]
                        .iter()
                        .map(|t| Keyword::new(snapshot.str(t.term), t.weight))
                        .collect(),
                    examples: examples[l.examples.as_range()]
                        .iter()
                        .map(|e| snapshot.str(*e).to_string())
                        .collect(),
                    content: snapshot.str(l.content).to_string(),
                })
                .collect(),
        })
        .collect();
    RegistrySource {
        name: snapshot.str(meta.name).to_string(),
        description: snapshot.str(meta.description).to_string(),
        out_of_scope: snapshot
            .out_of_scope_refs()
            .iter()
            .map(|e| snapshot.str(*e).to_string())
            .collect(),
        dimensions,
    }
}

/// The calibration stored in a snapshot.
pub fn calibration_of(snapshot: &Snapshot) -> Calibration {
    let m = snapshot.model();
    Calibration {
        threshold: m.threshold,
        calibrated: m.calibrated,
    }
}
