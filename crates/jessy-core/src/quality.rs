//! What the console's Quality page shows beyond `jessy eval`'s figures: the most confused
//! layer pairs and the no-match threshold swept against in-scope accuracy and OOS recall.
//!
//! Both come from one more pass over the lines that keeps, per line, the query's routing
//! decision ([`jessy_engine::Routing`]) and the answer the engine gives when the query
//! matches: the primary layer chosen on convergence iteration 1, which is fixed from then on.
//! Whether a line matches at a swept threshold is the engine's own rule
//! ([`jessy_engine::Routing::matches_at`]), and the answer does not depend on the threshold,
//! so the sweep is exact, not a model of the engine: at the registry's own threshold it
//! reproduces `jessy eval`'s in-scope accuracy and OOS recall (a test checks this).

use std::collections::HashMap;

use jessy_engine::build::import::id_matches_label;
use jessy_engine::dataset::LabeledExample;
use jessy_engine::{Engine, Outcome, QueryOptions, Routing, Scratch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Confused pairs listed, most frequent first.
pub const MAX_CONFUSIONS: usize = 20;

/// Thresholds swept: `0, 1/STEPS, …, 1` (and the registry's own threshold).
pub const SWEEP_STEPS: u32 = 50;

/// One confused pair: in-scope lines of layer `gold` answered (matched) with layer `predicted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Confusion {
    /// `dimension/layer` as labelled in the file.
    pub gold: String,
    /// `dimension/layer` the engine chose.
    pub predicted: String,
    /// Lines.
    pub count: usize,
}

/// One point of the threshold sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SweepPoint {
    /// The no-match threshold.
    pub threshold: f32,
    /// In-scope lines matched with the gold layer, over in-scope lines.
    pub in_scope_accuracy: f64,
    /// Out-of-scope lines answered no_match, over out-of-scope lines.
    pub oos_recall: f64,
}

/// Confusions and the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QualityDetail {
    /// The registry's calibrated no-match threshold.
    pub threshold: f32,
    /// Most confused pairs, most frequent first (at most [`MAX_CONFUSIONS`]).
    pub confusions: Vec<Confusion>,
    /// In-scope lines answered no_match.
    pub in_scope_no_match: usize,
    /// Lines whose labelled layer is not in the registry (they can never be right: usually
    /// the wrong file for this registry).
    pub unknown_labels: usize,
    /// The sweep, by increasing threshold; the registry's own threshold is one of the points.
    pub sweep: Vec<SweepPoint>,
}

/// What one line did.
struct LineOutcome<'a> {
    /// `(dimension, layer)` labels, `None` out of scope.
    gold: Option<(&'a str, &'a str)>,
    /// The routing decision; `None` when the parser rejected the query (it never matches).
    routing: Option<Routing>,
    /// `(dimension, layer)` ids the query routes to when it matches.
    answer: Option<(String, String)>,
}

impl LineOutcome<'_> {
    fn matches_at(&self, threshold: f32) -> bool {
        self.routing.is_some_and(|r| r.matches_at(threshold))
    }

    fn correct(&self) -> bool {
        match (self.gold, &self.answer) {
            (Some((gd, gl)), Some((d, l))) => id_matches_label(d, gd) && id_matches_label(l, gl),
            _ => false,
        }
    }
}

/// Runs every line once more and computes the confusions and the sweep. Lines are routed
/// without being recorded: an evaluation must not fill the no-match inbox or the feedback memory.
pub fn analyze(engine: &Engine, examples: &[LabeledExample]) -> QualityDetail {
    let registry = engine.registry();
    let threshold = registry.calibration().threshold;
    let options = QueryOptions {
        include_content: false,
        ..QueryOptions::default()
    };
    let mut scratch = Scratch::default();
    let mut unknown_labels = 0;
    let outcomes: Vec<LineOutcome<'_>> = examples
        .iter()
        .map(|ex| {
            let gold = ex
                .layer
                .as_deref()
                .map(|l| (ex.dimension.as_deref().unwrap_or(""), l));
            if let Some((d, l)) = gold {
                let known = registry.dimensions().any(|dim| {
                    id_matches_label(dim.id(), d)
                        && dim.layers().any(|x| id_matches_label(x.id(), l))
                });
                if !known {
                    unknown_labels += 1;
                }
            }
            let routing = engine
                .route(&registry, &mut scratch, &ex.text, &options)
                .ok();
            let answer = engine
                .query_unrecorded(&ex.text, &options)
                .ok()
                .and_then(|r| {
                    if r.outcome == Outcome::Matched {
                        let d = r.dimensions.first()?;
                        Some((d.id.clone(), d.layers.last()?.id.clone()))
                    } else {
                        // The primary of iteration 1 is what a lower threshold would answer.
                        let first = r.convergence.trace.first()?.selection.first()?;
                        Some((first.dimension.clone(), first.layer.clone()))
                    }
                });
            LineOutcome {
                gold,
                routing,
                answer,
            }
        })
        .collect();

    let mut pairs: HashMap<(String, String), usize> = HashMap::new();
    let mut in_scope_no_match = 0;
    for line in &outcomes {
        let Some((gd, gl)) = line.gold else { continue };
        if !line.matches_at(threshold) {
            in_scope_no_match += 1;
        } else if !line.correct() {
            if let Some((d, l)) = &line.answer {
                *pairs
                    .entry((format!("{gd}/{gl}"), format!("{d}/{l}")))
                    .or_default() += 1;
            }
        }
    }
    let mut confusions: Vec<Confusion> = pairs
        .into_iter()
        .map(|((gold, predicted), count)| Confusion {
            gold,
            predicted,
            count,
        })
        .collect();
    confusions.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.gold.cmp(&b.gold))
            .then_with(|| a.predicted.cmp(&b.predicted))
    });
    confusions.truncate(MAX_CONFUSIONS);

    let mut thresholds: Vec<f32> = (0..=SWEEP_STEPS)
        .map(|i| i as f32 / SWEEP_STEPS as f32)
        .collect();
    thresholds.push(threshold);
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    let sweep = thresholds
        .into_iter()
        .map(|t| sweep_point(&outcomes, t))
        .collect();
    QualityDetail {
        threshold,
        confusions,
        in_scope_no_match,
        unknown_labels,
        sweep,
    }
}

fn sweep_point(outcomes: &[LineOutcome<'_>], threshold: f32) -> SweepPoint {
    let (mut in_scope, mut correct, mut oos, mut rejected) = (0usize, 0usize, 0usize, 0usize);
    for line in outcomes {
        let matched = line.matches_at(threshold);
        if line.gold.is_some() {
            in_scope += 1;
            if matched && line.correct() {
                correct += 1;
            }
        } else {
            oos += 1;
            if !matched {
                rejected += 1;
            }
        }
    }
    SweepPoint {
        threshold,
        in_scope_accuracy: ratio(correct, in_scope),
        oos_recall: ratio(rejected, oos),
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}
