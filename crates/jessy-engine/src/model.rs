//! The routing model's interface to the rest of the engine: training at build time, and
//! featurizing and scoring at query time over the arrays stored in a snapshot.
//!
//! The model itself lives in [`crate::learn`]: word unigrams and bigrams of stems, stem pairs
//! and character 3–4-grams, hashed to stable 64-bit keys, TF-IDF weighted and normalized per
//! block; one linear classifier per layer (one-vs-rest L2-loss SVM), plus an out-of-scope output
//! when the registry has out-of-scope examples; stored as a sparse inverted index
//! `feature → (layer, weight)`. This module maps that model onto the snapshot's
//! [`ModelArrays`] and gives the pipeline the few operations it needs.

use crate::learn::{self, FeatureConfig, ModelView};
use crate::parser::ParsedQuery;
use crate::storage::ModelArrays;

pub use crate::learn::{Example, TrainConfig};

/// No-match threshold of a registry built without a validation file.
///
/// With out-of-scope examples, the model has an out-of-scope output and the decision compares
/// the best layer with it: 0.5, "the best layer beats out of scope" (see
/// [`learn::Calibration::default_uncalibrated`]). Without them the reference is the best
/// layer's own decision boundary, and a query that spreads its words over several layers
/// gives each only partial evidence (a logit inside the negative margin); the threshold then
/// accepts what the convergence processor accepts as a secondary dimension,
/// [`crate::convergence::SECONDARY_FLOOR`], rather than demanding a full "yes".
pub fn uncalibrated_threshold(has_out_of_scope_output: bool) -> f32 {
    if has_out_of_scope_output {
        learn::Calibration::default_uncalibrated().threshold
    } else {
        crate::convergence::SECONDARY_FLOOR
    }
}

/// A trained model owning its arrays.
#[derive(Debug, Clone)]
pub struct OwnedModel(learn::Model);

impl OwnedModel {
    /// The arrays as stored in a snapshot. The key directory and the dense map go along for
    /// in-memory use but are not written: a snapshot rebuilds them from the keys and dense
    /// rows at open, so they cannot disagree with what they index.
    pub fn arrays(&self, threshold: f32, calibrated: bool) -> ModelArrays<'_> {
        let m = &self.0;
        ModelArrays {
            num_classes: m.num_classes,
            keys: &m.keys,
            key_index: &m.key_index,
            idf: &m.idf,
            rows: &m.row_start,
            post_class: &m.post_class,
            post_weight: &m.post_weight,
            bias: &m.bias,
            dense_rows: &m.dense_rows,
            dense: &m.dense,
            dense_map: &m.dense_map,
            feature_params: m.feature_config.to_params(),
            model_params: [0.0; 8],
            threshold,
            calibrated,
        }
    }
}

/// Why a registry's model could not be trained.
pub type TrainError = learn::TrainError;

/// Trains the model over `num_classes` layers. Out-of-scope examples (label `None`) are used,
/// not ignored: they are negatives of every layer and the positives of an extra out-of-scope
/// output, which the no-match decision compares the best layer against.
pub fn train_with(
    examples: &[Example<'_>],
    num_classes: u32,
    config: &TrainConfig,
) -> Result<OwnedModel, TrainError> {
    learn::train(examples, num_classes, config).map(OwnedModel)
}

/// The query-path view of snapshot arrays. Snapshots are validated at open
/// ([`validate_arrays`]), so the feature parameters parse; should they not, the default
/// extractor is used rather than panicking.
pub fn view<'a>(m: &ModelArrays<'a>) -> ModelView<'a> {
    ModelView {
        feature_config: FeatureConfig::from_params(m.feature_params).unwrap_or_default(),
        num_classes: m.num_classes,
        keys: m.keys,
        key_index: m.key_index,
        idf: m.idf,
        row_start: m.rows,
        post_class: m.post_class,
        post_weight: m.post_weight,
        bias: m.bias,
        dense_rows: m.dense_rows,
        dense: m.dense,
        dense_map: m.dense_map,
    }
}

/// Features of a text (build time).
pub fn featurize_text(m: &ModelArrays<'_>, text: &str) -> Vec<(u32, f32)> {
    let mut out = Vec::new();
    if let Ok(q) = crate::parser::parse(text) {
        view(m).featurize_into(&q, &mut Vec::new(), &mut out);
    }
    out
}

/// Turns the logits of the layers into per-layer confidences in (0, 1), in place: each output
/// is its own one-vs-rest classifier, so its confidence is independent of the others' and
/// several layers can be confidently relevant at once (multi-dimension routing).
pub fn probabilities(logits: &mut [f32]) {
    logits.iter_mut().for_each(|z| *z = learn::confidence(*z));
}

/// The distinct stems of a text (build time).
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = crate::parser::parse(text)
        .map(|q| q.stems().map(str::to_string).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// Stable key of a stem's unigram feature (also the key of association sources).
pub fn term_key(stem: &str) -> u64 {
    learn::unigram_key(stem)
}

/// The model row of a stem's unigram feature.
pub fn term_row(m: &ModelArrays<'_>, stem: &str) -> Option<u32> {
    view(m).unigram_row(stem)
}

/// Keys of the query's stems (association sources), without allocating.
pub fn term_keys(q: &ParsedQuery) -> impl Iterator<Item = u64> + '_ {
    q.stems().map(term_key)
}

/// Per class, the `n` most telling words of its examples with their weights.
pub fn learned_terms(
    examples: &[Example<'_>],
    model: &OwnedModel,
    n: usize,
) -> Vec<Vec<(String, f32)>> {
    learn::top_unigram_terms(examples, &model.0, n)
}

/// Chooses the no-match threshold on labeled validation texts (see [`learn::calibrate()`]).
pub fn calibrate(model: &OwnedModel, val: &[(&str, Option<u32>)]) -> f32 {
    learn::calibrate(&model.0.view(), val).threshold
}

/// Checks the model arrays' internal invariants, so a corrupt snapshot is refused at open.
pub fn validate_arrays(m: &ModelArrays<'_>) -> Result<(), String> {
    FeatureConfig::from_params(m.feature_params).map_err(|e| e.to_string())?;
    view(m).validate().map_err(|e| e.to_string())?;
    if !(m.threshold.is_finite() && (0.0..=1.0).contains(&m.threshold)) {
        return Err(format!("no-match threshold {} outside [0, 1]", m.threshold));
    }
    Ok(())
}
