//! Transposing the per-output weights into the inverted index: postings per feature row,
//! classes ascending within a row.

use super::{TrainError, Trained};

/// The CSR postings of a model.
pub(super) struct Postings {
    pub(super) row_start: Vec<u32>,
    pub(super) post_class: Vec<u32>,
    pub(super) post_weight: Vec<f32>,
}

pub(super) fn invert(trained: &[Trained], n_features: usize) -> Result<Postings, TrainError> {
    let mut counts = vec![0u32; n_features + 1];
    for (kept, _, _) in trained {
        for &(j, _) in kept {
            counts[j as usize + 1] += 1;
        }
    }
    let total: u64 = counts.iter().map(|&c| c as u64).sum();
    if total >= u32::MAX as u64 {
        return Err(TrainError::TooLarge);
    }
    for j in 0..n_features {
        counts[j + 1] += counts[j];
    }
    let row_start = counts;
    let mut fill: Vec<u32> = row_start[..n_features].to_vec();
    let mut post_class = vec![0u32; total as usize];
    let mut post_weight = vec![0f32; total as usize];
    for (c, (kept, _, _)) in trained.iter().enumerate() {
        for &(j, w) in kept {
            let p = fill[j as usize] as usize;
            post_class[p] = c as u32;
            post_weight[p] = w;
            fill[j as usize] += 1;
        }
    }
    Ok(Postings {
        row_start,
        post_class,
        post_weight,
    })
}
