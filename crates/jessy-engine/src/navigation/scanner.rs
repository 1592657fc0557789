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

use crate::storage::{format::DimensionRecord, ModelArrays};

/// Above this many postings touched by one query, the parallel strategy wins on this class of
/// machine. Measured with `cargo bench -p jessy-engine --bench pipeline -- scan` (see the
/// README's performance section): below it, rayon's fork/join (a few µs) costs more than the
/// scoring it splits.
pub const PARALLEL_MIN_POSTINGS: usize = 200_000;

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

/// Computes logits for every class (bias + postings) into `logits`.
pub fn score(
    model: &ModelArrays<'_>,
    dimensions: &[DimensionRecord],
    features: &[(u32, f32)],
    strategy: ScanStrategy,
    logits: &mut Vec<f32>,
) {
    logits.clear();
    logits.extend_from_slice(model.bias);
    let parallel = match strategy {
        ScanStrategy::Sequential => false,
        ScanStrategy::Parallel => true,
        ScanStrategy::Auto => touched_postings(model, features) >= PARALLEL_MIN_POSTINGS,
    };
    if parallel && dimensions.len() > 1 {
        score_parallel(model, dimensions, features, logits);
    } else {
        score_sequential(model, features, logits);
    }
}

/// Logits of every class, one thread: bias plus postings (used by calibration and tests).
pub fn score_all(model: &ModelArrays<'_>, features: &[(u32, f32)], logits: &mut Vec<f32>) {
    logits.clear();
    logits.extend_from_slice(model.bias);
    score_sequential(model, features, logits);
}

fn row(model: &ModelArrays<'_>, r: u32) -> std::ops::Range<usize> {
    let r = r as usize;
    match (model.rows.get(r), model.rows.get(r + 1)) {
        (Some(&s), Some(&e)) => s as usize..e as usize,
        _ => 0..0,
    }
}

fn touched_postings(model: &ModelArrays<'_>, features: &[(u32, f32)]) -> usize {
    features.iter().map(|&(r, _)| row(model, r).len()).sum()
}

fn score_sequential(model: &ModelArrays<'_>, features: &[(u32, f32)], logits: &mut [f32]) {
    for &(r, value) in features {
        let span = row(model, r);
        let classes = &model.post_class[span.clone()];
        let weights = &model.post_weight[span];
        for (&c, &w) in classes.iter().zip(weights) {
            if let Some(l) = logits.get_mut(c as usize) {
                *l += value * w;
            }
        }
    }
}

fn score_parallel(
    model: &ModelArrays<'_>,
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
            let span = row(model, r);
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
        let span = row(model, r);
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
