//! The Convergence Processor: scan, navigate, interfere — and repeat with an expanded query
//! until the selection is stable.
//!
//! Iteration 1 scores the query's own features. Each later iteration adds the expansion
//! vectors of the layers selected in the previous one (their keywords and learned terms,
//! weighted by the selection's confidence) and the query words' associations, then re-scores.
//! The loop stops when the cosine similarity between consecutive selections reaches
//! [`CONVERGED_AT`], or after `max_iterations` (at most [`MAX_ITERATIONS`]).
//!
//! The no-match decision is taken on iteration 1, on the calibrated confidence of the query as
//! written: expansion only ever adds evidence for what was already selected, so deciding after
//! it would let an out-of-scope query talk itself into a match.
//!
//! Everything here works in the [`Scratch`] buffers; in steady state it does not allocate.

use std::time::{Duration, Instant};

use super::interference::{interfere, FrequencyState};
use super::navigator::{navigate, DimensionState};
use super::pool::{Candidate, IterationRecord, Scratch, MAX_CANDIDATES};
use super::scanner::{score, to_confidences};
use crate::model;
use crate::model::calibrate::{has_word_evidence, SECONDARY_FLOOR};
use crate::registry::Registry;
use crate::storage::format::LayerRecord;

/// Hard cap on iterations (the seed's "up to 9 refinement iterations").
pub const MAX_ITERATIONS: u32 = 9;
/// Similarity between consecutive selections at which the loop stops.
pub const CONVERGED_AT: f32 = 0.95;
/// More active dimensions than this triggers "return to source".
pub const RETURN_TO_SOURCE_ABOVE: usize = 6;
/// Weight of expansion features relative to the query's own (which sum to 1 after
/// normalization): enough to settle a tie between close layers, too little to overturn a
/// clear decision.
pub const EXPANSION_WEIGHT: f32 = 0.1;
/// A secondary dimension is active when its amplitude reaches this share of the strongest
/// one's and [`SECONDARY_FLOOR`]. Multi-label routing: "an anxious message about an exam
/// tomorrow" activates both emotion and temporal.
pub const SECONDARY_SHARE: f32 = 0.3;
/// Dimensions within this share of [`SECONDARY_FLOOR`] enter interference as candidates, since
/// reinforcement by an agreeing dimension can lift them over the floor.
const CANDIDATE_SHARE: f32 = 0.8;
/// Associations followed per query word.
const ASSOCIATIONS_PER_TERM: usize = 3;

/// Why a query did not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMatchReason {
    /// No query feature is known to the registry.
    UnknownTerms,
    /// The query's decision value (best layer against the out-of-scope output) is below the
    /// calibrated threshold.
    BelowThreshold,
    /// The out-of-scope class is more likely than any layer.
    OutOfScope,
}

/// The no-match threshold rule: a decision value below the calibrated threshold is no match
/// (one definition for routing and for [`Routing::matches_at`]).
fn below_threshold(decision: f32, threshold: f32) -> bool {
    decision < threshold
}

/// The routing decision, held in scratch and summarized by the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Routing {
    /// `None` when matched.
    pub no_match: Option<NoMatchReason>,
    /// The no-match decision value on iteration 1 (the calibrated quantity, see
    /// [`model::calibrate::decision`]).
    pub decision: f32,
    /// Iterations run.
    pub iterations: u32,
    /// Whether the selection stabilized.
    pub converged: bool,
    /// Whether more than six dimensions were active and the selection was reduced.
    pub return_to_source: bool,
    /// Microseconds in the Query Parser: featurizing here, plus parsing (added by the caller,
    /// which parses).
    pub parse_us: f64,
    /// Microseconds in the scanner + navigator.
    pub scan_us: f64,
    /// Microseconds in interference.
    pub interference_us: f64,
    /// Microseconds in expansion and similarity bookkeeping.
    pub convergence_us: f64,
}

impl Routing {
    /// Whether this query would match if the registry's no-match threshold were `threshold`:
    /// the engine's no-match rule, for callers that sweep the threshold (the console's quality
    /// page) without re-deriving it. A query with no known word never matches; otherwise it
    /// matches unless its decision value is below the threshold. The answer it then gets does
    /// not depend on the threshold (the primary is fixed on iteration 1), so such a sweep is
    /// exact.
    pub fn matches_at(&self, threshold: f32) -> bool {
        self.no_match != Some(NoMatchReason::UnknownTerms)
            && !below_threshold(self.decision, threshold)
    }

    /// A routing that did not run: the query is unmatched for `reason`.
    pub(crate) fn unmatched(reason: NoMatchReason) -> Routing {
        Routing {
            no_match: Some(reason),
            decision: 0.0,
            iterations: 0,
            converged: true,
            return_to_source: false,
            parse_us: 0.0,
            scan_us: 0.0,
            interference_us: 0.0,
            convergence_us: 0.0,
        }
    }
}

/// Runs the iterations for a query already parsed into `scratch.parsed`.
///
/// On return, `scratch.candidates` holds the active dimensions strongest first (empty on no
/// match), `scratch.confidence` the final per-layer confidences, `scratch.interference` the
/// final interference and `scratch.iterations` the trace.
pub(crate) fn route(registry: &Registry, scratch: &mut Scratch, max_iterations: u32) -> Routing {
    let snapshot = registry.snapshot();
    let view = registry.model();
    let dims = snapshot.dimension_records();
    let layers = snapshot.layer_records();
    let n_layers = layers.len();
    let threshold = registry.calibration().threshold;
    let max_iterations = max_iterations.clamp(1, MAX_ITERATIONS);

    let mut routing = Routing {
        no_match: None,
        decision: 0.0,
        iterations: 0,
        converged: false,
        return_to_source: false,
        parse_us: 0.0,
        scan_us: 0.0,
        interference_us: 0.0,
        convergence_us: 0.0,
    };
    scratch.iterations.clear();
    // Featurizing is the Query Parser's last step (text → words → features): its time counts
    // in `parse_us`, so the stages add up to the whole route.
    let t_features = Instant::now();
    // Already in the form `model::sum_norm` needs: rows unique and ascending, L2-normalized.
    view.featurize_into(
        &scratch.parsed,
        &mut scratch.keys,
        &mut scratch.base_features,
    );
    if scratch.base_features.is_empty() || !has_word_evidence(&view, &scratch.parsed) {
        routing.no_match = Some(NoMatchReason::UnknownTerms);
    }
    routing.parse_us = t_features.elapsed().as_secs_f64() * 1e6;

    // The primary dimension and its layer path, as iteration 1 decided them.
    let mut primary: Option<DimensionState> = None;
    for iteration in 1..=max_iterations {
        let t = Instant::now();
        let mut t_expand = Duration::ZERO;
        if iteration == 1 {
            score(&view, &scratch.base_features, &mut scratch.base_logits);
            scratch.logits.clone_from(&scratch.base_logits);
        } else {
            // Refinement scores only the expansion: the query's own part of the sum is the
            // same every iteration (see `ModelView::add_scaled_logits`).
            scratch.features.clear();
            expand(registry, scratch);
            model::merge(&mut scratch.features);
            let norm = model::sum_norm(&scratch.base_features, &scratch.features);
            t_expand = t.elapsed();
            score(&view, &scratch.features, &mut scratch.logits);
            view.add_scaled_logits(&scratch.base_logits, &mut scratch.logits, norm);
        }
        if iteration == 1 && routing.no_match.is_none() {
            // The no-match decision is taken once, on the query's own features, exactly as
            // calibration measured it.
            let decision = model::calibrate::decision(&view, &scratch.logits);
            routing.decision = decision.value;
            if below_threshold(decision.value, threshold) {
                routing.no_match = Some(if decision.out_of_scope_wins {
                    NoMatchReason::OutOfScope
                } else {
                    NoMatchReason::BelowThreshold
                });
            }
        }
        to_confidences(&mut scratch.logits);
        scratch.confidence.clear();
        scratch
            .confidence
            .extend(scratch.logits.iter().take(n_layers));
        navigate(
            dims,
            layers,
            &scratch.confidence,
            &mut scratch.reach,
            &mut scratch.dimensions,
        );
        if let Some(p) = primary {
            // Refinement informs the secondary dimensions; the answer stays the calibrated one.
            if let Some(d) = scratch
                .dimensions
                .iter_mut()
                .find(|d| d.dimension == p.dimension)
            {
                d.path = p.path;
                d.path_len = p.path_len;
            }
        }
        let t_scan = t.elapsed();

        select(scratch, layers, primary.map(|p| p.dimension), &mut routing);
        let t_interfere = t.elapsed();
        if iteration == 1 {
            primary = scratch.candidates.first().map(|c| c.state);
        }

        let similarity = record_iteration(scratch);
        routing.iterations = iteration;
        routing.convergence_us += (t_expand + (t.elapsed() - t_interfere)).as_secs_f64() * 1e6;
        routing.scan_us += (t_scan - t_expand).as_secs_f64() * 1e6;
        routing.interference_us += (t_interfere - t_scan).as_secs_f64() * 1e6;
        if iteration > 1 && similarity >= CONVERGED_AT {
            routing.converged = true;
            break;
        }
        if iteration == 1 && scratch.candidates.len() <= 1 {
            // One dimension and no competitor within reach: the primary is fixed and there is
            // no secondary for refinement to weigh. Expansion adds a tenth of the query's own
            // evidence, seldom enough to lift a dimension from below the candidate floor over
            // the secondary floor, and a refinement pass scores the whole query again.
            routing.converged = true;
            break;
        }
        if routing.no_match.is_some() {
            // Nothing to refine: a query that does not match is not expanded toward a guess.
            routing.converged = true;
            break;
        }
    }
    if routing.no_match.is_some() {
        scratch.candidates.clear();
    }
    routing
}

/// Re-decides a query from logits already in `scratch.logits` — the semantic cascade's
/// blended logits — as iteration 1 would: the no-match decision at `threshold` (the cascade's
/// own, calibrated on the blended scores), then navigation, interference and the active set,
/// once. No refinement: expansion vectors are lexical, and the blended answer is the one the
/// cascade's calibration measured.
pub(crate) fn settle(
    registry: &Registry,
    scratch: &mut Scratch,
    routing: &mut Routing,
    threshold: f32,
) {
    let snapshot = registry.snapshot();
    let view = registry.model();
    let dims = snapshot.dimension_records();
    let layers = snapshot.layer_records();
    let t = Instant::now();
    scratch.iterations.clear();
    let decision = model::calibrate::decision(&view, &scratch.logits);
    routing.decision = decision.value;
    routing.no_match = (decision.best.is_none() || decision.value < threshold).then_some(
        if decision.out_of_scope_wins {
            NoMatchReason::OutOfScope
        } else {
            NoMatchReason::BelowThreshold
        },
    );
    routing.iterations = 1;
    routing.converged = true;
    routing.return_to_source = false;
    to_confidences(&mut scratch.logits);
    scratch.confidence.clear();
    scratch
        .confidence
        .extend(scratch.logits.iter().take(layers.len()));
    navigate(
        dims,
        layers,
        &scratch.confidence,
        &mut scratch.reach,
        &mut scratch.dimensions,
    );
    select(scratch, layers, None, routing);
    record_iteration(scratch);
    if routing.no_match.is_some() {
        scratch.candidates.clear();
    }
    routing.scan_us += t.elapsed().as_secs_f64() * 1e6;
}

/// Interference over the strongest dimensions, then the active set (with return to source).
///
/// `pinned` is the primary dimension decided on iteration 1: it is always a candidate and
/// always first.
fn select(
    scratch: &mut Scratch,
    layers: &[LayerRecord],
    pinned: Option<u32>,
    routing: &mut Routing,
) {
    let Scratch {
        dimensions,
        candidates,
        states,
        interference,
        interfered,
        ..
    } = scratch;
    candidates.clear();
    let best = dimensions
        .iter()
        .map(|d| d.activation)
        .fold(0.0f32, f32::max);
    // Candidates: anything within reach of being active once interference has run.
    // The best dimension is always a candidate: whether the query matches at all is the
    // calibrated decision's call, not this floor's.
    let floor = (SECONDARY_FLOOR * CANDIDATE_SHARE)
        .max(best * SECONDARY_SHARE * CANDIDATE_SHARE)
        .min(best);
    candidates.extend(
        dimensions
            .iter()
            .filter(|d| {
                Some(d.dimension) == pinned || (d.activation >= floor && d.activation > 0.0)
            })
            .map(|&state| Candidate {
                state,
                amplitude: state.activation,
            }),
    );
    candidates.sort_by(|a, b| b.state.activation.total_cmp(&a.state.activation));
    if let Some(i) = candidates
        .iter()
        .position(|c| Some(c.state.dimension) == pinned)
    {
        candidates[..=i].rotate_right(1);
    }
    candidates.truncate(MAX_CANDIDATES);

    states.clear();
    interfered.clear();
    for c in candidates.iter() {
        let frequency = layers
            .get(c.state.layer() as usize)
            .map_or(0.0, |l| l.frequency);
        states.push(FrequencyState {
            frequency,
            amplitude: c.state.activation,
        });
        interfered.push(c.state.dimension);
    }
    interfere(states, interference);
    for (c, &a) in candidates.iter_mut().zip(&interference.amplitudes) {
        c.amplitude = a;
    }
    // The strongest dimension before interference holds the model's best layer, the answer
    // calibration measured: it stays first. Interference orders and filters the others, and
    // can still lift one of them above it in amplitude (reported in the trace).
    if let Some((_, rest)) = candidates.split_first_mut() {
        rest.sort_by(|a, b| b.amplitude.total_cmp(&a.amplitude));
    }
    let Some(top) = candidates.iter().map(|c| c.amplitude).reduce(f32::max) else {
        return;
    };
    let active_floor = SECONDARY_FLOOR.max(top * SECONDARY_SHARE);
    let mut kept = 0;
    candidates.retain(|c| {
        kept += 1;
        kept == 1 || c.amplitude >= active_floor
    });
    if candidates.len() > RETURN_TO_SOURCE_ABOVE {
        routing.return_to_source = true;
        let keep = if candidates[2].amplitude >= 0.5 * top {
            3
        } else {
            2
        };
        candidates.truncate(keep);
    }
}

/// Records the current selection and returns its similarity to the previous one.
fn record_iteration(scratch: &mut Scratch) -> f32 {
    let mut record = IterationRecord::default();
    for c in scratch.candidates.iter().take(MAX_CANDIDATES) {
        record.selection[record.len] = (c.state.layer(), c.amplitude);
        record.len += 1;
    }
    record.similarity = match scratch.iterations.last() {
        Some(prev) => cosine(&prev.selection[..prev.len], &record.selection[..record.len]),
        None => 0.0,
    };
    let similarity = record.similarity;
    scratch.iterations.push(record);
    similarity
}

/// Cosine similarity of two sparse selections keyed by layer.
pub(crate) fn cosine(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let dot: f32 = a
        .iter()
        .map(|(la, va)| {
            b.iter()
                .find(|(lb, _)| lb == la)
                .map_or(0.0, |(_, vb)| va * vb)
        })
        .sum();
    let na: f32 = a.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if na == 0.0 && nb == 0.0 {
        1.0
    } else if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        (dot / (na * nb)).clamp(0.0, 1.0)
    }
}

/// Adds the selected layers' expansion vectors and the query words' associations.
fn expand(registry: &Registry, scratch: &mut Scratch) {
    let snapshot = registry.snapshot();
    let layers = snapshot.layer_records();
    let expansion = snapshot.expansion();
    if let Some(prev) = scratch.iterations.last() {
        for &(layer, amplitude) in &prev.selection[..prev.len] {
            let Some(record) = layers.get(layer as usize) else {
                continue;
            };
            for fv in expansion.get(record.expansion.as_range()).unwrap_or(&[]) {
                scratch
                    .features
                    .push((fv.row, fv.value * amplitude * EXPANSION_WEIGHT));
            }
        }
    }
    let associations = snapshot.associations();
    for key in scratch.parsed.stems().map(model::unigram_key) {
        let start = associations.partition_point(|a| a.source_key < key);
        for a in associations[start..]
            .iter()
            .take_while(|a| a.source_key == key)
            // Links of a single co-occurrence are kept only so that learning can grow them.
            .filter(|a| a.strength > model::associations::BASE_STRENGTH)
            .take(ASSOCIATIONS_PER_TERM)
        {
            scratch
                .features
                .push((a.target_row, a.strength * EXPANSION_WEIGHT));
        }
    }
}
