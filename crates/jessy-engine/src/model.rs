//! The routing model's interface to the rest of the engine: training at build time, and
//! featurizing and scoring at query time over the arrays stored in a snapshot.
//!
//! Features are word unigrams and bigrams of stems and character 3–5-grams of the surface
//! words, hashed to stable 64-bit keys; values are sublinear TF × IDF, L2-normalized. The
//! classifier is softmax regression over the layers (plus an out-of-scope class), trained by
//! SGD at build time and pruned into a sparse inverted index `feature → (layer, weight)`.

use std::collections::HashMap;

use crate::parser::ParsedQuery;
use crate::storage::ModelArrays;

/// No-match threshold used before calibration has an opinion (and as calibration's fallback).
pub const DEFAULT_THRESHOLD: f32 = 0.05;

/// No-match threshold for a registry built without a validation file: the uniform probability
/// over its classes. A best layer no more likely than a uniform guess carries no evidence; above
/// it, the out-of-scope class (trained on the registry's out-of-scope examples) still has to be
/// beaten. Scale-free: it works for 10 layers and for 10,000.
pub fn uncalibrated_threshold(classes: usize) -> f32 {
    1.0 / classes.max(1) as f32
}

/// One training utterance.
#[derive(Debug, Clone)]
pub struct Example {
    /// The text.
    pub text: String,
    /// Its class (layer index), `None` for out of scope.
    pub label: Option<u32>,
    /// Relative weight.
    pub weight: f32,
}

/// A trained model owning its arrays.
#[derive(Debug, Clone, Default)]
pub struct OwnedModel {
    num_classes: u32,
    keys: Vec<u64>,
    idf: Vec<f32>,
    rows: Vec<u32>,
    post_class: Vec<u32>,
    post_weight: Vec<f32>,
    bias: Vec<f32>,
}

impl OwnedModel {
    /// The arrays as stored in a snapshot.
    pub fn arrays(&self, threshold: f32, calibrated: bool) -> ModelArrays<'_> {
        ModelArrays {
            num_classes: self.num_classes,
            keys: &self.keys,
            idf: &self.idf,
            rows: &self.rows,
            post_class: &self.post_class,
            post_weight: &self.post_weight,
            bias: &self.bias,
            feature_params: [0; 8],
            model_params: [0.0; 8],
            threshold,
            calibrated,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(namespace: u8, parts: &[&[u8]]) -> u64 {
    let mut h = FNV_OFFSET;
    for b in std::iter::once(namespace).chain(parts.iter().enumerate().flat_map(|(i, p)| {
        let sep: &[u8] = if i == 0 { &[] } else { &[0xff] };
        sep.iter().chain(p.iter()).copied()
    })) {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Stable key of a stem's unigram feature (also the key of association sources).
pub fn term_key(stem: &str) -> u64 {
    fnv(b'u', &[stem.as_bytes()])
}

/// Calls `f` with the key of every feature of a parsed text.
fn for_each_key(q: &ParsedQuery, mut f: impl FnMut(u64)) {
    let mut prev: Option<&str> = None;
    for stem in q.stems() {
        f(term_key(stem));
        if let Some(p) = prev {
            f(fnv(b'b', &[p.as_bytes(), stem.as_bytes()]));
        }
        prev = Some(stem);
    }
    for word in q.words() {
        char_ngrams(word, &mut f);
    }
}

/// Longest word (in chars) whose character n-grams are taken; longer words are rare and their
/// leading 48 characters are enough.
const MAX_NGRAM_CHARS: usize = 48;

/// Calls `f` with the key of every character 3-, 4- and 5-gram of `<word>` (the word padded
/// with boundary marks), without allocating.
fn char_ngrams(word: &str, f: &mut impl FnMut(u64)) {
    let mut bounds = [0usize; MAX_NGRAM_CHARS + 1];
    let mut len = 0;
    for (b, _) in word.char_indices().take(MAX_NGRAM_CHARS) {
        bounds[len] = b;
        len += 1;
    }
    bounds[len] = if len == MAX_NGRAM_CHARS {
        bounds[len - 1]
            + word[bounds[len - 1]..]
                .chars()
                .next()
                .map_or(0, char::len_utf8)
    } else {
        word.len()
    };
    let padded = len + 2;
    let bytes = word.as_bytes();
    for n in 3..=5usize {
        if padded < n {
            continue;
        }
        for i in 0..=padded - n {
            let last = i + n - 1;
            let left = i == 0;
            let right = last == padded - 1;
            // Inner chars, as indices into the word: padded position p is word char p - 1.
            let first_char = if left { 0 } else { i - 1 };
            let end_char = if right { len } else { last };
            let flags = [left as u8, right as u8];
            f(fnv(
                b'c',
                &[&flags, &bytes[bounds[first_char]..bounds[end_char]]],
            ));
        }
    }
}

fn parse(text: &str) -> Option<ParsedQuery> {
    crate::parser::parse(text).ok()
}

/// Sorted, merged `(key, tf)` of a text.
fn key_counts(q: &ParsedQuery) -> Vec<(u64, f32)> {
    let mut keys = Vec::new();
    for_each_key(q, |k| keys.push(k));
    keys.sort_unstable();
    let mut out: Vec<(u64, f32)> = Vec::new();
    for k in keys {
        match out.last_mut() {
            Some((last, n)) if *last == k => *n += 1.0,
            _ => out.push((k, 1.0)),
        }
    }
    out
}

/// Training settings. The defaults are the shipped ones; each carries its reason.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams {
    /// Passes over the training set. Softmax regression on L2-normalized TF-IDF converges in a
    /// few epochs; past this, held-out accuracy stops moving.
    pub epochs: usize,
    /// Initial step size (decays as `1 / (1 + epoch)`).
    pub learning_rate: f32,
    /// L2 shrinkage per epoch. Small: the feature vectors are normalized and the classes many,
    /// so over-regularizing hurts more than it helps; a little keeps rare n-grams bounded.
    pub l2: f32,
    /// Postings whose weight is below this share of their row's largest |weight| are pruned:
    /// the model becomes a sparse inverted index, which keeps scoring in microseconds.
    pub prune_share: f32,
}

impl Default for TrainParams {
    fn default() -> TrainParams {
        TrainParams {
            epochs: 12,
            learning_rate: 1.0,
            l2: 1e-4,
            prune_share: 0.05,
        }
    }
}

/// Deterministic shuffle source (xorshift64*), so a registry always builds the same model.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// Trains softmax regression over `num_classes` layers, plus an out-of-scope class when
/// out-of-scope examples exist (they are used, not ignored: the class soaks up what routes
/// nowhere, and calibration then thresholds the rest).
pub fn train(examples: &[Example], num_classes: u32) -> OwnedModel {
    train_with(examples, num_classes, &TrainParams::default())
}

/// A parsed training text: `(sorted (feature key, count), label, weight)`.
type Document = (Vec<(u64, f32)>, Option<u32>, f32);
/// A training vector: `(normalized (row, value), class, weight)`.
type TrainingVector = (Vec<(u32, f32)>, usize, f32);

/// [`train`] with explicit settings.
pub fn train_with(examples: &[Example], num_classes: u32, params: &TrainParams) -> OwnedModel {
    let docs: Vec<Document> = examples
        .iter()
        .filter_map(|e| parse(&e.text).map(|q| (key_counts(&q), e.label, e.weight)))
        .collect();
    let mut df: HashMap<u64, f32> = HashMap::new();
    for (keys, _, _) in &docs {
        for (k, _) in keys {
            *df.entry(*k).or_default() += 1.0;
        }
    }
    let n = docs.len().max(1) as f32;
    let mut keys: Vec<u64> = df.keys().copied().collect();
    keys.sort_unstable();
    let idf: Vec<f32> = keys
        .iter()
        .map(|k| ((1.0 + n) / (1.0 + df[k])).ln() + 1.0)
        .collect();
    let row_of: HashMap<u64, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, i as u32))
        .collect();
    let has_oos = docs.iter().any(|d| d.1.is_none());
    let classes = num_classes as usize + has_oos as usize;
    let vectors: Vec<TrainingVector> = docs
        .iter()
        .map(|(doc, label, weight)| {
            let mut v: Vec<(u32, f32)> = doc
                .iter()
                .map(|(k, tf)| (row_of[k], (1.0 + tf.ln()) * idf[row_of[k] as usize]))
                .collect();
            normalize(&mut v);
            (
                v,
                label.map_or(num_classes as usize, |l| l as usize),
                *weight,
            )
        })
        .collect();

    if classes > MAX_SOFTMAX_CLASSES {
        return train_centroids(num_classes, keys, idf, &vectors, classes);
    }
    let mut w = vec![0f32; keys.len() * classes];
    let mut bias = vec![0f32; classes];
    let mut p = vec![0f32; classes];
    let mut order: Vec<usize> = (0..vectors.len()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for epoch in 0..params.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let rate = params.learning_rate / (1.0 + epoch as f32);
        for &d in &order {
            let (x, y, weight) = &vectors[d];
            p.copy_from_slice(&bias);
            for &(r, v) in x {
                let row = &w[r as usize * classes..(r as usize + 1) * classes];
                for (pc, wc) in p.iter_mut().zip(row) {
                    *pc += v * wc;
                }
            }
            softmax(&mut p);
            p[*y] -= 1.0;
            let step = rate * weight;
            for &(r, v) in x {
                let row = &mut w[r as usize * classes..(r as usize + 1) * classes];
                for (wc, g) in row.iter_mut().zip(&p) {
                    *wc -= step * v * g;
                }
            }
            for (b, g) in bias.iter_mut().zip(&p) {
                *b -= step * g * 0.1;
            }
        }
        let shrink = 1.0 - params.l2 * rate;
        w.iter_mut().for_each(|x| *x *= shrink);
    }

    let mut rows = Vec::with_capacity(keys.len() + 1);
    let (mut post_class, mut post_weight) = (Vec::new(), Vec::new());
    rows.push(0);
    for r in 0..keys.len() {
        let row = &w[r * classes..(r + 1) * classes];
        let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
        for (c, &x) in row.iter().enumerate() {
            if x != 0.0 && x.abs() >= params.prune_share * max {
                post_class.push(c as u32);
                post_weight.push(x);
            }
        }
        rows.push(post_class.len() as u32);
    }
    OwnedModel {
        num_classes,
        keys,
        idf,
        rows,
        post_class,
        post_weight,
        bias,
    }
}

/// Above this many classes, softmax training's dense `features × classes` weight matrix and its
/// per-example cost over every class stop being practical (10,000 layers would need gigabytes);
/// such registries get scaled centroid weights instead, whose memory is the training data's.
pub const MAX_SOFTMAX_CLASSES: usize = 2048;
/// Centroid weights are cosine similarities in [0, 1]; this scale turns them into logits whose
/// softmax separates a clear match from the rest (the "scaled cosine softmax" of normalized
/// classifiers).
const CENTROID_SCALE: f32 = 30.0;

/// The large-registry trainer: each class's weights are the L2-normalized, scaled centroid of
/// its training vectors.
fn train_centroids(
    num_classes: u32,
    keys: Vec<u64>,
    idf: Vec<f32>,
    vectors: &[TrainingVector],
    classes: usize,
) -> OwnedModel {
    let mut centroids: Vec<HashMap<u32, f32>> = vec![HashMap::new(); classes];
    for (x, class, weight) in vectors {
        for &(r, v) in x {
            *centroids[*class].entry(r).or_default() += v * weight;
        }
    }
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); keys.len()];
    for (c, centroid) in centroids.iter().enumerate() {
        let norm = centroid
            .values()
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt()
            .max(1e-9);
        for (&r, &x) in centroid {
            postings[r as usize].push((c as u32, CENTROID_SCALE * x / norm));
        }
    }
    let mut rows = Vec::with_capacity(keys.len() + 1);
    let (mut post_class, mut post_weight) = (Vec::new(), Vec::new());
    rows.push(0);
    for mut p in postings {
        p.sort_by_key(|x| x.0);
        for (c, w) in p {
            post_class.push(c);
            post_weight.push(w);
        }
        rows.push(post_class.len() as u32);
    }
    OwnedModel {
        num_classes,
        keys,
        idf,
        rows,
        post_class,
        post_weight,
        bias: vec![0.0; classes],
    }
}

/// In-place softmax.
fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in z.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    if sum > 0.0 {
        z.iter_mut().for_each(|x| *x /= sum);
    }
}

/// Softmax temperature of routing probabilities. Training sharpens the logits for the best
/// class; at temperature 1 a second, genuinely relevant dimension ("anxious about my exam
/// *tomorrow*") keeps almost no mass. Dividing by 3 keeps the ranking (argmax is unchanged)
/// and the calibration consistent (thresholds are chosen on the same probabilities) while
/// letting secondary dimensions show.
pub const TEMPERATURE: f32 = 3.0;

/// Turns the logits of all classes into probabilities, in place, without allocating.
pub fn probabilities(_m: &ModelArrays<'_>, logits: &mut [f32]) {
    logits.iter_mut().for_each(|z| *z /= TEMPERATURE);
    softmax(logits);
}

fn normalize(v: &mut [(u32, f32)]) {
    let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, x) in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Finds a feature key. Keys are uniformly distributed 64-bit hashes, so the key's own value
/// predicts its position (interpolation); a galloping search from there settles the rest in a
/// probe or two instead of the ~17 cache-missing steps of a binary search over 100k keys.
fn row(m: &ModelArrays<'_>, key: u64) -> Option<u32> {
    let keys = m.keys;
    if keys.is_empty() {
        return None;
    }
    let n = keys.len();
    let guess = ((key as u128 * n as u128) >> 64) as usize; // < n, as key < 2^64
    let (lo, hi) = match keys[guess].cmp(&key) {
        std::cmp::Ordering::Equal => return Some(guess as u32),
        std::cmp::Ordering::Less => {
            // Gallop right until keys[hi] >= key (or the end); the key is in [lo, hi].
            let (mut lo, mut step) = (guess + 1, 1);
            let mut hi = (guess + step).min(n);
            while hi < n && keys[hi] < key {
                lo = hi + 1;
                step *= 2;
                hi = (guess + step).min(n);
            }
            (lo, (hi + 1).min(n))
        }
        std::cmp::Ordering::Greater => {
            // Gallop left until keys[lo] <= key (or the start); the key is in [lo, hi).
            let (mut hi, mut step) = (guess, 1);
            let mut lo = guess.saturating_sub(step);
            while lo > 0 && keys[lo] > key {
                hi = lo;
                step *= 2;
                lo = guess.saturating_sub(step);
            }
            (lo, hi)
        }
    };
    keys[lo..hi]
        .binary_search(&key)
        .ok()
        .map(|r| (lo + r) as u32)
}

/// Appends the query's known features `(row, tf·idf)` to `out` (not normalized: see [`finish`]).
pub fn featurize_query(m: &ModelArrays<'_>, q: &ParsedQuery, out: &mut Vec<(u32, f32)>) {
    for_each_key(q, |k| {
        if let Some(r) = row(m, k) {
            out.push((r, m.idf[r as usize]));
        }
    });
    finish(out);
}

/// Merges duplicate rows (sublinear tf) and L2-normalizes, in place, without allocating.
pub fn finish(out: &mut Vec<(u32, f32)>) {
    out.sort_unstable_by_key(|x| x.0);
    let mut w = 0;
    for i in 0..out.len() {
        if w > 0 && out[w - 1].0 == out[i].0 {
            out[w - 1].1 += out[i].1;
        } else {
            out[w] = out[i];
            w += 1;
        }
    }
    out.truncate(w);
    let norm = out.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, x) in out.iter_mut() {
            *x /= norm;
        }
    }
}

/// Features of a text (build time).
pub fn featurize_text(m: &ModelArrays<'_>, text: &str) -> Vec<(u32, f32)> {
    let mut out = Vec::new();
    if let Some(q) = parse(text) {
        featurize_query(m, &q, &mut out);
    }
    out
}

/// The distinct stems of a text (build time).
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = parse(text)
        .map(|q| q.stems().map(str::to_string).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The model row of a stem's unigram feature.
pub fn term_row(m: &ModelArrays<'_>, stem: &str) -> Option<u32> {
    row(m, term_key(stem))
}

/// Keys of the query's stems (association sources), without allocating.
pub fn term_keys(q: &ParsedQuery) -> impl Iterator<Item = u64> + '_ {
    q.stems().map(term_key)
}

/// Per class, the `n` stems with the highest weight in the class model.
pub fn learned_terms(
    examples: &[Example],
    model: &OwnedModel,
    n: usize,
) -> Vec<Vec<(String, f32)>> {
    let m = model.arrays(0.0, false);
    let mut out = vec![Vec::<(String, f32)>::new(); model.num_classes as usize];
    let mut seen: Vec<std::collections::HashSet<String>> = vec![Default::default(); out.len()];
    for e in examples {
        let Some(class) = e.label else { continue };
        for t in terms(&e.text) {
            if !seen[class as usize].insert(t.clone()) {
                continue;
            }
            if let Some(r) = term_row(&m, &t) {
                let span = m.rows[r as usize] as usize..m.rows[r as usize + 1] as usize;
                if let Some(p) = m.post_class[span.clone()].iter().position(|&c| c == class) {
                    out[class as usize].push((t, m.post_weight[span.start + p]));
                }
            }
        }
    }
    for terms in &mut out {
        terms.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        terms.truncate(n);
    }
    out
}

/// Chooses the no-match threshold on labeled validation texts: the value maximizing the mean of
/// in-scope accuracy (no-match counting wrong) and out-of-scope recall.
pub fn calibrate(m: &ModelArrays<'_>, val: &[(&str, Option<u32>)]) -> f32 {
    let mut scored: Vec<(f32, bool, bool)> = Vec::new();
    let mut feats = Vec::new();
    let mut logits = Vec::new();
    for (text, label) in val {
        let Some(q) = parse(text) else { continue };
        feats.clear();
        featurize_query(m, &q, &mut feats);
        crate::navigation::scanner::score_all(m, &feats, &mut logits);
        probabilities(m, &mut logits);
        let n = m.num_classes as usize;
        let (best, top) =
            logits[..n]
                .iter()
                .enumerate()
                .fold(
                    (0usize, f32::MIN),
                    |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                );
        let oos_wins = logits.get(n).is_some_and(|&o| o > top);
        let top = if oos_wins { 0.0 } else { top };
        scored.push((top, label.is_none(), *label == Some(best as u32)));
    }
    let (ins, oos) = (
        scored.iter().filter(|s| !s.1).count().max(1) as f32,
        scored.iter().filter(|s| s.1).count().max(1) as f32,
    );
    let mut best = (f32::MIN, DEFAULT_THRESHOLD);
    let mut candidates: Vec<f32> = scored.iter().map(|s| s.0).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    for t in candidates {
        let acc = scored.iter().filter(|s| !s.1 && s.2 && s.0 >= t).count() as f32 / ins;
        let rec = scored.iter().filter(|s| s.1 && s.0 < t).count() as f32 / oos;
        let score = (acc + rec) / 2.0;
        if score > best.0 {
            best = (score, t);
        }
    }
    best.1
}

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
    for r in 0..n {
        let span = &m.post_class[m.rows[r] as usize..m.rows[r + 1] as usize];
        if span.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("postings of feature {r} are not sorted by class"));
        }
    }
    let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
    if !finite(m.idf) || !finite(m.post_weight) || !finite(m.bias) || !m.threshold.is_finite() {
        return Err("non-finite weight".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolated_lookup_finds_every_key_and_no_other() {
        let mut keys: Vec<u64> = (0..5000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7))
            .collect();
        keys.extend([0, 1, u64::MAX - 1, u64::MAX]);
        keys.sort_unstable();
        keys.dedup();
        let rows = vec![0u32; keys.len() + 1];
        let idf = vec![1.0; keys.len()];
        let m = ModelArrays {
            num_classes: 0,
            keys: &keys,
            idf: &idf,
            rows: &rows,
            post_class: &[],
            post_weight: &[],
            bias: &[],
            feature_params: [0; 8],
            model_params: [0.0; 8],
            threshold: 0.0,
            calibrated: false,
        };
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(row(&m, k), Some(i as u32), "key {k}");
            if k > 0 && !keys.contains(&(k - 1)) {
                assert_eq!(row(&m, k - 1), None);
            }
        }
    }
}
