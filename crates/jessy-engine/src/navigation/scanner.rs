//! The Dimension Scanner: scores every layer of every dimension from the query's features.
//!
//! The learned model is a sparse inverted index: each feature row holds postings
//! `(layer, weight)` sorted by layer. A layer's logit is its bias plus the weighted sum of the
//! postings of the query's features; its confidence is the logistic of that logit.
//!
//! Two strategies compute the same numbers:
//! - **sequential**: one pass over each feature's postings into one logit array;
//! - **parallel**: one rayon task per dimension; each task binary-searches, in every feature's
//!   postings, the sub-range that belongs to its dimension (layers of a dimension are
//!   contiguous) and accumulates into its own disjoint slice.
//!
//! Which is faster depends on the registry size; [`ScanStrategy::Auto`] picks by the number of
//! postings a query touches, with the crossover measured by the `pipeline` criterion bench.

use rayon::prelude::*;

use crate::learn::ModelView;
use crate::storage::format::DimensionRecord;

/// Below this many postings touched by one query, [`ScanStrategy::Auto`] stays sequential.
/// Measured with `cargo bench -p jessy-engine --bench pipeline` on the 2-core development
/// machine, parallel lost everywhere: 4.5× slower on the default registry and 2.2× slower on
/// 10,000 layers, whose queries touch a few hundred thousand postings (rayon's fork/join plus
/// a binary search per feature and dimension cost more than the sums they split). No crossover was
/// observed; this bound, ten times the largest load measured, is an estimate, not a measurement.
pub const PARALLEL_MIN_POSTINGS: usize = 2_000_000;

/// How the scanner spreads work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScanStrategy {
    /// One thread.
    Sequential,
    /// One rayon task per dimension.
    Parallel,
    /// Parallel when the query touches at least [`PARALLEL_MIN_POSTINGS`] postings.
    #[default]
    Auto,
}

/// Computes logits for every class (bias + postings) into `logits`. The sequential strategy
/// is the model's own [`ModelView::score_into`], the sum calibration measured.
pub fn score(
    model: &ModelView<'_>,
    dimensions: &[DimensionRecord],
    features: &[(u32, f32)],
    strategy: ScanStrategy,
    logits: &mut Vec<f32>,
) {
    let parallel = match strategy {
        ScanStrategy::Sequential => false,
        ScanStrategy::Parallel => true,
        ScanStrategy::Auto => touched_postings(model, features) >= PARALLEL_MIN_POSTINGS,
    };
    if parallel && dimensions.len() > 1 {
        logits.clear();
        logits.extend_from_slice(model.bias);
        score_parallel(model, dimensions, features, logits);
    } else {
        model.score_into(features, logits);
    }
}

/// Postings a query touches, counting a row without sparse postings as dense (one posting
/// per output): an upper bound that reads only the row bounds, which scoring reads next anyway.
fn touched_postings(model: &ModelView<'_>, features: &[(u32, f32)]) -> usize {
    features
        .iter()
        .map(|&(r, _)| match model.postings_span(r).len() {
            0 => model.num_outputs(),
            n => n,
        })
        .sum()
}

fn score_parallel(
    model: &ModelView<'_>,
    dimensions: &[DimensionRecord],
    features: &[(u32, f32)],
    logits: &mut [f32],
) {
    // Split the logit array into one disjoint slice per dimension (plus any extra classes, such
    // as an out-of-scope class, scored sequentially after).
    let mut slices: Vec<(u32, &mut [f32])> = Vec::with_capacity(dimensions.len());
    let mut rest = logits;
    let mut offset = 0u32;
    for d in dimensions {
        let (head, tail) = rest.split_at_mut((d.layers.count as usize).min(rest.len()));
        slices.push((offset, head));
        offset += d.layers.count;
        rest = tail;
    }
    let extra_start = offset;
    slices.par_iter_mut().for_each(|(start, slice)| {
        let end = *start + slice.len() as u32;
        for &(r, value) in features {
            let span = model.postings_span(r);
            if span.is_empty() {
                if let Some(dense) = model.dense_row(r) {
                    let part = dense.get(*start as usize..end as usize).unwrap_or(&[]);
                    crate::learn::axpy_bf16(slice, value, part);
                }
                continue;
            }
            let classes = &model.post_class[span.clone()];
            let weights = &model.post_weight[span];
            let lo = classes.partition_point(|&c| c < *start);
            let hi = lo + classes[lo..].partition_point(|&c| c < end);
            for (&c, &w) in classes[lo..hi].iter().zip(&weights[lo..hi]) {
                slice[(c - *start) as usize] += value * w;
            }
        }
    });
    for &(r, value) in features {
        let span = model.postings_span(r);
        if span.is_empty() {
            if let Some(dense) = model.dense_row(r) {
                let part = dense.get(extra_start as usize..).unwrap_or(&[]);
                crate::learn::axpy_bf16(rest, value, part);
            }
            continue;
        }
        let classes = &model.post_class[span.clone()];
        let weights = &model.post_weight[span];
        let lo = classes.partition_point(|&c| c < extra_start);
        for (&c, &w) in classes[lo..].iter().zip(&weights[lo..]) {
            if let Some(l) = rest.get_mut((c - extra_start) as usize) {
                *l += value * w;
            }
        }
    }
}
