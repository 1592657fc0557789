//! Choosing the no-match decision on held-out labeled queries.
//!
//! A query gets no match when its best class does not beat its reference (the out-of-scope
//! output, or the classifier's own decision boundary) by enough: see [`decision`]. The threshold is chosen on a validation file, never
//! on the training examples (whose scores are optimistic) and never on test data.

use super::{confidence, ModelView};
use crate::parser::ParsedQuery;

/// Least amplitude of a secondary dimension (and the no-match threshold of a registry without
/// out-of-scope examples, see [`Calibration::uncalibrated`]): the confidence of logit −0.6, inside the negative
/// margin of the layer's one-vs-rest classifier. Layers the query says nothing about
/// score at or beyond the margin (logit ≤ −1, confidence ≤ 0.27); a layer inside it has
/// partial evidence, which is what a secondary dimension of a mixed query looks like (each
/// training example has one label, so a classifier rarely says a full "yes" to a mixed query).
/// Chosen on the default registry's golden queries: −0.5 missed secondaries, −0.7 added
/// spurious ones.
pub const SECONDARY_FLOOR: f32 = 0.354_343_7;

/// The no-match rule, stored with the snapshot and carried from one generation to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// No match when the query's [`decision`] value is below this.
    pub threshold: f32,
    /// Whether the threshold was chosen on a validation file (rather than by rule).
    pub calibrated: bool,
}

impl Calibration {
    /// The rule for registries built without a validation file when the model has an
    /// out-of-scope output: no match below 0.5.
    ///
    /// 0.5 is where the best class's logit equals its reference (the out-of-scope output's
    /// logit, or the one-vs-rest decision boundary 0 when there is no such output): below it,
    /// the model itself prefers "none of these" to its best class, so answering with that class
    /// would contradict the model.
    pub fn default_uncalibrated() -> Self {
        Self {
            threshold: 0.5,
            calibrated: false,
        }
    }

    /// The rule for a registry built without a validation file.
    ///
    /// With out-of-scope examples, the model has an out-of-scope output and the decision
    /// compares the best layer with it: [`Calibration::default_uncalibrated`], "the best layer
    /// beats out of scope". Without them the reference is the best layer's own decision
    /// boundary, and a query that spreads its words over several layers gives each only partial
    /// evidence (a logit inside the negative margin); the threshold then accepts what the
    /// convergence processor accepts as a secondary dimension, [`SECONDARY_FLOOR`], rather than
    /// demanding a full "yes".
    pub fn uncalibrated(has_out_of_scope_output: bool) -> Self {
        if has_out_of_scope_output {
            Self::default_uncalibrated()
        } else {
            Self {
                threshold: SECONDARY_FLOOR,
                calibrated: false,
            }
        }
    }

    /// Whether the threshold is usable: finite and within [0, 1].
    pub fn is_valid(&self) -> bool {
        self.threshold.is_finite() && (0.0..=1.0).contains(&self.threshold)
    }

    /// Whether a query with [`decision`] value `decision` gets its best class rather than no
    /// match.
    pub fn accepts(&self, decision: f32) -> bool {
        decision >= self.threshold
    }
}

/// What to maximize when choosing the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criterion {
    /// Accuracy over all validation lines, each line counting once (no match is the right
    /// answer for an out-of-scope line, a wrong one for an in-scope line): the expected
    /// accuracy on traffic that looks like the validation file.
    Accuracy,
    /// Mean of in-scope accuracy and out-of-scope recall: as if in-scope and out-of-scope
    /// queries were equally frequent.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    Balanced,
}

/// The model's top answer for one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopScore {
    /// Best in-scope class, `None` when the text has no words.
    pub class: Option<u32>,
    /// Its confidence (0 when none).
    pub confidence: f32,
    /// Confidence of the out-of-scope output, if the model has one.
    pub out_of_scope: Option<f32>,
    /// The value the no-match rule thresholds: see [`decision`].
    pub decision: f32,
}

/// What a logit vector (as [`ModelView::score_into`] fills it) says about a query, for the
/// no-match rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Best in-scope class and its logit, `None` when the model has no class.
    pub best: Option<(u32, f32)>,
    /// `σ(best logit − reference)`, where the reference is the out-of-scope output's logit
    /// when the model has one and 0 (the one-vs-rest decision boundary) otherwise; 0 when
    /// there is no class. This is the value [`Calibration`] thresholds.
    pub value: f32,
    /// Whether the out-of-scope output's logit exceeds the best class's: the reason to give
    /// for a no match, when there is one.
    pub out_of_scope_wins: bool,
}

/// The first of the highest of the first `n` logits, with its value (`None` when `n` is 0):
/// the best in-scope class, ties to the lower index.
pub(crate) fn best_class(logits: &[f32], n: usize) -> Option<(usize, f32)> {
    logits[..n.min(logits.len())].iter().enumerate().fold(
        None,
        |b: Option<(usize, f32)>, (i, &l)| match b {
            Some((_, bl)) if bl >= l => b,
            _ => Some((i, l)),
        },
    )
}

/// The query's [`Decision`] from its logits.
///
/// Why the margin over the out-of-scope output and not the best confidence alone: a query can
/// score moderately for a class and still look far more like the out-of-scope examples; the
/// margin measures exactly that. On CLINC150 (threshold chosen on validation) it kept 0.5 point
/// more in-scope accuracy at the same out-of-scope recall than thresholding the best confidence
/// and vetoing when the out-of-scope output wins.
pub fn decision(view: &ModelView<'_>, logits: &[f32]) -> Decision {
    let n = (view.num_classes as usize).min(logits.len());
    let Some((class, logit)) = best_class(logits, n) else {
        return Decision {
            best: None,
            value: 0.0,
            out_of_scope_wins: false,
        };
    };
    let out_of_scope = logits.get(n).filter(|_| view.has_out_of_scope_class());
    let reference = out_of_scope.copied().unwrap_or(0.0);
    Decision {
        best: Some((class as u32, logit)),
        value: confidence(logit - reference),
        out_of_scope_wins: out_of_scope.is_some_and(|&o| o > logit),
    }
}

/// The evidence floor, in every registry: at least one content word of the query (a stem
/// that is not a stopword) must be a word the model knows and gives some layer a weight of at
/// least [`MIN_WORD_WEIGHT`]. Character n-grams alone are not evidence: keyboard mash, made-up
/// words and foreign filler share common n-grams with real words, and a one-vs-rest model
/// without out-of-scope data would otherwise route them to whichever layer those n-grams
/// lean to.
///
/// It lives with [`decision`] because both halves of the no-match rule must read the same:
/// the query path applies it to every query, and the build's semantic step scores validation
/// lines exactly as the query path would.
pub fn has_word_evidence(view: &ModelView<'_>, parsed: &ParsedQuery) -> bool {
    parsed.stems().any(|stem| {
        view.unigram_row(stem)
            .and_then(|row| view.best_class_weight(row))
            .is_some_and(|w| w >= MIN_WORD_WEIGHT)
    })
}

/// Least weight a known word must give some layer to count as evidence (see
/// [`has_word_evidence`]). Chosen on CLINC150's validation split with a model that had not
/// seen it (`--no-refit`): any floor from 0 to 0.1 cost the same 0.17 point of in-scope
/// accuracy (0.9313 → 0.9297) and gained 1 point of out-of-scope recall (0.72 → 0.73); 0.2
/// cost 0.2 point, 0.5 cost 1.4. The largest floor without extra cost is kept. The default
/// registry's golden cases pass 79/86 with it, as without.
pub const MIN_WORD_WEIGHT: f32 = 0.1;

/// Scores `text` and returns its best class, reusing the caller's buffers.
pub fn top_score(
    view: &ModelView<'_>,
    text: &str,
    q: &mut ParsedQuery,
    keys: &mut Vec<u64>,
    feats: &mut Vec<(u32, f32)>,
    logits: &mut Vec<f32>,
) -> TopScore {
    if q.parse_into(text).is_err() {
        return TopScore {
            class: None,
            confidence: 0.0,
            out_of_scope: None,
            decision: 0.0,
        };
    }
    view.featurize_into(q, keys, feats);
    view.score_into(feats, logits);
    let decision = decision(view, logits);
    TopScore {
        class: decision.best.map(|b| b.0),
        confidence: decision.best.map_or(0.0, |b| confidence(b.1)),
        out_of_scope: logits
            .get(view.num_classes as usize)
            .filter(|_| view.has_out_of_scope_class())
            .map(|&l| confidence(l)),
        decision: decision.value,
    }
}

/// Chooses the no-match rule on labeled validation lines (`None` = out of scope) with the
/// default criterion, [`Criterion::Accuracy`].
///
/// Why accuracy over the lines as given: it is the only criterion that needs no assumption
/// beyond "validation looks like traffic", and it degrades gracefully: with few out-of-scope
/// lines it keeps the threshold low (rejecting costs in-scope answers that are usually right),
/// with many it raises it. The balanced criterion, measured on CLINC150, rejected so eagerly
/// (~88% out-of-scope recall) that in-scope accuracy fell by 7 points.
pub fn calibrate(view: &ModelView<'_>, val: &[(&str, Option<u32>)]) -> Calibration {
    calibrate_with(view, val, Criterion::Accuracy)
}

/// [`calibrate`] for a rebuild of a registry already calibrated at `incumbent`: the
/// incumbent threshold is kept unless the best one is *significantly* better on the
/// validation lines — a sign test over the lines the two thresholds decide differently
/// (gains − losses > 2·√(gains + losses), about the 5 % level). A write that adds an
/// unrelated layer shifts every score a little, and the accuracy-maximizing threshold then
/// wanders across a flat optimum, changing the no-match decision of unrelated queries:
/// measured on the CLINC150 slice, adding one layer moved it 0.558 → 0.571 for 3 more
/// validation lines right out of 810, and the test split's out-of-scope recall 0.67 → 0.72.
pub fn calibrate_near(
    view: &ModelView<'_>,
    val: &[(&str, Option<u32>)],
    incumbent: f32,
) -> Calibration {
    if val.is_empty() || view.validate().is_err() {
        return Calibration::default_uncalibrated();
    }
    // Scored once: the best threshold and the sign test both read these lines.
    let scored = score_lines(view, val);
    let best = best_threshold(&scored, Criterion::Accuracy);
    if !best.calibrated || !(0.0..=1.0).contains(&incumbent) {
        return best;
    }
    let right = |(s, label): &(TopScore, Option<u32>), t: f32| match (s.class, label) {
        (Some(class), Some(label)) => s.decision >= t && class == *label,
        (Some(_), None) => s.decision < t,
        (None, label) => label.is_none(),
    };
    let (mut gains, mut losses) = (0f64, 0f64);
    for line in &scored {
        match (right(line, best.threshold), right(line, incumbent)) {
            (true, false) => gains += 1.0,
            (false, true) => losses += 1.0,
            _ => {}
        }
    }
    if gains - losses > 2.0 * (gains + losses).sqrt() {
        best
    } else {
        Calibration {
            threshold: incumbent,
            calibrated: true,
        }
    }
}

/// Each validation line's top score, with its label.
fn score_lines(view: &ModelView<'_>, val: &[(&str, Option<u32>)]) -> Vec<(TopScore, Option<u32>)> {
    let (mut q, mut keys, mut feats, mut logits) =
        (ParsedQuery::new(), Vec::new(), Vec::new(), Vec::new());
    val.iter()
        .map(|&(text, label)| {
            (
                top_score(view, text, &mut q, &mut keys, &mut feats, &mut logits),
                label,
            )
        })
        .collect()
}

/// [`calibrate`] with an explicit criterion. With no validation line at all, or a view that
/// fails validation, returns [`Calibration::default_uncalibrated`].
pub fn calibrate_with(
    view: &ModelView<'_>,
    val: &[(&str, Option<u32>)],
    criterion: Criterion,
) -> Calibration {
    if val.is_empty() || view.validate().is_err() {
        return Calibration::default_uncalibrated();
    }
    best_threshold(&score_lines(view, val), criterion)
}

/// The threshold that maximizes `criterion` over scored validation lines.
fn best_threshold(scored: &[(TopScore, Option<u32>)], criterion: Criterion) -> Calibration {
    let n_in = scored.iter().filter(|s| s.1.is_some()).count() as f64;
    let n_out = scored.len() as f64 - n_in;
    // Lines that can be accepted at all, sorted by decision value; a threshold between two
    // consecutive values accepts the suffix.
    let mut acc: Vec<(f32, bool, bool)> = Vec::new(); // (decision, in-scope correct, is oos)
    let mut always_rejected_oos = 0usize;
    for (s, label) in scored {
        if s.class.is_none() {
            always_rejected_oos += usize::from(label.is_none());
            continue;
        }
        acc.push((
            s.decision,
            label.is_some() && *label == s.class,
            label.is_none(),
        ));
    }
    acc.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Start with everything accepted (threshold 0), then raise it past each distinct value.
    let mut correct: usize = acc.iter().filter(|a| a.1).count();
    let mut rejected_oos = always_rejected_oos;
    let mut best: Option<(f64, Calibration)> = None;
    let mut k = 0;
    loop {
        let threshold = match k {
            0 => 0.0,
            _ if k == acc.len() => (acc[k - 1].0 + 1.0) / 2.0,
            _ => (acc[k - 1].0 + acc[k].0) / 2.0,
        };
        let in_acc = if n_in > 0.0 {
            correct as f64 / n_in
        } else {
            1.0
        };
        let oos_rec = if n_out > 0.0 {
            rejected_oos as f64 / n_out
        } else {
            1.0
        };
        let value = match criterion {
            Criterion::Accuracy => (correct + rejected_oos) as f64 / (n_in + n_out),
            Criterion::Balanced if n_out == 0.0 => in_acc,
            Criterion::Balanced if n_in == 0.0 => oos_rec,
            Criterion::Balanced => (in_acc + oos_rec) / 2.0,
        };
        // Strictly better only: among equals, the lower threshold wins, rejecting no more
        // than the data justifies.
        if best.as_ref().is_none_or(|b| value > b.0) {
            best = Some((
                value,
                Calibration {
                    threshold,
                    calibrated: true,
                },
            ));
        }
        if k == acc.len() {
            break;
        }
        // Raise the threshold past the group of equal values at k.
        let v = acc[k].0;
        while k < acc.len() && acc[k].0 == v {
            correct -= usize::from(acc[k].1);
            rejected_oos += usize::from(acc[k].2);
            k += 1;
        }
    }
    best.map_or_else(Calibration::default_uncalibrated, |b| b.1)
}
