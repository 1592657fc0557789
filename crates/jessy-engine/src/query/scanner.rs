//! The Dimension Scanner: scores every layer of every dimension from the query's features.
//!
//! The learned model is a sparse inverted index: each feature row holds postings
//! `(layer, weight)` sorted by layer, or a dense row of weights for every layer. A layer's
//! logit is its bias plus the weighted sum of the postings of the query's features; its
//! confidence is the logistic of that logit.
//!
//! One pass over each feature's postings into one logit array ([`ModelView::score_into`]).
//! Wave 1 also had a parallel strategy (one rayon task per dimension); measured with the
//! `pipeline` bench on the 2-core development machine it lost at every size (4.5× slower on
//! the default registry, 2.2× on 10,000 layers: fork/join and a binary search per feature and
//! dimension cost more than the sums they split), so it was removed. Parallelism across
//! queries, not within one, is where more cores help.

use crate::model::{self, ModelView};

/// Computes the logits of every output (bias + postings) of `features` into `logits`.
#[inline]
pub(crate) fn score(model: &ModelView<'_>, features: &[(u32, f32)], logits: &mut Vec<f32>) {
    model.score_into(features, logits);
}

/// Turns logits into per-layer confidences in (0, 1), in place: each output is its own
/// one-vs-rest classifier, so its confidence is independent of the others' and several layers
/// can be confidently relevant at once (multi-dimension routing).
pub(crate) fn to_confidences(logits: &mut [f32]) {
    logits.iter_mut().for_each(|z| *z = model::confidence(*z));
}
