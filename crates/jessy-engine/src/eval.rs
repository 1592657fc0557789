//! Evaluation: route every line of a labeled file through the full pipeline and score it.
//!
//! Definitions (each in-scope line has a gold `dimension/layer`; out-of-scope lines have none):
//! - `in_scope_accuracy`: in-scope lines whose answer is `matched` with the gold layer as the
//!   chosen layer of the strongest dimension. Answering `no_match` counts as wrong.
//! - `top3_accuracy`: in-scope lines whose gold layer is among the three most confident layers
//!   (a ranking measure, independent of the no-match decision).
//! - `dimension_accuracy`: in-scope lines answered `matched` with the gold dimension strongest.
//! - `oos_recall`: out-of-scope lines answered `no_match`; `oos_precision`: of all `no_match`
//!   answers, the share that were out of scope.
//! - `p50_us`, `p90_us`, `p99_us`: wall time of [`Engine::query`] per line, single thread, in
//!   process (encoder and the cache re-warm after it included for escalated lines).
//! - With the semantic cascade (a registry with a semantic head, an engine with an encoder):
//!   `escalation_rate`, the share of lines the encoder ran for, and `lexical_path` /
//!   `semantic_path`, the same accuracies over the lines each path answered.
//!
//! Labels are compared through [`crate::build::import::id_matches_label`]: the id itself or the slug
//! `jessy import` made of it.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::build::import::id_matches_label;
use crate::dataset::LabeledExample;
/// Whether one answer is right (defined in the engine, whose learning guard uses it too).
pub use crate::engine::is_right;
use crate::engine::Engine;
use crate::query::result::Outcome;
use crate::query::QueryOptions;

/// The evaluation report (`jessy eval --json` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Lines evaluated.
    pub examples: usize,
    /// In-scope lines.
    pub in_scope: usize,
    /// Out-of-scope lines.
    pub out_of_scope: usize,
    /// Top-1 layer accuracy on in-scope lines (no_match counts wrong).
    pub in_scope_accuracy: f64,
    /// Gold layer within the top 3 on in-scope lines.
    pub top3_accuracy: f64,
    /// Strongest dimension correct on in-scope lines (no_match counts wrong).
    pub dimension_accuracy: f64,
    /// Out-of-scope lines answered no_match.
    pub oos_recall: f64,
    /// Share of no_match answers that were out of scope.
    pub oos_precision: f64,
    /// Lines whose query the parser rejected (counted as no_match).
    pub rejected: usize,
    /// Mean convergence iterations per query.
    pub mean_iterations: f64,
    /// Median latency per query (µs).
    pub p50_us: f64,
    /// 90th percentile latency per query (µs).
    #[serde(default)]
    pub p90_us: f64,
    /// 99th percentile latency per query (µs).
    pub p99_us: f64,
    /// Share of lines the semantic cascade sent to the encoder (0 without a cascade).
    #[serde(default)]
    pub escalation_rate: f64,
    /// Accuracy over the lines the lexical path answered (present with a cascade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical_path: Option<PathReport>,
    /// Accuracy over the lines the semantic path answered (present with a cascade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_path: Option<PathReport>,
    /// Median encoder time of the escalated lines (µs; 0 without escalations).
    #[serde(default)]
    pub encoder_p50_us: f64,
    /// Median time the escalated lines spent re-warming the caches after the encoder (µs; 0
    /// without escalations; part of their latency, see `Engine::rewarm`).
    #[serde(default)]
    pub rewarm_p50_us: f64,
}

/// Accuracy over the lines one path of the cascade answered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct PathReport {
    /// Lines answered by this path.
    pub lines: usize,
    /// In-scope lines among them.
    pub in_scope: usize,
    /// Of those, answered with the gold layer.
    pub in_scope_accuracy: f64,
    /// Out-of-scope lines among them.
    pub out_of_scope: usize,
    /// Of those, answered no_match.
    pub oos_recall: f64,
}

/// Counts behind a [`PathReport`].
#[derive(Default)]
struct PathCounts {
    lines: usize,
    in_scope: usize,
    correct: usize,
    oos: usize,
    oos_rejected: usize,
}

impl PathCounts {
    fn report(&self) -> PathReport {
        PathReport {
            lines: self.lines,
            in_scope: self.in_scope,
            in_scope_accuracy: ratio(self.correct, self.in_scope),
            out_of_scope: self.oos,
            oos_recall: ratio(self.oos_rejected, self.oos),
        }
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// Percentile of sorted samples (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Evaluates `engine` on `examples`; `progress` is called after each line.
pub fn evaluate(
    engine: &Engine,
    examples: &[LabeledExample],
    progress: impl FnMut(usize),
) -> EvalReport {
    let options = QueryOptions {
        include_content: false,
        ..QueryOptions::default()
    };
    evaluate_with(engine, examples, &options, progress)
}

/// [`evaluate`] with explicit query options.
pub fn evaluate_with(
    engine: &Engine,
    examples: &[LabeledExample],
    options: &QueryOptions,
    mut progress: impl FnMut(usize),
) -> EvalReport {
    let options = *options;
    let mut latencies = Vec::with_capacity(examples.len());
    let mut iterations = 0usize;
    let (mut in_scope, mut correct, mut top3, mut dim_correct) = (0, 0, 0, 0);
    let (mut oos, mut oos_rejected, mut no_match_answers, mut rejected) = (0, 0, 0, 0);
    let mut paths = [PathCounts::default(), PathCounts::default()];
    let mut encoder_us = Vec::new();
    let mut rewarm_us = Vec::new();
    let cascade = engine.has_cascade();
    for (i, ex) in examples.iter().enumerate() {
        let started = Instant::now();
        let result = engine.query_unrecorded(&ex.text, &options);
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        let gold = ex
            .layer
            .as_deref()
            .map(|l| (ex.dimension.as_deref().unwrap_or(""), l));
        if let Ok(r) = &result {
            iterations += r.convergence.iterations as usize;
        }
        let (matched, top_dim, top_layer, ranked) = match &result {
            Ok(r) => (
                r.outcome == Outcome::Matched,
                r.dimensions.first().map(|d| d.id.clone()),
                r.dimensions
                    .first()
                    .and_then(|d| d.layers.last())
                    .map(|l| l.id.clone()),
                r.top_layers
                    .iter()
                    .take(3)
                    .map(|t| (t.dimension.clone(), t.layer.clone()))
                    .collect::<Vec<_>>(),
            ),
            Err(_) => {
                rejected += 1;
                (false, None, None, Vec::new())
            }
        };
        if !matched {
            no_match_answers += 1;
        }
        let path = match result.as_ref().ok().and_then(|r| r.cascade.as_ref()) {
            Some(trace) if trace.path == crate::semantic::AnswerPath::Semantic => {
                encoder_us.push(trace.encoder_us);
                rewarm_us.push(trace.rewarm_us);
                &mut paths[1]
            }
            _ => &mut paths[0],
        };
        path.lines += 1;
        match gold {
            Some((dimension, layer)) => {
                in_scope += 1;
                if matched
                    && top_dim
                        .as_deref()
                        .is_some_and(|d| id_matches_label(d, dimension))
                {
                    dim_correct += 1;
                    if top_layer
                        .as_deref()
                        .is_some_and(|l| id_matches_label(l, layer))
                    {
                        correct += 1;
                        path.correct += 1;
                    }
                }
                path.in_scope += 1;
                if ranked
                    .iter()
                    .any(|(d, l)| id_matches_label(d, dimension) && id_matches_label(l, layer))
                {
                    top3 += 1;
                }
            }
            None => {
                oos += 1;
                path.oos += 1;
                if !matched {
                    oos_rejected += 1;
                    path.oos_rejected += 1;
                }
            }
        }
        progress(i + 1);
    }
    latencies.sort_by(f64::total_cmp);
    encoder_us.sort_by(f64::total_cmp);
    rewarm_us.sort_by(f64::total_cmp);
    EvalReport {
        examples: examples.len(),
        in_scope,
        out_of_scope: oos,
        in_scope_accuracy: ratio(correct, in_scope),
        top3_accuracy: ratio(top3, in_scope),
        dimension_accuracy: ratio(dim_correct, in_scope),
        oos_recall: ratio(oos_rejected, oos),
        oos_precision: ratio(oos_rejected, no_match_answers),
        rejected,
        mean_iterations: ratio(iterations, examples.len()),
        p50_us: percentile(&latencies, 50.0),
        p90_us: percentile(&latencies, 90.0),
        p99_us: percentile(&latencies, 99.0),
        escalation_rate: ratio(paths[1].lines, examples.len()),
        lexical_path: cascade.then(|| paths[0].report()),
        semantic_path: cascade.then(|| paths[1].report()),
        encoder_p50_us: percentile(&encoder_us, 50.0),
        rewarm_p50_us: percentile(&rewarm_us, 50.0),
    }
}
