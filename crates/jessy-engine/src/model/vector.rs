//! Sparse feature vectors `(row, value)`: merging, norms and normalization, allocation-free.

/// Scales `v` to L2 norm `norm` (left as is when all zero).
pub(super) fn scale_to_norm(v: &mut [(u32, f32)], norm: f32) {
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
#[cfg(test)]
pub fn finish(out: &mut Vec<(u32, f32)>) {
    merge(out);
    scale_to_norm(out, 1.0);
}
