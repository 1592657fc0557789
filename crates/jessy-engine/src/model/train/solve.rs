//! The one-vs-rest solvers: dual coordinate descent for the squared hinge and logistic losses.

use rayon::prelude::*;

use super::docs::{Corpus, Docs};
use super::{Loss, TrainConfig, Trained};

/// Trains one classifier per output, in parallel: positives are the output's examples (the
/// out-of-scope examples for the out-of-scope output), negatives every other example.
///
/// `warm` gives, per output, starting dual variables per document (squared hinge only; see
/// [`solve_squared_hinge`]); the duals each output ends with are returned beside it, so the
/// next training on nearly the same data can start from them.
pub(super) fn one_vs_rest(
    corpus: &Corpus,
    num_classes: u32,
    outputs: usize,
    config: &TrainConfig,
    warm: &(dyn Fn(usize) -> Option<Vec<f64>> + Sync),
) -> Vec<(Trained, Vec<f32>)> {
    let n_features = corpus.keys.len();
    (0..outputs)
        .into_par_iter()
        .map(|c| {
            let y: Vec<f64> = corpus
                .labels
                .iter()
                .map(|l| {
                    let positive = match l {
                        Some(l) => *l as usize == c,
                        None => c == num_classes as usize,
                    };
                    if positive {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            let cost: Vec<f64> = corpus
                .weights
                .iter()
                .zip(&y)
                .map(|(&w, &y)| {
                    w as f64
                        * config.c as f64
                        * if y > 0.0 {
                            config.positive_weight as f64
                        } else {
                            1.0
                        }
                })
                .collect();
            let seed = config.seed ^ (c as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let docs = &corpus.docs;
            let (w, b, epochs, alpha) = match config.loss {
                Loss::Logistic => {
                    let (w, b, epochs) = solve_logistic(docs, &y, &cost, n_features, config, seed);
                    (w, b, epochs, Vec::new())
                }
                Loss::SquaredHinge => {
                    let start = warm(c).filter(|a| a.len() == docs.len());
                    let tight;
                    let config = if start.is_some() {
                        tight = TrainConfig {
                            tolerance: config.tolerance * WARM_TOLERANCE_SHARE,
                            ..*config
                        };
                        &tight
                    } else {
                        config
                    };
                    solve_squared_hinge(docs, &y, &cost, n_features, config, seed, start)
                }
            };
            let kept = w
                .iter()
                .enumerate()
                .filter(|&(j, &x)| {
                    x != 0.0 && x.abs() * corpus.max_value[j] as f64 >= config.prune as f64
                })
                .map(|(j, &x)| (j as u32, x as f32))
                .collect();
            (
                (kept, b as f32, epochs),
                alpha.iter().map(|&a| a as f32).collect(),
            )
        })
        .collect()
}

/// A warm-started solve stops at this share of the configured tolerance. A cold solve at the
/// default tolerance stops somewhere within it of the optimum, and a warm one resumed from
/// there at the same tolerance stops somewhere else within it: the two slacks add up, and on
/// the CLINC150 slice one unrelated layer write then flipped an out-of-scope test line. Solving
/// the warm start tighter lands it near the optimum, leaving only the original model's slack,
/// at a few extra passes a warm start can afford (measured: see the README's write latency).
const WARM_TOLERANCE_SHARE: f32 = 0.1;

/// SplitMix64: a tiny, well-mixed, seedable generator for the shuffles.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

pub(super) fn dot(w: &[f64], rows: &[u32], vals: &[f32]) -> f64 {
    rows.iter()
        .zip(vals)
        .map(|(&r, &v)| w[r as usize] * v as f64)
        .sum()
}

pub(super) fn axpy(w: &mut [f64], a: f64, rows: &[u32], vals: &[f32]) {
    for (&r, &v) in rows.iter().zip(vals) {
        w[r as usize] += a * v as f64;
    }
}

/// L2-regularized squared-hinge loss, dual coordinate descent with shrinking (Hsieh et al.
/// 2008). The bias is an extra feature of constant value 1, regularized like the others.
///
/// `start`: dual variables to begin from (a warm start), one per document. Any non-negative
/// vector is a feasible point of this dual (it has no upper bound), so the primal weights are
/// rebuilt from it and descent continues to the same optimum as from zero: only the number of
/// passes changes. Returns the weights, the bias, the passes and the final duals.
pub(super) fn solve_squared_hinge(
    docs: &Docs,
    y: &[f64],
    cost: &[f64],
    n_features: usize,
    config: &TrainConfig,
    seed: u64,
    start: Option<Vec<f64>>,
) -> (Vec<f64>, f64, u32, Vec<f64>) {
    let n = docs.len();
    let mut w = vec![0f64; n_features];
    let mut b = 0f64;
    let mut alpha = vec![0f64; n];
    if let Some(start) = start {
        for (i, a) in start.into_iter().enumerate() {
            if a > 0.0 && a.is_finite() && cost[i] > 0.0 {
                alpha[i] = a;
                let (rows, vals) = docs.get(i);
                axpy(&mut w, a * y[i], rows, vals);
                b += a * y[i];
            }
        }
    }
    let diag: Vec<f64> = cost.iter().map(|&c| 0.5 / c).collect();
    let mut active: Vec<usize> = (0..n).filter(|&i| cost[i] > 0.0).collect();
    let all = active.len();
    let mut rng = Rng(seed);
    // Shrinking bound: an example at alpha = 0 whose gradient exceeds the previous pass's
    // largest projected gradient is left out until the active set converges.
    let mut pg_max_old = f64::INFINITY;
    let eps = config.tolerance as f64;
    let mut epochs = 0;
    for _ in 0..config.max_epochs {
        epochs += 1;
        rng.shuffle(&mut active);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut k = 0;
        while k < active.len() {
            let i = active[k];
            let (rows, vals) = docs.get(i);
            let g = y[i] * (dot(&w, rows, vals) + b) - 1.0 + diag[i] * alpha[i];
            let mut pg = g;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    active.swap_remove(k);
                    continue;
                }
                pg = g.min(0.0);
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / (docs.sq_norm[i] + diag[i])).max(0.0);
                let d = (alpha[i] - old) * y[i];
                axpy(&mut w, d, rows, vals);
                b += d;
            }
            k += 1;
        }
        // Converged when no coordinate's projected gradient exceeds eps. (LIBLINEAR tests
        // `pg_max - pg_min`, which suits a separate bias with its equality constraint; with the
        // bias as a feature there is none, and equal but nonzero gradients are not optimal.)
        if pg_max.abs().max(pg_min.abs()) <= eps {
            if active.len() == all {
                break;
            }
            active = (0..n).filter(|&i| cost[i] > 0.0).collect();
            pg_max_old = f64::INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
    }
    (w, b, epochs, alpha)
}

/// L2-regularized logistic regression, dual coordinate descent (Yu, Huang & Lin 2011).
///
/// The dual is `min ½ αᵀQα + Σ α_i ln α_i + (C_i − α_i) ln(C_i − α_i)` over `0 < α_i < C_i`;
/// each coordinate's one-dimensional problem is solved by a safeguarded Newton method on
/// whichever of `α_i` and `C_i − α_i` is the smaller at the optimum, which keeps the logarithms
/// accurate near both bounds. The bias is an extra feature of constant value 1.
pub(super) fn solve_logistic(
    docs: &Docs,
    y: &[f64],
    cost: &[f64],
    n_features: usize,
    config: &TrainConfig,
    seed: u64,
) -> (Vec<f64>, f64, u32) {
    let n = docs.len();
    let mut w = vec![0f64; n_features];
    let mut b = 0f64;
    // alpha[i] and its complement cost[i] - alpha[i], both kept to avoid cancellation.
    let mut alpha = vec![0f64; n];
    let mut alpha_c = vec![0f64; n];
    let mut order: Vec<usize> = (0..n).filter(|&i| cost[i] > 0.0).collect();
    for &i in &order {
        alpha[i] = (1e-3 * cost[i]).min(1e-8);
        alpha_c[i] = cost[i] - alpha[i];
        let (rows, vals) = docs.get(i);
        axpy(&mut w, alpha[i] * y[i], rows, vals);
        b += alpha[i] * y[i];
    }
    let mut rng = Rng(seed);
    let eps = config.tolerance as f64;
    let mut inner_eps = 1e-2f64;
    let inner_eps_min = (1e-8f64).min(eps);
    let mut epochs = 0;
    for _ in 0..config.max_epochs {
        epochs += 1;
        rng.shuffle(&mut order);
        let mut newton_steps = 0usize;
        let mut g_max = 0f64;
        for &i in &order {
            let (rows, vals) = docs.get(i);
            let c = cost[i];
            let a = docs.sq_norm[i];
            let ywx = y[i] * (dot(&w, rows, vals) + b);
            // Derivative of the sub-problem at c/2 tells on which half the optimum lies;
            // solve for the variable that is small there.
            let (sign, old) = if 0.5 * a * (alpha_c[i] - alpha[i]) + ywx < 0.0 {
                (-1.0, alpha_c[i])
            } else {
                (1.0, alpha[i])
            };
            let bb = sign * ywx;
            let mut z = old;
            if c - z < 0.5 * c {
                z *= 0.1;
            }
            let grad = |z: f64| a * (z - old) + bb + (z / (c - z)).ln();
            let mut gp = grad(z);
            g_max = g_max.max(gp.abs());
            for _ in 0..100 {
                if gp.abs() < inner_eps {
                    break;
                }
                let gpp = a + c / ((c - z) * z);
                let next = z - gp / gpp;
                z = if next <= 0.0 { z * 0.1 } else { next };
                gp = grad(z);
                newton_steps += 1;
            }
            let (new_alpha, new_alpha_c) = if sign > 0.0 { (z, c - z) } else { (c - z, z) };
            let d = (new_alpha - alpha[i]) * y[i];
            alpha[i] = new_alpha;
            alpha_c[i] = new_alpha_c;
            if d != 0.0 {
                axpy(&mut w, d, rows, vals);
                b += d;
            }
        }
        if g_max < eps {
            break;
        }
        if newton_steps <= order.len() / 10 {
            inner_eps = (0.1 * inner_eps).max(inner_eps_min);
        }
    }
    (w, b, epochs)
}
