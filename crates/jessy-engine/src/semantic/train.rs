//! Fitting the semantic head: one L2-regularized, L2-loss (squared hinge) linear SVM per output
//! on the encoder's vectors, by dual coordinate descent (Hsieh et al. 2008, liblinear's
//! `L2R_L2LOSS_SVC_DUAL`), outputs in parallel.
//!
//! Why the same loss as the lexical model: the cascade blends the two models' logits, and two
//! one-vs-rest squared-hinge classifiers put their decision boundary at 0 and their margins at
//! ±1, so their logits share a scale and one blend weight can mix them. The vectors are
//! L2-normalized and dense (384 floats for MiniLM), so a plain dense loop is the right tool.

use rayon::prelude::*;

/// Regularization (cost of a margin violation) when there are no validation lines to choose
/// one on: liblinear's default.
pub const DEFAULT_C: f32 = 1.0;
/// The costs [`fit_tuned`] tries, a factor of about three apart around liblinear's default:
/// enough to find the right order of magnitude, at three fits per build (the blend weight
/// chosen afterwards already scales the head's say, so finer steps would buy little).
pub const C_CANDIDATES: [f32; 3] = [0.3, 1.0, 3.0];
/// Stop when the projected gradient's spread over an epoch is below this (liblinear's default
/// for this solver is 0.1).
const TOLERANCE: f64 = 0.1;
/// Epoch cap: the dense problems here converge in a few dozen.
const MAX_EPOCHS: usize = 200;

/// One training vector and its label (`None` = out of scope).
pub struct Sample<'a> {
    /// The encoder's vector.
    pub vector: &'a [f32],
    /// Class, or `None` for an out-of-scope line.
    pub label: Option<u32>,
}

/// The head's weights: `outputs × dim` row-major, and one bias per output.
pub struct Fitted {
    /// Weights, row-major.
    pub weights: Vec<f32>,
    /// Biases.
    pub bias: Vec<f32>,
}

/// Trains one classifier per output: `num_classes` in-scope outputs, plus the out-of-scope
/// output when `out_of_scope_output` (its positives are the unlabeled samples).
pub fn fit(
    samples: &[Sample<'_>],
    dim: usize,
    num_classes: u32,
    out_of_scope_output: bool,
    c: f32,
) -> Fitted {
    let outputs = num_classes as usize + usize::from(out_of_scope_output);
    let rows: Vec<(Vec<f32>, f32)> = (0..outputs)
        .into_par_iter()
        .map(|o| {
            let y: Vec<f64> = samples
                .iter()
                .map(|s| {
                    let positive = match s.label {
                        Some(l) => l as usize == o,
                        None => o == num_classes as usize,
                    };
                    if positive {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            solve(samples, &y, dim, c as f64, o as u64)
        })
        .collect();
    let mut weights = Vec::with_capacity(outputs * dim);
    let mut bias = Vec::with_capacity(outputs);
    for (w, b) in rows {
        weights.extend(w);
        bias.push(b);
    }
    Fitted { weights, bias }
}

/// The head fit on `train` with the cost among `candidates` whose head answers the most
/// `val` samples right on its own (best output = the label, the out-of-scope output for an
/// unlabeled sample; without that output, an unlabeled sample is right when every output is
/// below 0). Ties go to the smaller cost (the more regularized head). Returns the cost and its
/// head; with no validation sample, [`DEFAULT_C`].
pub fn fit_tuned(
    train: &[Sample<'_>],
    val: &[Sample<'_>],
    dim: usize,
    num_classes: u32,
    out_of_scope_output: bool,
    candidates: &[f32],
) -> (f32, Fitted) {
    if val.is_empty() || candidates.is_empty() {
        return (
            DEFAULT_C,
            fit(train, dim, num_classes, out_of_scope_output, DEFAULT_C),
        );
    }
    let mut best: Option<(usize, f32, Fitted)> = None;
    for &c in candidates {
        let fitted = fit(train, dim, num_classes, out_of_scope_output, c);
        let right = val
            .iter()
            .filter(|s| fitted.answers_right(s, dim, num_classes, out_of_scope_output))
            .count();
        if best.as_ref().is_none_or(|(r, _, _)| right > *r) {
            best = Some((right, c, fitted));
        }
    }
    let (_, c, fitted) = best.expect("at least one candidate");
    (c, fitted)
}

impl Fitted {
    /// Whether the head alone answers `sample` right (see [`fit_tuned`]).
    fn answers_right(
        &self,
        sample: &Sample<'_>,
        dim: usize,
        num_classes: u32,
        out_of_scope_output: bool,
    ) -> bool {
        let scores: Vec<f32> = self
            .weights
            .chunks_exact(dim)
            .zip(&self.bias)
            .map(|(row, b)| {
                b + row
                    .iter()
                    .zip(sample.vector)
                    .map(|(w, x)| w * x)
                    .sum::<f32>()
            })
            .collect();
        let Some(best) = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])) else {
            return false;
        };
        match sample.label {
            Some(label) => best == label as usize,
            None if out_of_scope_output => best == num_classes as usize,
            None => scores.iter().all(|&v| v < 0.0),
        }
    }
}

/// Dual coordinate descent for one binary problem; the bias is an extra feature fixed at 1
/// (regularized with the weights, as liblinear does).
fn solve(samples: &[Sample<'_>], y: &[f64], dim: usize, c: f64, seed: u64) -> (Vec<f32>, f32) {
    let n = samples.len();
    let diag = 0.5 / c;
    let mut w = vec![0f64; dim];
    let mut b = 0f64;
    let mut alpha = vec![0f64; n];
    let q: Vec<f64> = samples
        .iter()
        .map(|s| {
            s.vector
                .iter()
                .map(|&x| (x as f64) * (x as f64))
                .sum::<f64>()
                + 1.0
                + diag
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..MAX_EPOCHS {
        // Fisher–Yates with xorshift: a fixed seed per output keeps builds reproducible.
        for i in (1..n).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let x = samples[i].vector;
            let wx: f64 = b + w
                .iter()
                .zip(x)
                .map(|(&wj, &xj)| wj * xj as f64)
                .sum::<f64>();
            let g = y[i] * wx - 1.0 + diag * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / q[i]).max(0.0);
                let d = (alpha[i] - old) * y[i];
                for (wj, &xj) in w.iter_mut().zip(x) {
                    *wj += d * xj as f64;
                }
                b += d;
            }
        }
        if pg_max - pg_min < TOLERANCE {
            break;
        }
    }
    (w.into_iter().map(|v| v as f32).collect(), b as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cost is chosen by validation accuracy: when a tiny cost cannot fit the data and a
    /// larger one can, the larger wins; without validation samples, the default is used.
    #[test]
    fn the_cost_is_chosen_on_validation_samples() {
        // Class 0 near (1, 0), class 1 near (1, 0.2): close clusters a heavily regularized
        // head cannot separate.
        let points: Vec<(Vec<f32>, Option<u32>)> = (0..40)
            .map(|i| {
                let j = (i % 5) as f32 * 0.01;
                if i % 2 == 0 {
                    (vec![1.0, 0.0 + j], Some(0))
                } else {
                    (vec![1.0, 0.2 - j], Some(1))
                }
            })
            .collect();
        let samples: Vec<Sample> = points
            .iter()
            .map(|(v, l)| Sample {
                vector: v,
                label: *l,
            })
            .collect();
        let (train, val) = samples.split_at(30);
        let (c, fitted) = fit_tuned(train, val, 2, 2, false, &[1e-4, 100.0]);
        assert_eq!(c, 100.0);
        assert!(val.iter().all(|s| fitted.answers_right(s, 2, 2, false)));
        let (c, _) = fit_tuned(train, &[], 2, 2, false, &C_CANDIDATES);
        assert_eq!(c, DEFAULT_C);
    }

    #[test]
    fn separable_clusters_are_learned() {
        // Three directions in 3-D: class 0, class 1, and out-of-scope.
        let points: Vec<(Vec<f32>, Option<u32>)> = (0..30)
            .map(|i| {
                let j = (i % 5) as f32 * 0.02;
                match i % 3 {
                    0 => (vec![1.0 - j, j, 0.0], Some(0)),
                    1 => (vec![j, 1.0 - j, 0.0], Some(1)),
                    _ => (vec![0.0, j, 1.0 - j], None),
                }
            })
            .collect();
        let samples: Vec<Sample> = points
            .iter()
            .map(|(v, l)| Sample {
                vector: v,
                label: *l,
            })
            .collect();
        let fitted = fit(&samples, 3, 2, true, 1.0);
        assert_eq!(fitted.weights.len(), 9);
        for (v, label) in &points {
            let scores: Vec<f32> = (0..3)
                .map(|o| {
                    fitted.bias[o]
                        + (0..3)
                            .map(|j| fitted.weights[o * 3 + j] * v[j])
                            .sum::<f32>()
                })
                .collect();
            let best = (0..3)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap();
            assert_eq!(best, label.map_or(2, |l| l as usize), "{v:?}: {scores:?}");
        }
    }
}
