//! Result shaping: turns the routing held in scratch into the owned, serializable
//! [`QueryResult`] — dimensions and layer paths, top layers, interference summary, trace,
//! safety signal and the assembled context.

use super::context;
use super::convergence::{NoMatchReason, Routing};
use super::options::QueryOptions;
use super::pool::Scratch;
use super::result::*;
use crate::registry::Registry;
use crate::storage::Snapshot;

/// Layers listed in `top_layers`.
const TOP_LAYERS: usize = 5;

fn reason_text(reason: NoMatchReason, routing: &Routing, threshold: f32) -> String {
    match reason {
        NoMatchReason::UnknownTerms => "no word of the query is known to this registry with weight for any layer".into(),
        NoMatchReason::BelowThreshold => format!(
            "decision value {:.3} (best layer against the out-of-scope output) is below the registry's threshold {:.3}",
            routing.decision, threshold
        ),
        NoMatchReason::OutOfScope => {
            "the query is closer to the registry's out-of-scope examples than to any layer".into()
        }
    }
}

/// Turns the routing held in scratch into the owned, serializable result.
pub(crate) fn summarize(
    registry: &Registry,
    scratch: &Scratch,
    text: &str,
    routing: &Routing,
    options: &QueryOptions,
) -> QueryResult {
    let snapshot = registry.snapshot();
    let matched = routing.no_match.is_none();
    let context = if matched && options.include_content {
        context::assemble(snapshot, &scratch.candidates, options.token_budget)
    } else {
        Context {
            budget: options.token_budget,
            ..Context::default()
        }
    };
    QueryResult {
        query_id: String::new(),
        query: text.to_string(),
        outcome: if matched {
            Outcome::Matched
        } else {
            Outcome::NoMatch
        },
        no_match_reason: routing
            .no_match
            .map(|r| reason_text(r, routing, registry.calibration().threshold)),
        generation: snapshot.generation(),
        dimensions: active_dimensions(snapshot, scratch),
        top_layers: top_layers(snapshot, scratch),
        interference: if matched {
            interference_summary(snapshot, scratch)
        } else {
            InterferenceSummary::default()
        },
        convergence: ConvergenceSummary {
            iterations: routing.iterations,
            converged: routing.converged,
            return_to_source: routing.return_to_source,
            trace: trace(snapshot, scratch),
        },
        safety: safety(snapshot, scratch),
        context,
        timings_us: Timings {
            parse: routing.parse_us,
            scan: routing.scan_us,
            interference: routing.interference_us,
            convergence: routing.convergence_us,
            ..Timings::default()
        },
        cascade: None,
    }
}

/// A layer as `dimension/layer` with its confidence.
fn ranked(snapshot: &Snapshot, (layer, confidence): (u32, f32)) -> RankedLayer {
    let l = &snapshot.layer_records()[layer as usize];
    RankedLayer {
        dimension: snapshot
            .str(snapshot.dimension_records()[l.dimension as usize].id)
            .to_string(),
        layer: snapshot.str(l.id).to_string(),
        confidence,
    }
}

/// The active dimensions, strongest first, each with its layer path L0 → deepest.
fn active_dimensions(snapshot: &Snapshot, scratch: &Scratch) -> Vec<ActiveDimension> {
    let dims = snapshot.dimension_records();
    let layers = snapshot.layer_records();
    scratch
        .candidates
        .iter()
        .map(|c| {
            let d = &dims[c.state.dimension as usize];
            let path: Vec<LayerHit> = c
                .state
                .path()
                .iter()
                .map(|&i| {
                    let l = &layers[i as usize];
                    LayerHit {
                        id: snapshot.str(l.id).to_string(),
                        name: snapshot.str(l.name).to_string(),
                        depth: l.depth,
                        score: scratch.confidence.get(i as usize).copied().unwrap_or(0.0),
                        frequency: l.frequency,
                    }
                })
                .collect();
            ActiveDimension {
                id: snapshot.str(d.id).to_string(),
                name: snapshot.str(d.name).to_string(),
                confidence: c.amplitude,
                raw_confidence: c.state.activation,
                frequency: path.last().map_or(0.0, |l| l.frequency),
                layers: path,
            }
        })
        .collect()
}

/// The [`TOP_LAYERS`] most confident layers of any dimension, by one pass of insertion.
fn top_layers(snapshot: &Snapshot, scratch: &Scratch) -> Vec<RankedLayer> {
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(TOP_LAYERS + 1);
    for (i, &c) in scratch.confidence.iter().enumerate() {
        if top.len() < TOP_LAYERS || c > top[top.len() - 1].1 {
            let at = top.partition_point(|&(_, t)| t >= c);
            top.insert(at, (i as u32, c));
            top.truncate(TOP_LAYERS);
        }
    }
    top.into_iter().map(|t| ranked(snapshot, t)).collect()
}

/// Interference over the dimensions that stayed active.
fn interference_summary(snapshot: &Snapshot, scratch: &Scratch) -> InterferenceSummary {
    let dims = snapshot.dimension_records();
    let active: Vec<u32> = scratch
        .candidates
        .iter()
        .map(|c| c.state.dimension)
        .collect();
    let dim_id = |i: usize| {
        snapshot
            .str(dims[scratch.interfered[i] as usize].id)
            .to_string()
    };
    let pairs: Vec<PairSummary> = scratch
        .interference
        .pairs
        .iter()
        .filter(|p| {
            active.contains(&scratch.interfered[p.a]) && active.contains(&scratch.interfered[p.b])
        })
        .map(|p| PairSummary {
            a: dim_id(p.a),
            b: dim_id(p.b),
            kind: p.kind,
            interval: p.interval,
        })
        .collect();
    InterferenceSummary {
        dominant_frequency: scratch.interference.dominant_frequency,
        harmonics: pairs.iter().filter(|p| p.interval.is_some()).count(),
        pairs,
        balance: Balance {
            needed: scratch.interference.balance_needed,
            modulated_frequency: scratch.interference.balanced_frequency,
        },
    }
}

/// The selection of every convergence iteration.
fn trace(snapshot: &Snapshot, scratch: &Scratch) -> Vec<IterationTrace> {
    scratch
        .iterations
        .iter()
        .enumerate()
        .map(|(n, rec)| IterationTrace {
            iteration: n as u32 + 1,
            selection: rec.selection[..rec.len]
                .iter()
                .map(|&t| ranked(snapshot, t))
                .collect(),
            similarity: rec.similarity,
        })
        .collect()
}

/// The dimension whose activation is always reported as the safety signal.
pub const SECURITY_DIMENSION: &str = "security";

fn safety(snapshot: &Snapshot, scratch: &Scratch) -> Safety {
    let dims = snapshot.dimension_records();
    let Some(index) = dims
        .iter()
        .position(|d| snapshot.str(d.id) == SECURITY_DIMENSION)
    else {
        return Safety::default();
    };
    let state = scratch
        .dimensions
        .iter()
        .find(|s| s.dimension as usize == index);
    let flagged = scratch
        .candidates
        .iter()
        .any(|c| c.state.dimension as usize == index);
    Safety {
        evaluated: true,
        activation: state.map_or(0.0, |s| s.activation),
        flagged,
        layer: state.filter(|_| flagged).map(|s| {
            snapshot
                .str(snapshot.layer_records()[s.layer() as usize].id)
                .to_string()
        }),
    }
}
