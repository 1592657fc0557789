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
//!
//! The model is storage-agnostic: [`Model`] owns its arrays, [`ModelView`] borrows them (from a
//! `Model` or from a memory-mapped snapshot) and is all the query path needs. Scoring a query is
//! `parse → featurize_into → score_into → confidence`, allocation-free with reused buffers, and
//! touches only the postings of the query's own features: its cost grows with the number of
//! classes that share a query's features, not with the number of classes. Two small lookup
//! structures derived from the arrays speed the query path up and may be empty: the key
//! directory ([`build_key_index`]) and the dense map ([`build_dense_map`]).

pub mod calibrate;
pub mod features;
pub mod hash;
mod simd;
pub mod terms;
pub mod train;

pub use calibrate::{calibrate, Calibration};
pub use features::{FeatureConfig, FEATURE_VERSION};
pub use hash::unigram_key;
pub use simd::{axpy_bf16, bf16_from_f32, bf16_to_f32};
pub use terms::top_unigram_terms;
pub use train::{
    densify, prune, train, train_detailed, Example, Loss, OutOfScope, TrainConfig, TrainError,
    TrainStats, DENSE_MIN_FILL,
};

use crate::parser::ParsedQuery;
use features::NUM_BLOCKS;
use thiserror::Error;

/// Why model arrays cannot be used: a snapshot loader maps this to "corrupt snapshot".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// The model was built by a different feature extractor.
    #[error("feature version {found}, this engine extracts version {expected}")]
    FeatureVersion {
        /// Version stored with the model.
        found: u32,
        /// Version of this engine.
        expected: u32,
    },
    /// A feature parameter is out of the supported range.
    #[error("unsupported feature parameter: {0}")]
    FeatureParams(&'static str),
    /// An array has the wrong length.
    #[error("{what} has length {len}, expected {expected}")]
    Length {
        /// Which array.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length the other arrays imply.
        expected: usize,
    },
    /// Feature keys are not strictly increasing.
    #[error("feature keys not strictly increasing at index {index}")]
    KeysNotSorted {
        /// First offending index.
        index: usize,
    },
    /// The key index does not match the keys.
    #[error("key index invalid at entry {index}")]
    KeyIndex {
        /// First offending entry.
        index: usize,
    },
    /// Row starts do not begin at 0, decrease, or do not end at the number of postings.
    #[error("row starts invalid at index {index}")]
    RowStart {
        /// First offending index.
        index: usize,
    },
    /// A posting names a class that does not exist.
    #[error("posting {index} has class {class}, the model has {classes} outputs")]
    ClassOutOfRange {
        /// Posting index.
        index: usize,
        /// Its class.
        class: u32,
        /// Number of model outputs (classes, plus the out-of-scope class if any).
        classes: usize,
    },
    /// The classes of a row's postings are not strictly increasing.
    #[error("postings of row {row} not sorted by class")]
    PostingsNotSorted {
        /// The row.
        row: usize,
    },
    /// The dense rows are not strictly increasing, name a row that does not exist, or name a
    /// row that also has sparse postings.
    #[error("dense row list invalid at entry {index}")]
    DenseRows {
        /// First offending entry.
        index: usize,
    },
    /// A float is NaN or infinite (or an IDF is not positive).
    #[error("invalid number in {what} at index {index}")]
    NonFinite {
        /// Which array.
        what: &'static str,
        /// Offending index.
        index: usize,
    },
}

/// A trained model that owns its arrays. Fields are public so that a snapshot writer can store
/// them as they are; their invariants are those checked by [`ModelView::validate`].
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
            keys: &self.keys,
            key_index: &self.key_index,
            idf: &self.idf,
            row_start: &self.row_start,
            post_class: &self.post_class,
            post_weight: &self.post_weight,
            bias: &self.bias,
            dense_rows: &self.dense_rows,
            dense: &self.dense,
            dense_map: &self.dense_map,
        }
    }

    /// Bytes of the arrays (what a snapshot stores for the model).
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

/// The model's arrays, borrowed (from a [`Model`] or a mapped snapshot). Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct ModelView<'a> {
    /// How features were extracted.
    pub feature_config: FeatureConfig,
    /// Number of in-scope classes.
    pub num_classes: u32,
    /// Sorted unique feature keys.
    pub keys: &'a [u64],
    /// Bucket directory over `keys`, or empty.
    pub key_index: &'a [u32],
    /// IDF per feature.
    pub idf: &'a [f32],
    /// CSR row starts, `keys.len() + 1` entries.
    pub row_start: &'a [u32],
    /// Posting classes.
    pub post_class: &'a [u32],
    /// Posting weights.
    pub post_weight: &'a [f32],
    /// Bias per output.
    pub bias: &'a [f32],
    /// Rows stored dense, strictly increasing; their CSR ranges are empty.
    pub dense_rows: &'a [u32],
    /// Weights of the dense rows as bfloat16 bits, one per output, row-major.
    pub dense: &'a [u16],
    /// Bitmap and rank over the dense rows ([`build_dense_map`]), or empty.
    pub dense_map: &'a [(u64, u32)],
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

impl<'a> ModelView<'a> {
    /// Number of outputs: the classes, plus the out-of-scope class if the model has one.
    pub fn num_outputs(&self) -> usize {
        self.bias.len()
    }

    /// Whether output `num_classes` is an out-of-scope class.
    pub fn has_out_of_scope_class(&self) -> bool {
        self.bias.len() > self.num_classes as usize
    }

    /// Checks every invariant the query path relies on, so that a snapshot loader can refuse
    /// corrupt arrays up front; the query path itself never panics on a validated view.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.feature_config.validate()?;
        let n = self.keys.len();
        let len = |what, len: usize, expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(ModelError::Length {
                    what,
                    len,
                    expected,
                })
            }
        };
        len("idf", self.idf.len(), n)?;
        len("row_start", self.row_start.len(), n + 1)?;
        len("post_weight", self.post_weight.len(), self.post_class.len())?;
        let classes = self.num_classes as usize;
        if self.bias.len() != classes && self.bias.len() != classes + 1 {
            return Err(ModelError::Length {
                what: "bias",
                len: self.bias.len(),
                expected: classes,
            });
        }
        if let Some(i) = self.keys.windows(2).position(|w| w[0] >= w[1]) {
            return Err(ModelError::KeysNotSorted { index: i + 1 });
        }
        validate_key_index(self.keys, self.key_index)?;
        if self.row_start[0] != 0 {
            return Err(ModelError::RowStart { index: 0 });
        }
        if let Some(i) = self.row_start.windows(2).position(|w| w[0] > w[1]) {
            return Err(ModelError::RowStart { index: i + 1 });
        }
        if self.row_start[n] as usize != self.post_class.len() {
            return Err(ModelError::RowStart { index: n });
        }
        let outputs = self.bias.len();
        if let Some(i) = self.post_class.iter().position(|&c| c as usize >= outputs) {
            return Err(ModelError::ClassOutOfRange {
                index: i,
                class: self.post_class[i],
                classes: outputs,
            });
        }
        for row in 0..n {
            let p =
                &self.post_class[self.row_start[row] as usize..self.row_start[row + 1] as usize];
            if p.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ModelError::PostingsNotSorted { row });
            }
        }
        let bad = |what, v: &[f32], positive: bool| match v
            .iter()
            .position(|x| !x.is_finite() || (positive && *x <= 0.0))
        {
            Some(index) => Err(ModelError::NonFinite { what, index }),
            None => Ok(()),
        };
        bad("idf", self.idf, true)?;
        bad("post_weight", self.post_weight, false)?;
        bad("bias", self.bias, false)?;
        len(
            "dense",
            self.dense.len(),
            self.dense_rows.len().saturating_mul(outputs),
        )?;
        for (i, &r) in self.dense_rows.iter().enumerate() {
            let increasing = i == 0 || self.dense_rows[i - 1] < r;
            let r = r as usize;
            if !increasing || r >= n || self.row_start[r] != self.row_start[r + 1] {
                return Err(ModelError::DenseRows { index: i });
            }
        }
        if let Some(index) = self.dense.iter().position(|&b| !bf16_to_f32(b).is_finite()) {
            return Err(ModelError::NonFinite {
                what: "dense",
                index,
            });
        }
        if !self.dense_map.is_empty() && !dense_map_matches(self.dense_map, self.dense_rows, n) {
            return Err(ModelError::DenseRows {
                index: self.dense_rows.len(),
            });
        }
        Ok(())
    }

    /// The row of feature `key`, if the model knows it.
    ///
    /// With a key index, one directory entry (a small array that stays in cache) gives the
    /// few rows whose keys share the key's top bits: one cache miss into `keys` instead of
    /// binary search's ~17 dependent ones, measured 23 ns vs 80 ns at 164k keys and 150 ns vs
    /// 1 µs at 2M keys. Trained models and opened snapshots always have one; a view without
    /// one (built by hand) searches all keys.
    #[inline]
    pub fn row_of(&self, key: u64) -> Option<u32> {
        self.find_in(key, self.key_range(key))
    }

    /// The rows whose keys can equal `key`: its directory bucket, or every row without a
    /// directory.
    #[inline]
    fn key_range(&self, key: u64) -> (usize, usize) {
        let Some(bits) = key_index_bits(self.key_index) else {
            return (0, self.keys.len());
        };
        let b = key.checked_shr(64 - bits).unwrap_or(0) as usize;
        match (self.key_index.get(b), self.key_index.get(b + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, 0),
        }
    }

    /// The row of `key` within the rows `lo..hi`.
    #[inline]
    fn find_in(&self, key: u64, (lo, hi): (usize, usize)) -> Option<u32> {
        let keys = self.keys.get(lo..hi)?;
        keys.binary_search(&key).ok().map(|i| (lo + i) as u32)
    }

    /// The row of the word unigram feature of `stem` (a stem as [`ParsedQuery::all_stems`]
    /// gives it), for expansion by term without featurizing text.
    pub fn unigram_row(&self, stem: &str) -> Option<u32> {
        self.row_of(unigram_key(stem))
    }

    /// The query's feature vector: `out` is cleared and receives `(row, value)` pairs, unique
    /// rows in ascending order, TF-IDF weighted, L2-normalized. Features the model does not
    /// know are dropped. `keys` is scratch for the extraction. No allocation once both buffers
    /// have grown.
    pub fn featurize_into(&self, q: &ParsedQuery, keys: &mut Vec<u64>, out: &mut Vec<(u32, f32)>) {
        out.clear();
        self.featurize_text_into(q, 1.0, keys, out);
    }

    /// Appends the feature vector of `q`, scaled to L2 norm `weight`, to `out` (which may hold
    /// other vectors already). Composable: append the query's vector and weighted vectors of
    /// expansion texts, then call [`finish`] to merge and renormalize the sum.
    ///
    /// Each feature block (words, pairs, characters) gets sublinear TF (`1 + ln tf`) times IDF
    /// and is L2-normalized on its own, then the text's whole vector is normalized: the same
    /// weighting the model was trained with. The appended rows are unique and ascending.
    pub fn featurize_text_into(
        &self,
        q: &ParsedQuery,
        weight: f32,
        keys: &mut Vec<u64>,
        out: &mut Vec<(u32, f32)>,
    ) {
        let start = out.len();
        keys.clear();
        for block in 0..NUM_BLOCKS {
            features::block_keys(&self.feature_config, q, block, &mut |key| keys.push(key));
        }
        // One sort for all blocks: repeats (whose count is the term frequency) end up
        // adjacent, and rows, the ranks of the sorted model keys, come out ascending.
        keys.sort_unstable();
        self.rows_of_sorted(keys, out);
        // Each key carries its block (`hash::with_block`), so a row finds its block from the
        // model key it was found under, a line the lookup has just read.
        let block = |row: u32| {
            self.keys
                .get(row as usize)
                .map_or(0, |&k| hash::block_of(k))
        };
        let mut sq = [0.0f32; 4];
        for f in &mut out[start..] {
            let tf = f.1;
            let idf = self.idf.get(f.0 as usize).copied().unwrap_or(0.0);
            f.1 = if tf == 1.0 {
                idf
            } else {
                (1.0 + tf.ln()) * idf
            };
            sq[block(f.0)] += f.1 * f.1;
        }
        let scale = sq.map(|s| {
            if s > 0.0 && s.is_finite() {
                1.0 / s.sqrt()
            } else {
                1.0
            }
        });
        for f in &mut out[start..] {
            f.1 *= scale[block(f.0)];
        }
        scale_to_norm(&mut out[start..], weight);
    }

    /// Pushes `(row, count)` for each distinct known key of sorted `keys`.
    ///
    /// Lookups are cache misses into a large array; they go in chunks whose directory entries
    /// and key lines are all read before any is searched, so a chunk's misses overlap instead
    /// of following one another.
    fn rows_of_sorted(&self, keys: &[u64], out: &mut Vec<(u32, f32)>) {
        const CHUNK: usize = 16;
        let mut i = 0usize;
        while i < keys.len() {
            // (key, count, candidate rows)
            let mut batch = [(0u64, 0u32, (0usize, 0usize)); CHUNK];
            let mut len = 0;
            let mut touched = 0u64;
            while len < CHUNK && i < keys.len() {
                let key = keys[i];
                let mut end = i + 1;
                while end < keys.len() && keys[end] == key {
                    end += 1;
                }
                let range = self.key_range(key);
                touched ^= self.keys.get(range.0).copied().unwrap_or(0);
                batch[len] = (key, (end - i) as u32, range);
                len += 1;
                i = end;
            }
            std::hint::black_box(touched);
            let mut touched = 0u32;
            for &(key, count, range) in &batch[..len] {
                if let Some(row) = self.find_in(key, range) {
                    // The row's IDF and bounds are read next (weighting, scoring): touch them
                    // now, while this chunk's other lookups are in flight.
                    touched ^= self.idf.get(row as usize).map_or(0, |f| f.to_bits());
                    touched ^= self.row_start.get(row as usize).copied().unwrap_or(0);
                    out.push((row, count as f32));
                }
            }
            std::hint::black_box(touched);
        }
    }

    /// The logits of all outputs for a feature vector: `logits` is cleared and receives
    /// `bias[c] + Σ value · weight` over the postings of the vector's rows, one entry per
    /// output ([`ModelView::num_outputs`]). Only the postings of the given rows are read.
    ///
    /// Rows are scattered over the postings, so each one starts with cache misses. Features are
    /// taken in chunks: the chunk's row bounds are read, and the first posting of each row is
    /// touched, before any is summed, so the misses of a chunk overlap instead of following one
    /// another. A dense row is one vectorized pass over the output array.
    pub fn score_into(&self, feats: &[(u32, f32)], logits: &mut Vec<f32>) {
        const CHUNK: usize = 8;
        let outputs = self.bias.len();
        logits.clear();
        logits.extend_from_slice(self.bias);
        for chunk in feats.chunks(CHUNK) {
            // (dense, start, end, value): a range of the postings, or of the dense weights.
            let mut spans = [(false, 0usize, 0usize, 0.0f32); CHUNK];
            let mut touched = 0u32;
            for (span, &(row, value)) in spans.iter_mut().zip(chunk) {
                let std::ops::Range { start: s, end: e } = self.postings_span(row);
                if s < e {
                    *span = (false, s, e, value);
                    touched ^= self.post_class.get(s).copied().unwrap_or(0);
                    touched ^= self.post_weight.get(s).map_or(0, |w| w.to_bits());
                } else if let Some(slot) = self.dense_slot(row) {
                    let s = slot * outputs;
                    *span = (true, s, s + outputs, value);
                    touched ^= self.dense.get(s).map_or(0, |&w| w as u32);
                }
            }
            std::hint::black_box(touched);
            for &(dense, s, e, value) in &spans[..chunk.len()] {
                if dense {
                    if let Some(weights) = self.dense.get(s..e) {
                        axpy_bf16(logits, value, weights);
                    }
                    continue;
                }
                let (Some(classes), Some(weights)) =
                    (self.post_class.get(s..e), self.post_weight.get(s..e))
                else {
                    continue;
                };
                for (&c, &w) in classes.iter().zip(weights) {
                    if let Some(l) = logits.get_mut(c as usize) {
                        *l += value * w;
                    }
                }
            }
        }
    }

    /// The sparse postings range of `row` (empty for a dense row or a row out of range).
    #[inline]
    pub fn postings_span(&self, row: u32) -> std::ops::Range<usize> {
        let r = row as usize;
        match (self.row_start.get(r), self.row_start.get(r + 1)) {
            (Some(&s), Some(&e)) => s as usize..e as usize,
            _ => 0..0,
        }
    }

    /// The weight of feature `row` for output `class`, if the model kept one (a dense row keeps
    /// every weight, zeros included).
    pub fn weight(&self, row: u32, class: u32) -> Option<f32> {
        if let Some(dense) = self.dense_row(row) {
            return dense.get(class as usize).map(|&b| bf16_to_f32(b));
        }
        let span = self.postings_span(row);
        let i = self
            .post_class
            .get(span.clone())?
            .binary_search(&class)
            .ok()?;
        self.post_weight.get(span.start + i).copied()
    }

    /// The weights of `row` for every output (bfloat16 bits), when it is stored dense.
    #[inline]
    pub fn dense_row(&self, row: u32) -> Option<&'a [u16]> {
        let i = self.dense_slot(row)?;
        let outputs = self.bias.len();
        self.dense.get(i * outputs..(i + 1) * outputs)
    }

    /// The index of `row` among the dense rows: a bit test and a popcount with the dense map,
    /// a binary search without one.
    #[inline]
    pub fn dense_slot(&self, row: u32) -> Option<usize> {
        if self.dense_map.is_empty() {
            return self.dense_rows.binary_search(&row).ok();
        }
        let (bits, rank) = *self.dense_map.get(row as usize / 64)?;
        let bit = 1u64 << (row % 64);
        (bits & bit != 0).then(|| rank as usize + (bits & (bit - 1)).count_ones() as usize)
    }
}

impl ModelView<'_> {
    /// Turns `extra`, the logits of a vector `e` (as [`ModelView::score_into`] gives them, bias
    /// included), into the logits of `(q + e) / norm`, where `base` holds the logits of `q` and
    /// `norm` is `‖q + e‖` (see [`sum_norm`]). Scoring is linear in the features, so a refinement
    /// pass that adds a few expansion features to a scored query only scores the additions:
    /// the same numbers as scoring the renormalized sum, up to rounding.
    pub fn add_scaled_logits(&self, base: &[f32], extra: &mut [f32], norm: f32) {
        if !(norm > 0.0 && norm.is_finite()) {
            extra.copy_from_slice(base);
            return;
        }
        let k = 1.0 / norm;
        for ((e, &b), &bias) in extra.iter_mut().zip(base).zip(self.bias) {
            *e = bias + (b - bias + *e - bias) * k;
        }
    }
}

/// A bucket directory over sorted `keys`: with `bits` = ⌈log₂ n⌉ − 2 (about 2.5 keys per
/// bucket), entry `b` is the first row whose key's top `bits` bits are ≥ `b`; there are
/// `2^bits + 1` entries, the last being `keys.len()`. Costs 1.6 bytes per key (keys themselves
/// cost 8) and turns a lookup into one directory read and a scan of a few adjacent keys. Keys
/// are finalized hashes, uniform over `u64`, so buckets are evenly filled.
pub fn build_key_index(keys: &[u64]) -> Vec<u32> {
    let bits = index_bits_for(keys.len());
    let buckets = 1usize << bits;
    let mut index = Vec::with_capacity(buckets + 1);
    let mut j = 0usize;
    for b in 0..buckets {
        while j < keys.len() && (keys[j].checked_shr(64 - bits).unwrap_or(0) as usize) < b {
            j += 1;
        }
        index.push(j as u32);
    }
    index.push(keys.len() as u32);
    index
}

/// The dense map of a model with `rows` feature rows: entry `w` holds the bitmap of rows
/// `64w..64w + 64` (bit set = dense) and the number of dense rows before `64w`, so the dense
/// index of a row is one entry read and a popcount. 12 bytes per 64 rows (24 KB for 136k
/// rows, small enough to stay in cache), instead of a dependent binary search per feature.
pub fn build_dense_map(dense_rows: &[u32], rows: usize) -> Vec<(u64, u32)> {
    let mut map = vec![(0u64, 0u32); rows.div_ceil(64)];
    for &r in dense_rows {
        if let Some(entry) = map.get_mut(r as usize / 64) {
            entry.0 |= 1u64 << (r % 64);
        }
    }
    let mut rank = 0u32;
    for entry in &mut map {
        entry.1 = rank;
        rank += entry.0.count_ones();
    }
    map
}

/// Whether `map` is exactly [`build_dense_map`] of `dense_rows` (strictly increasing, `< rows`,
/// as validation has already checked), without allocating.
fn dense_map_matches(map: &[(u64, u32)], dense_rows: &[u32], rows: usize) -> bool {
    if map.len() != rows.div_ceil(64) {
        return false;
    }
    let mut next = dense_rows.iter().peekable();
    let mut rank = 0u32;
    for (w, &(bits, stored_rank)) in map.iter().enumerate() {
        let mut expected = 0u64;
        while let Some(&&r) = next.peek() {
            if r as usize / 64 != w {
                break;
            }
            expected |= 1u64 << (r % 64);
            next.next();
        }
        if bits != expected || stored_rank != rank {
            return false;
        }
        rank += bits.count_ones();
    }
    next.peek().is_none()
}

/// Directory size for `n` keys.
fn index_bits_for(n: usize) -> u32 {
    let log = usize::BITS - n.max(1).leading_zeros(); // ⌈log₂(n + 1)⌉-ish
    log.saturating_sub(2).min(30)
}

/// The directory's `bits`, when it is a usable directory (`2^bits + 1` entries).
#[inline]
fn key_index_bits(index: &[u32]) -> Option<u32> {
    let buckets = index.len().checked_sub(1)?;
    (buckets.is_power_of_two() && buckets <= 1 << 30).then(|| buckets.trailing_zeros())
}

/// Checks that `index` is empty or exactly [`build_key_index`] of `keys`, without allocating.
fn validate_key_index(keys: &[u64], index: &[u32]) -> Result<(), ModelError> {
    if index.is_empty() {
        return Ok(());
    }
    let bits = key_index_bits(index).ok_or(ModelError::KeyIndex { index: 0 })?;
    let mut j = 0usize;
    for (b, &start) in index[..index.len() - 1].iter().enumerate() {
        while j < keys.len() && (keys[j].checked_shr(64 - bits).unwrap_or(0) as usize) < b {
            j += 1;
        }
        if start as usize != j {
            return Err(ModelError::KeyIndex { index: b });
        }
    }
    if index[index.len() - 1] as usize != keys.len() {
        return Err(ModelError::KeyIndex {
            index: index.len() - 1,
        });
    }
    Ok(())
}

/// Scales `v` to L2 norm `norm` (left as is when all zero).
fn scale_to_norm(v: &mut [(u32, f32)], norm: f32) {
    let sq: f32 = v.iter().map(|f| f.1 * f.1).sum();
    if sq > 0.0 && sq.is_finite() {
        let k = norm / sq.sqrt();
        for f in v {
            f.1 *= k;
        }
    }
}

/// Sorts `v` by row and merges duplicate rows by summing, without normalizing: the form
/// [`sum_norm`] and [`ModelView::add_scaled_logits`] take. No allocation.
pub fn merge(v: &mut Vec<(u32, f32)>) {
    v.sort_unstable_by_key(|f| f.0);
    let mut w = 0;
    for r in 0..v.len() {
        if w > 0 && v[w - 1].0 == v[r].0 {
            v[w - 1].1 += v[r].1;
        } else {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
    v.retain(|f| f.1 != 0.0 && f.1.is_finite());
}

/// The L2 norm of `a + b` for two vectors sorted by row with unique rows (as [`finish`] and
/// [`merge`] leave them), by one merge-join: the norm [`finish`] would give their concatenation.
pub fn sum_norm(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut sq) = (0, 0, 0.0f32);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                i += 1;
                j += 1;
                x.1 + y.1
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                i += 1;
                x.1
            }
            (Some(x), None) => {
                i += 1;
                x.1
            }
            (_, Some(y)) => {
                j += 1;
                y.1
            }
            (None, None) => break,
        };
        sq += v * v;
    }
    sq.sqrt()
}

/// Finishes a composed feature vector (see [`ModelView::featurize_text_into`]): merges
/// duplicate rows by summing, drops zero entries, L2-normalizes. No allocation.
pub fn finish(out: &mut Vec<(u32, f32)>) {
    merge(out);
    scale_to_norm(out, 1.0);
}

#[cfg(test)]
mod tests;
