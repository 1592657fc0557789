//! The query-time decision: how sure the lexical path is (its margin), whether to escalate,
//! and the blended logits the semantic path answers from.

use serde::{Deserialize, Serialize};

use super::head::CascadeParams;
use crate::model::confidence;

/// Which path answered a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// The lexical model alone (the fast path; every query without an encoder).
    #[default]
    Lexical,
    /// The lexical model's uncertain answer, re-decided by the semantic head over the
    /// encoder's vector blended with the lexical scores.
    Semantic,
}

/// `ln(t / (1 − t))`: a decision threshold on the sigmoid scale back on the logit scale.
fn logit(t: f32) -> f32 {
    let t = t.clamp(1e-6, 1.0 - 1e-6);
    (t / (1.0 - t)).ln()
}

/// Which kind of answer the lexical path is unsure of: the cascade keeps one escalation
/// cut-off per kind ([`super::head::CascadeParams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// The lexical decision clears the no-match threshold: some layer.
    Match,
    /// The lexical decision is below the threshold, or the query has no known word.
    NoMatch,
}

/// How sure the lexical path is, and of which kind of answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Margin {
    /// Distance to the nearest boundary the answer depends on, in logit units
    /// (`-inf` for a query without a known word).
    pub value: f32,
    /// The kind of answer the margin is about.
    pub kind: AnswerKind,
}

/// How sure the lexical path is of its answer, in logit units:
///
/// - the distance of its decision (best class against the out-of-scope output, or against the
///   decision boundary 0 without one) from the calibrated no-match threshold (is it a match at
///   all?), and, when the decision is a match,
/// - the gap between its best and second-best class (is it the right layer?).
///
/// This is what the issue calls the calibrated margin: a query far from the boundaries its
/// answer depends on is one the lexical path rarely gets wrong. The class gap counts only for
/// a match: when the answer is "no match", which class came first does not change it. (Counting
/// it there made nearly every out-of-scope query "unsure" — no class fits it, so the top two
/// are close — and 97 % of CLINC150's out-of-scope validation lines escalated against 26 % of
/// the in-scope ones, so the escalation rate depended on how much out-of-scope traffic came.)
/// A query with no known word (`unknown_terms`) has no lexical evidence at all: its margin is
/// `-inf` (a no-match answer), so it is the first of its kind to escalate.
pub fn lexical_margin(
    logits: &[f32],
    num_classes: usize,
    out_of_scope_output: bool,
    threshold: f32,
    unknown_terms: bool,
) -> Margin {
    let no_evidence = Margin {
        value: f32::NEG_INFINITY,
        kind: AnswerKind::NoMatch,
    };
    if unknown_terms {
        return no_evidence;
    }
    let n = num_classes.min(logits.len());
    let (mut best, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &l in &logits[..n] {
        if l > best {
            second = best;
            best = l;
        } else if l > second {
            second = l;
        }
    }
    if n == 0 {
        return no_evidence;
    }
    let reference = if out_of_scope_output {
        logits.get(n).copied().unwrap_or(0.0)
    } else {
        0.0
    };
    let decision = (best - reference) - logit(threshold);
    if decision < 0.0 {
        // No match: only the distance to the threshold can change the answer.
        return Margin {
            value: -decision,
            kind: AnswerKind::NoMatch,
        };
    }
    let class_gap = best - second; // +inf with one class
    Margin {
        value: decision.min(class_gap),
        kind: AnswerKind::Match,
    }
}

/// Whether a query with lexical margin `margin` goes to the encoder: its margin is below the
/// cut-off for its kind of answer.
pub fn escalates(margin: Margin, params: &CascadeParams) -> bool {
    margin.value < params.escalate_below(margin.kind)
}

/// `out = (1 − blend) · lexical + blend · semantic`, output by output.
pub fn blend_into(lexical: &[f32], semantic: &[f32], blend: f32, out: &mut Vec<f32>) {
    out.clear();
    out.extend(
        lexical
            .iter()
            .zip(semantic)
            .map(|(&l, &s)| (1.0 - blend) * l + blend * s),
    );
}

/// The best in-scope class of `logits` and the no-match decision value
/// `σ(best − reference)`, as [`crate::model::calibrate::decision`] computes it for the lexical
/// model.
pub fn decide(logits: &[f32], num_classes: usize, out_of_scope_output: bool) -> Option<(u32, f32)> {
    let n = num_classes.min(logits.len());
    let (class, best) = crate::model::calibrate::best_class(logits, n)?;
    let reference = if out_of_scope_output {
        logits.get(n).copied().unwrap_or(0.0)
    } else {
        0.0
    };
    Some((class as u32, confidence(best - reference)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_the_nearer_boundary() {
        // Classes 0..3, out-of-scope last; threshold 0.5 → boundary at best − oos = 0.
        let m = lexical_margin(&[1.0, 0.2, -1.0, -0.5], 3, true, 0.5, false);
        // The class gap 0.8 is nearer than the accept gap 1.5.
        assert!((m.value - 0.8).abs() < 1e-6, "{m:?}");
        assert_eq!(m.kind, AnswerKind::Match);
        let m = lexical_margin(&[1.0, -1.0, -1.0, 0.9], 3, true, 0.5, false);
        assert!((m.value - 0.1).abs() < 1e-6, "{m:?}"); // accept gap 0.1
                                                        // A clear no match: the two close classes do not make it unsure.
        let m = lexical_margin(&[-1.0, -1.1, -3.0, 1.0], 3, true, 0.5, false);
        assert!((m.value - 2.0).abs() < 1e-6, "{m:?}");
        assert_eq!(m.kind, AnswerKind::NoMatch);
        let unknown = lexical_margin(&[1.0, 0.0], 1, true, 0.5, true);
        assert_eq!(unknown.value, f32::NEG_INFINITY);
        assert_eq!(unknown.kind, AnswerKind::NoMatch);
    }

    #[test]
    fn each_kind_of_answer_has_its_cut_off() {
        let params = CascadeParams {
            escalate_below_match: 0.1,
            escalate_below_no_match: 0.5,
            ..CascadeParams::never(0.3)
        };
        let at = |value, kind| escalates(Margin { value, kind }, &params);
        assert!(at(0.05, AnswerKind::Match) && !at(0.2, AnswerKind::Match));
        assert!(at(0.2, AnswerKind::NoMatch) && !at(0.6, AnswerKind::NoMatch));
        assert!(at(f32::NEG_INFINITY, AnswerKind::NoMatch));
        let never = CascadeParams::never(0.3);
        assert!(!escalates(
            Margin {
                value: f32::NEG_INFINITY,
                kind: AnswerKind::NoMatch
            },
            &never
        ));
    }

    #[test]
    fn blend_and_decide() {
        let mut out = Vec::new();
        blend_into(&[1.0, 0.0, 0.0], &[0.0, 2.0, 0.0], 0.75, &mut out);
        assert_eq!(out, vec![0.25, 1.5, 0.0]);
        let (class, value) = decide(&out, 2, true).unwrap();
        assert_eq!(class, 1);
        assert!((value - confidence(1.5)).abs() < 1e-6);
        assert_eq!(decide(&[], 0, false), None);
    }
}
