//! Choosing the cascade's settings on validation lines: the blend of lexical and semantic
//! logits, the lexical margin below which the encoder runs, and the cascade's no-match
//! threshold — for the best accuracy over the lines (each counting once, no match right for an
//! out-of-scope line) with at most `max_rate` of them escalated.
//!
//! The lines must be scored by models that have not seen them: their scores are then honest,
//! as for the lexical threshold ([`crate::model::calibrate`]). The lexical scores come from
//! models trained like the published one, cross-fitted over the validation lines
//! (`build::semantic::cross_fit_val`); the semantic scores from the head trained on the training
//! lines alone.
//!
//! The rate is a share of the *validation* lines: what it becomes in service depends on the
//! traffic's mix. Out-of-scope queries escalate more often than in-scope ones (on CLINC150's
//! validation lines, 70 % against 17 %), so traffic with more of them than the validation file
//! escalates more (see the README's semantic-cascade section for measured figures).

use super::cascade::{blend_into, decide};
use super::head::CascadeParams;

/// One validation line, scored by both models.
#[derive(Debug, Clone)]
pub struct ScoredLine {
    /// Its label, `None` for out of scope.
    pub label: Option<u32>,
    /// The lexical margin ([`super::cascade::lexical_margin`]).
    pub margin: f32,
    /// Whether the lexical path alone answers it right (class, or no match for out of scope).
    pub lexical_right: bool,
    /// The lexical model's raw logits (iteration 1).
    pub lexical: Vec<f32>,
    /// The semantic head's logits.
    pub semantic: Vec<f32>,
}

/// Blends tried: a tenth apart from lexical only (0) to semantic only (1).
const BLENDS: usize = 11;
/// Escalation rates tried: every hundredth up to the cap (finer steps would fit the noise of a
/// few thousand lines).
const RATE_STEP: f64 = 0.01;

/// The cascade settings with the best validation accuracy under `max_rate`; among equals, the
/// fewest escalations, then the smallest blend.
pub fn choose(
    lines: &[ScoredLine],
    num_classes: usize,
    out_of_scope_output: bool,
    max_rate: f32,
) -> CascadeParams {
    let n = lines.len();
    let never = CascadeParams {
        blend: 0.0,
        escalate_below: f32::NEG_INFINITY,
        threshold: 0.5,
        max_rate,
        val_rate: 0.0,
    };
    if n == 0 {
        return never;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| lines[a].margin.total_cmp(&lines[b].margin));
    let margins: Vec<f32> = order.iter().map(|&i| lines[i].margin).collect();
    let lexical_right: usize = lines.iter().filter(|l| l.lexical_right).count();

    // Escalating the first k lines (by margin) is "margin < margins[k]": only k at the end of
    // a group of equal margins is reachable.
    let cap = ((max_rate.clamp(0.0, 1.0) as f64) * n as f64).floor() as usize;
    let mut ks: Vec<usize> = Vec::new();
    let mut r = RATE_STEP;
    while (r * n as f64).floor() as usize <= cap && r <= 1.0 + 1e-9 {
        let mut k = ((r * n as f64).floor() as usize).min(n);
        while k > 0 && k < n && margins[k - 1] == margins[k] {
            k -= 1;
        }
        if k > 0 && ks.last() != Some(&k) {
            ks.push(k);
        }
        r += RATE_STEP;
    }

    let mut best = (lexical_right, never);
    let mut blended = Vec::new();
    for &k in &ks {
        let escalated = &order[..k];
        let kept_right = lexical_right
            - escalated
                .iter()
                .filter(|&&i| lines[i].lexical_right)
                .count();
        for b in 0..BLENDS {
            let blend = b as f32 / (BLENDS - 1) as f32;
            // (decision value, right if accepted, right if rejected)
            let mut scored: Vec<(f32, bool, bool)> = escalated
                .iter()
                .map(|&i| {
                    let line = &lines[i];
                    blend_into(&line.lexical, &line.semantic, blend, &mut blended);
                    match decide(&blended, num_classes, out_of_scope_output) {
                        Some((class, value)) => {
                            (value, line.label == Some(class), line.label.is_none())
                        }
                        None => (f32::NEG_INFINITY, false, line.label.is_none()),
                    }
                })
                .collect();
            let (right, threshold) = best_threshold(&mut scored);
            let total = kept_right + right;
            if total > best.0 {
                let escalate_below = if k == n { f32::INFINITY } else { margins[k] };
                best = (
                    total,
                    CascadeParams {
                        blend,
                        escalate_below,
                        threshold,
                        max_rate,
                        val_rate: k as f32 / n as f32,
                    },
                );
            }
        }
    }
    best.1
}

/// The threshold on the decision value that gets the most lines right (accepted lines at or
/// above it, rejected below), and that count; among equals the lowest threshold.
fn best_threshold(scored: &mut [(f32, bool, bool)]) -> (usize, f32) {
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold 0: everything with a class accepted.
    let mut right: usize = scored
        .iter()
        .map(|&(v, acc, rej)| if v.is_finite() { acc } else { rej })
        .map(usize::from)
        .sum();
    let mut best = (right, 0.0f32);
    let mut k = 0;
    while k < scored.len() {
        let v = scored[k].0;
        while k < scored.len() && scored[k].0 == v {
            let (value, acc, rej) = scored[k];
            if value.is_finite() {
                right = right - usize::from(acc) + usize::from(rej);
            }
            k += 1;
        }
        if right > best.0 {
            let next = scored.get(k).map_or(1.0, |s| s.0);
            best = (right, ((v + next) / 2.0).clamp(0.0, 1.0));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes plus out of scope. Lines the lexical model gets wrong have small margins,
    /// and the semantic head gets them right: the choice must escalate them, and no more than
    /// the cap allows.
    #[test]
    fn escalates_the_uncertain_lines_the_head_fixes() {
        let mut lines = Vec::new();
        for i in 0..80 {
            // Confident and right lexically.
            let label = Some((i % 2) as u32);
            let mut lexical = vec![-1.0, -1.0, -1.0];
            lexical[i % 2] = 1.5;
            lines.push(ScoredLine {
                label,
                margin: 2.0 + i as f32 * 0.01,
                lexical_right: true,
                semantic: lexical.clone(),
                lexical,
            });
        }
        for i in 0..20 {
            // Uncertain and wrong lexically; the head knows better.
            let c = i % 2;
            let mut lexical = vec![-1.0, -1.0, -1.0];
            lexical[1 - c] = 0.1;
            lexical[c] = 0.0;
            let mut semantic = vec![-1.0, -1.0, -1.0];
            semantic[c] = 1.0;
            lines.push(ScoredLine {
                label: Some(c as u32),
                margin: 0.1 + i as f32 * 0.001,
                lexical_right: false,
                lexical,
                semantic,
            });
        }
        let p = choose(&lines, 2, true, 0.3);
        assert!(p.val_rate <= 0.3 && p.val_rate >= 0.2, "{p:?}");
        assert!(p.blend > 0.0);
        assert!(p.escalate_below > 0.119 && p.escalate_below <= 2.0, "{p:?}");
        // A cap below the uncertain share escalates no more than allowed.
        let p = choose(&lines, 2, true, 0.1);
        assert!(p.val_rate <= 0.1, "{p:?}");
        // No validation line: never escalate.
        let p = choose(&[], 2, true, 0.3);
        assert_eq!(p.escalate_below, f32::NEG_INFINITY);
    }

    #[test]
    fn threshold_separates_accepted_from_rejected() {
        let mut scored = vec![
            (0.9, true, false),
            (0.8, true, false),
            (0.3, false, true),
            (0.2, false, true),
        ];
        let (right, t) = best_threshold(&mut scored);
        assert_eq!(right, 4);
        assert!(t > 0.3 && t < 0.8, "{t}");
    }
}
