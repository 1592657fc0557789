//! Build-time training: vocabulary, IDF, document vectors, one linear classifier per class.
//!
//! Each output is trained one-vs-rest by dual coordinate descent (Hsieh et al. 2008 for the
//! squared hinge, Yu, Huang & Lin 2011 for the logistic loss), the solvers of LIBLINEAR, written
//! here from the papers' equations. Dual coordinate descent suits this problem: documents are
//! short sparse vectors, each coordinate step costs one sparse dot product and one sparse
//! update, and it converges in tens of passes with no learning rate to tune. Outputs are
//! independent, so they train in parallel (rayon) and the result does not depend on the number
//! of threads. Shuffles are seeded: the same examples give the same model, bit for bit.

use rayon::prelude::*;
use thiserror::Error;

use super::features::{self, FeatureConfig, NUM_BLOCKS};
use super::{Model, ModelView};
use crate::parser::{parse, ParsedQuery};

/// One labeled training example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example<'a> {
    /// The example's text, parsed as a query would be.
    pub text: &'a str,
    /// Class index, or `None` for an out-of-scope example (a query that should match nothing).
    pub label: Option<u32>,
    /// Importance relative to a plain example (1.0); a layer keyword can count more or less.
    pub weight: f32,
}

/// The loss each one-vs-rest classifier minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Logistic loss: the logit is the class's log-odds, so [`super::confidence`] is a
    /// probability, independent per class.
    Logistic,
    /// Squared hinge (L2-loss linear SVM): maximizes the margin but its scores are not
    /// probabilities; kept for comparison.
    SquaredHinge,
}

/// How out-of-scope examples are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfScope {
    /// As negatives of every class only.
    Negatives,
    /// As negatives of every class and as the positives of an extra out-of-scope output
    /// (index `num_classes`), when there is at least one such example.
    ExtraClass,
}

/// Training parameters. [`TrainConfig::default`] is what registries are built with; every
/// default is chosen by principle or on CLINC150's *validation* split, and documented.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Feature extraction.
    pub features: FeatureConfig,
    /// Loss.
    pub loss: Loss,
    /// Inverse regularization strength per unit of example weight (LIBLINEAR's `C`).
    pub c: f32,
    /// Use of out-of-scope examples.
    pub out_of_scope: OutOfScope,
    /// Weights with magnitude below this are dropped from the postings.
    pub prune: f32,
    /// Most passes over the data per output.
    pub max_epochs: u32,
    /// Stopping tolerance on the largest projected gradient of a pass.
    pub tolerance: f32,
    /// Seed of the per-output shuffles.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            loss: Loss::Logistic,
            c: 16.0,
            out_of_scope: OutOfScope::ExtraClass,
            prune: 0.01,
            max_epochs: 50,
            tolerance: 0.05,
            seed: 0x5eed_1e55,
        }
    }
}

/// Why a model could not be trained.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrainError {
    /// `num_classes` is zero.
    #[error("no classes to learn")]
    NoClasses,
    /// An example's label is not a class.
    #[error("example {index} has label {label}, there are {num_classes} classes")]
    LabelOutOfRange {
        /// Example index.
        index: usize,
        /// Its label.
        label: u32,
        /// Number of classes.
        num_classes: u32,
    },
    /// An example's weight is negative, NaN or infinite.
    #[error("example {index} has invalid weight {weight}")]
    BadWeight {
        /// Example index.
        index: usize,
        /// Its weight.
        weight: f32,
    },
    /// The parameters are unusable.
    #[error("invalid training parameters: {0}")]
    BadConfig(&'static str),
    /// The vocabulary outgrew the `u32` row and posting indices.
    #[error("model too large for 32-bit indices")]
    TooLarge,
}

/// Documents as a CSR matrix of `(row, value)`.
struct Docs {
    start: Vec<usize>,
    row: Vec<u32>,
    value: Vec<f32>,
    /// Squared norm of each document plus the bias feature's 1.
    sq_norm: Vec<f64>,
}

impl Docs {
    fn get(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.start[i]..self.start[i + 1];
        (&self.row[r.clone()], &self.value[r])
    }

    fn len(&self) -> usize {
        self.start.len() - 1
    }
}

/// Trains a model on `examples` for `num_classes` classes. Examples whose text has no word are
/// skipped (they carry no feature); examples with weight 0 are ignored.
pub fn train(examples: &[Example<'_>], num_classes: u32, config: &TrainConfig) -> Result<Model, TrainError> {
    if num_classes == 0 {
        return Err(TrainError::NoClasses);
    }
    config.features.validate().map_err(|_| TrainError::BadConfig("feature parameters"))?;
    if !(config.c.is_finite() && config.c > 0.0) {
        return Err(TrainError::BadConfig("c must be positive"));
    }
    if !(config.prune.is_finite() && config.prune >= 0.0) || !(config.tolerance.is_finite() && config.tolerance > 0.0) {
        return Err(TrainError::BadConfig("prune and tolerance must be finite and non-negative"));
    }
    for (index, e) in examples.iter().enumerate() {
        if let Some(label) = e.label.filter(|&l| l >= num_classes) {
            return Err(TrainError::LabelOutOfRange { index, label, num_classes });
        }
        if !(e.weight.is_finite() && e.weight >= 0.0) {
            return Err(TrainError::BadWeight { index, weight: e.weight });
        }
    }

    // Parse; keep the examples that have words and weight.
    let parsed: Vec<(ParsedQuery, Option<u32>, f32)> = examples
        .par_iter()
        .filter(|e| e.weight > 0.0)
        .filter_map(|e| parse(e.text).ok().map(|q| (q, e.label, e.weight)))
        .collect();

    // Vocabulary and document frequencies.
    let doc_keys: Vec<Vec<u64>> = parsed
        .par_iter()
        .map(|(q, _, _)| {
            let mut keys = Vec::new();
            for block in 0..NUM_BLOCKS {
                features::block_keys(&config.features, q, block, &mut |k| keys.push(k));
            }
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    let mut all: Vec<u64> = doc_keys.concat();
    drop(doc_keys);
    all.par_sort_unstable();
    let mut keys = Vec::new();
    let mut df = Vec::new();
    for &k in &all {
        if keys.last() == Some(&k) {
            *df.last_mut().expect("df parallel to keys") += 1u32;
        } else {
            keys.push(k);
            df.push(1u32);
        }
    }
    drop(all);
    if keys.len() >= u32::MAX as usize {
        return Err(TrainError::TooLarge);
    }
    // Smoothed IDF, as if one extra document contained every feature: never zero or infinite.
    let n_docs = parsed.len() as f64;
    let idf: Vec<f32> = df.iter().map(|&d| (((1.0 + n_docs) / (1.0 + d as f64)).ln() + 1.0) as f32).collect();

    // Document vectors, through the query path itself, so training and serving agree exactly.
    let has_oos = parsed.iter().any(|p| p.1.is_none());
    let outputs = num_classes as usize + usize::from(has_oos && config.out_of_scope == OutOfScope::ExtraClass);
    let row_start = vec![0u32; keys.len() + 1];
    let bias = vec![0f32; outputs];
    let vocab = ModelView {
        feature_config: config.features,
        num_classes,
        keys: &keys,
        idf: &idf,
        row_start: &row_start,
        post_class: &[],
        post_weight: &[],
        bias: &bias,
    };
    let vectors: Vec<Vec<(u32, f32)>> = parsed
        .par_iter()
        .map(|(q, _, _)| {
            let mut v = Vec::new();
            vocab.featurize_into(q, &mut v);
            v
        })
        .collect();
    let mut docs = Docs { start: vec![0], row: Vec::new(), value: Vec::new(), sq_norm: Vec::new() };
    for v in &vectors {
        docs.row.extend(v.iter().map(|f| f.0));
        docs.value.extend(v.iter().map(|f| f.1));
        docs.start.push(docs.row.len());
        docs.sq_norm.push(v.iter().map(|f| (f.1 as f64).powi(2)).sum::<f64>() + 1.0);
    }
    drop(vectors);
    let labels: Vec<Option<u32>> = parsed.iter().map(|p| p.1).collect();
    let weights: Vec<f32> = parsed.iter().map(|p| p.2).collect();
    drop(parsed);

    // One classifier per output, in parallel.
    let n_features = keys.len();
    let trained: Vec<(Vec<(u32, f32)>, f32)> = (0..outputs)
        .into_par_iter()
        .map(|c| {
            let y: Vec<f64> = labels
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
            let cost: Vec<f64> = weights.iter().map(|&w| w as f64 * config.c as f64).collect();
            let seed = config.seed ^ (c as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let (w, b) = match config.loss {
                Loss::Logistic => solve_logistic(&docs, &y, &cost, n_features, config, seed),
                Loss::SquaredHinge => solve_squared_hinge(&docs, &y, &cost, n_features, config, seed),
            };
            let kept = w
                .iter()
                .enumerate()
                .filter(|(_, &x)| x.abs() >= config.prune as f64 && x != 0.0)
                .map(|(j, &x)| (j as u32, x as f32))
                .collect();
            (kept, b as f32)
        })
        .collect();

    // Transpose into the inverted index: postings per feature, classes ascending.
    let mut counts = vec![0u32; n_features + 1];
    for (kept, _) in &trained {
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
    for (c, (kept, _)) in trained.iter().enumerate() {
        for &(j, w) in kept {
            let p = fill[j as usize] as usize;
            post_class[p] = c as u32;
            post_weight[p] = w;
            fill[j as usize] += 1;
        }
    }
    let bias = trained.iter().map(|t| t.1).collect();
    Ok(Model { feature_config: config.features, num_classes, keys, idf, row_start, post_class, post_weight, bias })
}

/// SplitMix64: a tiny, well-mixed, seedable generator for the shuffles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn dot(w: &[f64], rows: &[u32], vals: &[f32]) -> f64 {
    rows.iter().zip(vals).map(|(&r, &v)| w[r as usize] * v as f64).sum()
}

fn axpy(w: &mut [f64], a: f64, rows: &[u32], vals: &[f32]) {
    for (&r, &v) in rows.iter().zip(vals) {
        w[r as usize] += a * v as f64;
    }
}

/// L2-regularized squared-hinge loss, dual coordinate descent with shrinking (Hsieh et al.
/// 2008). The bias is an extra feature of constant value 1, regularized like the others.
fn solve_squared_hinge(
    docs: &Docs,
    y: &[f64],
    cost: &[f64],
    n_features: usize,
    config: &TrainConfig,
    seed: u64,
) -> (Vec<f64>, f64) {
    let n = docs.len();
    let mut w = vec![0f64; n_features];
    let mut b = 0f64;
    let mut alpha = vec![0f64; n];
    let diag: Vec<f64> = cost.iter().map(|&c| 0.5 / c).collect();
    let mut active: Vec<usize> = (0..n).filter(|&i| cost[i] > 0.0).collect();
    let all = active.len();
    let mut rng = Rng(seed);
    // Shrinking bound: an example at alpha = 0 whose gradient exceeds the previous pass's
    // largest projected gradient is left out until the active set converges.
    let mut pg_max_old = f64::INFINITY;
    let eps = config.tolerance as f64;
    for _ in 0..config.max_epochs {
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
        if pg_max - pg_min <= eps {
            if active.len() == all {
                break;
            }
            active = (0..n).filter(|&i| cost[i] > 0.0).collect();
            pg_max_old = f64::INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
    }
    (w, b)
}

/// L2-regularized logistic regression, dual coordinate descent (Yu, Huang & Lin 2011).
///
/// The dual is `min ½ αᵀQα + Σ α_i ln α_i + (C_i − α_i) ln(C_i − α_i)` over `0 < α_i < C_i`;
/// each coordinate's one-dimensional problem is solved by a safeguarded Newton method on
/// whichever of `α_i` and `C_i − α_i` is the smaller at the optimum, which keeps the logarithms
/// accurate near both bounds. The bias is an extra feature of constant value 1.
fn solve_logistic(
    docs: &Docs,
    y: &[f64],
    cost: &[f64],
    n_features: usize,
    config: &TrainConfig,
    seed: u64,
) -> (Vec<f64>, f64) {
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
    for _ in 0..config.max_epochs {
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
    (w, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        Rng(7).shuffle(&mut a);
        Rng(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn rejects_bad_input() {
        let ex = |label, weight| Example { text: "hello", label, weight };
        let cfg = TrainConfig::default();
        assert_eq!(train(&[ex(Some(0), 1.0)], 0, &cfg), Err(TrainError::NoClasses));
        assert!(matches!(train(&[ex(Some(3), 1.0)], 2, &cfg), Err(TrainError::LabelOutOfRange { index: 0, .. })));
        assert!(matches!(train(&[ex(Some(0), f32::NAN)], 2, &cfg), Err(TrainError::BadWeight { .. })));
        let bad = TrainConfig { c: 0.0, ..cfg };
        assert!(matches!(train(&[ex(Some(0), 1.0)], 1, &bad), Err(TrainError::BadConfig(_))));
    }
}
