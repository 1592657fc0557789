//! [`ModelView`]: the query path's side of the model — feature lookup, featurization and
//! scoring over borrowed arrays, allocation-free with reused buffers.

use super::features::{self, NUM_BLOCKS};
use super::hash::{self, unigram_key};
use super::index::key_index_bits;
use super::simd::{axpy_bf16, bf16_to_f32};
use super::vector::scale_to_norm;
use super::FeatureConfig;
#[allow(unused_imports)] // named in doc links
use super::{build_dense_map, build_key_index, Model};
use crate::parser::ParsedQuery;
use crate::storage::ModelSections;

/// The model's arrays, borrowed (from a [`Model`] or a mapped snapshot), with the lookup
/// structures derived from them. Cheap to copy. The stored arrays are storage's
/// [`ModelSections`], so the set of arrays is defined once, where the file layout is.
#[derive(Debug, Clone, Copy)]
pub struct ModelView<'a> {
    /// How features were extracted.
    pub feature_config: FeatureConfig,
    /// Number of in-scope classes.
    pub num_classes: u32,
    /// The stored arrays: keys, IDF, CSR rows and postings, bias, dense rows.
    pub arrays: ModelSections<'a>,
    /// Bucket directory over `arrays.keys` ([`build_key_index`]), or empty.
    pub key_index: &'a [u32],
    /// Bitmap and rank over the dense rows ([`build_dense_map`]), or empty.
    pub dense_map: &'a [(u64, u32)],
}

impl<'a> ModelView<'a> {
    /// Number of outputs: the classes, plus the out-of-scope class if the model has one.
    pub fn num_outputs(&self) -> usize {
        self.arrays.bias.len()
    }

    /// Whether output `num_classes` is an out-of-scope class.
    pub fn has_out_of_scope_class(&self) -> bool {
        self.arrays.bias.len() > self.num_classes as usize
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
            return (0, self.arrays.keys.len());
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
        let keys = self.arrays.keys.get(lo..hi)?;
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
            self.arrays
                .keys
                .get(row as usize)
                .map_or(0, |&k| hash::block_of(k))
        };
        let mut sq = [0.0f32; 4];
        for f in &mut out[start..] {
            let tf = f.1;
            let idf = self.arrays.idf.get(f.0 as usize).copied().unwrap_or(0.0);
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
                touched ^= self.arrays.keys.get(range.0).copied().unwrap_or(0);
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
                    touched ^= self.arrays.idf.get(row as usize).map_or(0, |f| f.to_bits());
                    touched ^= self
                        .arrays
                        .row_start
                        .get(row as usize)
                        .copied()
                        .unwrap_or(0);
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
        let outputs = self.num_outputs();
        logits.clear();
        logits.extend_from_slice(self.arrays.bias);
        for chunk in feats.chunks(CHUNK) {
            // (dense, start, end, value): a range of the postings, or of the dense weights.
            let mut spans = [(false, 0usize, 0usize, 0.0f32); CHUNK];
            let mut touched = 0u32;
            for (span, &(row, value)) in spans.iter_mut().zip(chunk) {
                let std::ops::Range { start: s, end: e } = self.postings_span(row);
                if s < e {
                    *span = (false, s, e, value);
                    touched ^= self.arrays.post_class.get(s).copied().unwrap_or(0);
                    touched ^= self.arrays.post_weight.get(s).map_or(0, |w| w.to_bits());
                } else if let Some(slot) = self.dense_slot(row) {
                    let s = slot * outputs;
                    *span = (true, s, s + outputs, value);
                    touched ^= self.arrays.dense.get(s).map_or(0, |&w| w as u32);
                }
            }
            std::hint::black_box(touched);
            for &(dense, s, e, value) in &spans[..chunk.len()] {
                if dense {
                    if let Some(weights) = self.arrays.dense.get(s..e) {
                        axpy_bf16(logits, value, weights);
                    }
                    continue;
                }
                let (Some(classes), Some(weights)) = (
                    self.arrays.post_class.get(s..e),
                    self.arrays.post_weight.get(s..e),
                ) else {
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
        match (
            self.arrays.row_start.get(r),
            self.arrays.row_start.get(r + 1),
        ) {
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
            .arrays
            .post_class
            .get(span.clone())?
            .binary_search(&class)
            .ok()?;
        self.arrays.post_weight.get(span.start + i).copied()
    }

    /// The largest weight feature `row` gives any in-scope class (not the out-of-scope
    /// output), or `None` when it gives none a positive weight: how much the feature alone can
    /// speak for some layer.
    pub fn best_class_weight(&self, row: u32) -> Option<f32> {
        let classes = self.num_classes as usize;
        let best = if let Some(dense) = self.dense_row(row) {
            dense
                .iter()
                .take(classes)
                .map(|&b| bf16_to_f32(b))
                .fold(0.0f32, f32::max)
        } else {
            let span = self.postings_span(row);
            let (Some(cls), Some(ws)) = (
                self.arrays.post_class.get(span.clone()),
                self.arrays.post_weight.get(span),
            ) else {
                return None;
            };
            cls.iter()
                .zip(ws)
                .filter(|&(&c, _)| (c as usize) < classes)
                .map(|(_, &w)| w)
                .fold(0.0f32, f32::max)
        };
        (best > 0.0).then_some(best)
    }

    /// The weights of `row` for every output (bfloat16 bits), when it is stored dense.
    #[inline]
    pub fn dense_row(&self, row: u32) -> Option<&'a [u16]> {
        let i = self.dense_slot(row)?;
        let outputs = self.arrays.bias.len();
        self.arrays.dense.get(i * outputs..(i + 1) * outputs)
    }

    /// The index of `row` among the dense rows: a bit test and a popcount with the dense map,
    /// a binary search without one.
    #[inline]
    pub fn dense_slot(&self, row: u32) -> Option<usize> {
        if self.dense_map.is_empty() {
            return self.arrays.dense_rows.binary_search(&row).ok();
        }
        let (bits, rank) = *self.dense_map.get(row as usize / 64)?;
        let bit = 1u64 << (row % 64);
        (bits & bit != 0).then(|| rank as usize + (bits & (bit - 1)).count_ones() as usize)
    }
}

impl ModelView<'_> {
    /// Reads one word of every cache line of the model's arrays and lookup structures, so the
    /// next queries find them in the caches (see `Engine::rewarm`); returns a checksum the
    /// caller must use (`black_box`) so the reads are not optimized away.
    pub fn touch(&self) -> u64 {
        fn lines<T: Copy>(slice: &[T], word: impl Fn(T) -> u64) -> u64 {
            let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
            slice
                .iter()
                .step_by(step)
                .fold(0u64, |acc, &x| acc ^ word(x))
        }
        let a = &self.arrays;
        lines(a.keys, |k| k)
            ^ lines(a.idf, |f| u64::from(f.to_bits()))
            ^ lines(a.row_start, u64::from)
            ^ lines(a.post_class, u64::from)
            ^ lines(a.post_weight, |f| u64::from(f.to_bits()))
            ^ lines(a.bias, |f| u64::from(f.to_bits()))
            ^ lines(a.dense_rows, u64::from)
            ^ lines(a.dense, u64::from)
            ^ lines(self.key_index, u64::from)
            ^ lines(self.dense_map, |(bits, rank)| bits ^ u64::from(rank))
    }

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
        for ((e, &b), &bias) in extra.iter_mut().zip(base).zip(self.arrays.bias) {
            *e = bias + (b - bias + *e - bias) * k;
        }
    }
}
