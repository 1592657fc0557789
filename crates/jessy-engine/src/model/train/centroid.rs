//! The large-registry trainer: class centroids instead of one-vs-rest classifiers.

use rayon::prelude::*;

use super::docs::Corpus;
use super::{TrainConfig, Trained};

/// Above this many outputs, one-vs-rest training, where every output passes over every
/// example, grows quadratically (10,000 layers with 5 examples each would take 10,000 passes
/// over 50,000 examples, several times): such registries get class centroids instead (see [`centroids`]).
pub const MAX_LINEAR_OUTPUTS: usize = 2048;

/// Centroid weights turn cosine similarities in [0, 1] into logits: `scale · (cos − ½)`, so a
/// query as close to a class as a typical example of it is (cos ≈ 0.6–0.9) scores positive.
const CENTROID_SCALE: f64 = 10.0;

/// The large-registry trainer: each output's weights are the scaled, L2-normalized, weighted
/// sum of its examples' vectors, and its bias `−scale / 2`. One pass over the data, memory
/// proportional to it; no output sees another's examples, so it cannot learn what separates
/// close classes (the linear solvers can). Postings are pruned as the linear ones are.
pub(super) fn centroids(
    corpus: &Corpus,
    num_classes: u32,
    outputs: usize,
    config: &TrainConfig,
) -> Vec<Trained> {
    let Corpus {
        docs,
        labels,
        weights,
        max_value,
        ..
    } = corpus;
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); outputs];
    for (d, label) in labels.iter().enumerate() {
        let output = label.map_or(num_classes as usize, |l| l as usize);
        if let Some(m) = members.get_mut(output) {
            m.push(d);
        }
    }
    members
        .into_par_iter()
        .map(|docs_of| {
            let mut sum: Vec<(u32, f64)> = Vec::new();
            for &d in &docs_of {
                let span = docs.start[d]..docs.start[d + 1];
                let w = weights[d] as f64;
                sum.extend(
                    docs.row[span.clone()]
                        .iter()
                        .zip(&docs.value[span])
                        .map(|(&r, &v)| (r, w * v as f64)),
                );
            }
            sum.sort_unstable_by_key(|e| e.0);
            let mut merged: Vec<(u32, f64)> = Vec::with_capacity(sum.len());
            for (r, v) in sum {
                match merged.last_mut() {
                    Some(last) if last.0 == r => last.1 += v,
                    _ => merged.push((r, v)),
                }
            }
            let norm = merged.iter().map(|e| e.1 * e.1).sum::<f64>().sqrt();
            let kept = if norm > 0.0 {
                merged
                    .iter()
                    .map(|&(r, v)| (r, CENTROID_SCALE * v / norm))
                    .filter(|&(r, x)| {
                        x != 0.0 && x.abs() * max_value[r as usize] as f64 >= config.prune as f64
                    })
                    .map(|(r, x)| (r, x as f32))
                    .collect()
            } else {
                Vec::new()
            };
            (kept, (-CENTROID_SCALE / 2.0) as f32, 1)
        })
        .collect()
}
