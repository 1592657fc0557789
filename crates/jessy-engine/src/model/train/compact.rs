//! Compacting a trained index: pruning postings that cannot move a logit, and storing the
//! frequent rows dense.

use crate::model::simd::bf16_from_f32;
use crate::model::Model;

/// Drops the postings that can never move a logit by `min_contribution` or more: those with
/// `|weight| · max_value[row] < min_contribution`, where `max_value` is the largest value the
/// feature took in a training document ([`TrainStats::max_value`](super::TrainStats::max_value)).
///
/// Pruning by contribution rather than by raw weight is what keeps the index sparse where it
/// matters: very common features (`" w"`, `"the"`) have small values in every document but a
/// small weight in nearly every class, and they are exactly the rows every query reads.
#[cfg(feature = "internals")]
pub fn prune(model: &mut Model, max_value: &[f32], min_contribution: f32) {
    retain_postings(model, |row, _, weight| {
        let bound = max_value.get(row).copied().unwrap_or(f32::INFINITY);
        weight.abs() * bound >= min_contribution
    });
}

/// Keeps the sparse postings for which `keep(row, class, weight)` holds, compacting the index
/// in place (row order and each row's class order are preserved).
fn retain_postings(model: &mut Model, mut keep: impl FnMut(usize, u32, f32) -> bool) {
    let (mut w, mut start) = (0usize, 0usize);
    for row in 0..model.keys.len() {
        let end = model.row_start[row + 1] as usize;
        for p in start..end {
            let (class, weight) = (model.post_class[p], model.post_weight[p]);
            if keep(row, class, weight) {
                model.post_class[w] = class;
                model.post_weight[w] = weight;
                w += 1;
            }
        }
        start = end;
        model.row_start[row + 1] = w as u32;
    }
    model.post_class.truncate(w);
    model.post_weight.truncate(w);
}

/// Share of the outputs a feature row must have postings for to be stored dense by [`train`](super::train).
///
/// A sparse posting costs a class load, a bounds check and a scattered add (about five
/// instructions and 8 bytes); a dense row costs a vectorized pass over every output (under one
/// instruction and 2 bytes per output). At a quarter filled the dense row takes the bytes of
/// its postings and a fraction of their instructions. On CLINC150 these rows (frequent
/// character n-grams and function words) are 4% of the rows and 73% of a query's features.
pub const DENSE_MIN_FILL: f32 = 0.25;

/// Moves the rows with postings for at least `min_fill` of the outputs out of the sparse
/// index into dense storage (zeros where a posting was pruned, weights rounded to bfloat16),
/// so that scoring them is one vectorized pass over half the bytes. A logit moves by at most
/// 2⁻⁸ of the dense contributions' absolute sum. Rows already dense stay as they are.
pub fn densify(model: &mut Model, min_fill: f32) {
    let outputs = model.bias.len();
    if outputs == 0 || !(min_fill.is_finite() && min_fill > 0.0) {
        return;
    }
    let min_len = ((min_fill as f64 * outputs as f64).ceil() as usize).max(1);
    let old_dense_rows = std::mem::take(&mut model.dense_rows);
    let old_dense = std::mem::take(&mut model.dense);
    let mut old = old_dense_rows
        .iter()
        .zip(old_dense.chunks_exact(outputs))
        .peekable();
    for row in 0..model.keys.len() {
        let (start, end) = (
            model.row_start[row] as usize,
            model.row_start[row + 1] as usize,
        );
        if let Some((_, weights)) = old.next_if(|(&r, _)| r as usize == row) {
            model.dense_rows.push(row as u32);
            model.dense.extend_from_slice(weights);
        } else if end - start >= min_len {
            model.dense_rows.push(row as u32);
            let base = model.dense.len();
            model.dense.resize(base + outputs, 0);
            for p in start..end {
                model.dense[base + model.post_class[p] as usize] =
                    bf16_from_f32(model.post_weight[p]);
            }
        }
    }
    model.dense_map = crate::model::build_dense_map(&model.dense_rows, model.keys.len());
    let dense = model.dense_map.clone();
    let is_dense = |row: usize| {
        dense
            .get(row / 64)
            .is_some_and(|&(bits, _)| bits & (1u64 << (row % 64)) != 0)
    };
    retain_postings(model, |row, _, _| !is_dense(row));
}
