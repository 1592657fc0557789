//! The learned routing model: a sparse linear classifier over hashed lexical features.
//!
//! - [`features`] says which features a parsed query has (stem unigrams/bigrams, stem pairs,
//!   character n-grams), [`hash`] turns each into a stable `u64` key.
//! - [`train`](mod@train) learns, at registry build time, one linear classifier per class
//!   (one-vs-rest; L2-loss SVM by default, logistic regression available) from weighted labeled
//!   examples, and stores it as an inverted index: feature → postings of `(class, weight)`, with
//!   postings that cannot move a logit noticeably pruned, and the frequent features (weights
//!   for a quarter of the classes or more) as dense bfloat16 rows ([`densify`], [`axpy_bf16`]).
//! - [`calibrate`](mod@calibrate) picks the no-match threshold on held-out labeled queries.
//! - [`terms`] extracts each class's most telling words, for display and query expansion.
//! - [`associations`] are the learned term-to-term links: the build grows them, the query path
//!   expands through the strong ones, so they sit here, below both.
//!
//! The model is storage-agnostic: [`Model`] owns its arrays, [`ModelView`] borrows them (from a
//! `Model` or from a memory-mapped snapshot) and is all the query path needs. Scoring a query is
//! `parse → featurize_into → score_into → confidence`, allocation-free with reused buffers, and
//! touches only the postings of the query's own features: its cost grows with the number of
//! classes that share a query's features, not with the number of classes. Two small lookup
//! structures derived from the arrays speed the query path up and may be empty: the key
//! directory ([`build_key_index`]) and the dense map ([`build_dense_map`]).

pub(crate) mod associations;
pub mod calibrate;
mod error;
pub(crate) mod features;
pub(crate) mod hash;
mod index;
pub(crate) mod simd;
pub(crate) mod terms;
pub mod train;
mod validate;
mod vector;
mod view;

pub use calibrate::{calibrate, Calibration};
pub use features::FeatureConfig;
pub use hash::unigram_key;
pub use terms::top_unigram_terms;
#[cfg(any(test, feature = "internals"))]
pub use train::train;
pub use train::{train_warm, Example, Loss, OutOfScope, TrainConfig, TrainError};
#[cfg(test)]
pub use vector::finish;

pub use error::ModelError;
pub use index::{build_dense_map, build_key_index};
pub use vector::{merge, sum_norm};
pub use view::ModelView;

use crate::storage::ModelSections;

/// A trained model that owns its arrays (see [`Model::sections`] for what a snapshot stores);
/// their invariants are those checked by [`ModelView::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// How features were extracted.
    pub feature_config: FeatureConfig,
    /// Number of in-scope classes (layers).
    pub num_classes: u32,
    /// Feature keys, sorted ascending, unique.
    pub keys: Vec<u64>,
    /// Bucket directory over `keys` (see [`build_key_index`]); may be empty, at the cost of
    /// slower lookups (binary search).
    pub key_index: Vec<u32>,
    /// Inverse document frequency per feature, parallel to `keys`.
    pub idf: Vec<f32>,
    /// CSR row starts: the postings of feature `r` are `row_start[r]..row_start[r + 1]`.
    pub row_start: Vec<u32>,
    /// Posting classes, strictly increasing within a row. Class `num_classes` is the
    /// out-of-scope class when the model has one.
    pub post_class: Vec<u32>,
    /// Posting weights, parallel to `post_class`.
    pub post_weight: Vec<f32>,
    /// Bias per output: `num_classes` entries, plus one for the out-of-scope class if any.
    pub bias: Vec<f32>,
    /// Rows stored dense, strictly increasing (see [`densify`]). Their CSR ranges are empty.
    pub dense_rows: Vec<u32>,
    /// Weights of the dense rows as bfloat16 bits ([`bf16_from_f32`]):
    /// `dense_rows.len() × outputs`, row-major.
    pub dense: Vec<u16>,
    /// Which rows are dense and where their weights start (see [`build_dense_map`]); derived
    /// from `dense_rows`, may be empty at the cost of a binary search per dense feature.
    pub dense_map: Vec<(u64, u32)>,
}

impl Model {
    /// A borrowed view, the form the query path uses.
    pub fn view(&self) -> ModelView<'_> {
        ModelView {
            feature_config: self.feature_config,
            num_classes: self.num_classes,
            arrays: self.sections(),
            key_index: &self.key_index,
            dense_map: &self.dense_map,
        }
    }

    /// The stored arrays, as a snapshot writer lays them out.
    pub fn sections(&self) -> ModelSections<'_> {
        ModelSections {
            keys: &self.keys,
            idf: &self.idf,
            row_start: &self.row_start,
            post_class: &self.post_class,
            post_weight: &self.post_weight,
            bias: &self.bias,
            dense_rows: &self.dense_rows,
            dense: &self.dense,
        }
    }

    /// Bytes of the arrays (what a snapshot stores for the model).
    #[cfg(feature = "internals")]
    pub fn size_bytes(&self) -> usize {
        self.keys.len() * 8
            + (self.key_index.len()
                + self.idf.len()
                + self.row_start.len()
                + self.post_class.len()
                + self.post_weight.len()
                + self.bias.len()
                + self.dense_rows.len())
                * 4
            + self.dense.len() * 2
    }
}

/// A class's confidence in (0, 1), from its logit: the logistic sigmoid. Each output is its own
/// one-vs-rest classifier, so confidences are independent per class and several layers can be
/// confidently relevant at once (multi-label routing). With [`Loss::Logistic`] the value is the
/// model's probability that the class applies; with the default [`Loss::SquaredHinge`] it is a
/// monotone score with 0.5 exactly on the classifier's decision boundary (margins at 0.27 and
/// 0.73), and the no-match threshold is chosen on this scale by [`calibrate()`].
#[inline]
pub fn confidence(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

#[cfg(test)]
mod tests;
