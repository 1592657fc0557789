//! Glue between the learned model's arrays as stored in a snapshot and the scorer.

use crate::storage::ModelArrays;

/// Checks the model arrays' internal invariants, so a corrupt snapshot is refused at open.
pub fn validate_arrays(m: &ModelArrays<'_>) -> Result<(), String> {
    let n = m.keys.len();
    if m.idf.len() != n {
        return Err(format!("{} idf values for {n} features", m.idf.len()));
    }
    if m.rows.len() != n + 1 {
        return Err(format!("{} row starts for {n} features", m.rows.len()));
    }
    if m.keys.windows(2).any(|w| w[0] >= w[1]) {
        return Err("feature keys are not strictly increasing".into());
    }
    if m.rows.first().copied().unwrap_or(1) != 0 || m.rows.windows(2).any(|w| w[0] > w[1]) {
        return Err("row starts are not monotone from 0".into());
    }
    let postings = m.post_class.len();
    if m.post_weight.len() != postings || m.rows.last().copied().unwrap_or(0) as usize != postings {
        return Err("posting arrays disagree with row starts".into());
    }
    let classes = m.bias.len();
    if classes < m.num_classes as usize {
        return Err(format!("{classes} biases for {} classes", m.num_classes));
    }
    if m.post_class.iter().any(|&c| c as usize >= classes) {
        return Err("posting class out of range".into());
    }
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    if !finite(m.idf) || !finite(m.post_weight) || !finite(m.bias) || !m.threshold.is_finite() {
        return Err("non-finite weight".into());
    }
    Ok(())
}
