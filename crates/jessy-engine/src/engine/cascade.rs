//! The semantic cascade on the query path: after the lexical route, escalate an unsure query to
//! the encoder and let the blended logits decide (see [`crate::semantic`]).

use std::sync::Arc;
use std::time::Instant;

use super::{Engine, EngineError};
use crate::query::convergence::settle;
use crate::query::result::{CascadeTrace, QueryResult};
use crate::query::{self, NoMatchReason, QueryOptions, Routing, Scratch};
use crate::registry::Registry;
use crate::semantic::cascade::{blend_into, escalates, lexical_margin, Margin};
use crate::semantic::{AnswerPath, Encoder, SemanticHead};

/// What [`Engine::query_fast`] found.
#[derive(Debug)]
pub enum FastQuery {
    /// The lexical path answered (the registry has no semantic head, the engine no encoder, or
    /// the lexical margin was wide enough).
    Answered(Box<QueryResult>),
    /// The query needs the encoder: run [`Engine::query`] for it, off any latency-sensitive
    /// thread.
    NeedsEncoder,
}

/// Lexical queries [`Engine::rewarm`] runs after each encoder call. Chosen on CLINC150
/// validation lines (half B of val.jsonl, each query after a 128 MB cache sweep): 8 probes
/// brought the median query from 130 µs back to about 65 µs (45 µs back to back) for 0.7 ms;
/// 32 probes did no better for 2.4 ms.
const REWARM_PROBES: usize = 8;

/// What the cascade decided before the encoder runs.
pub(super) struct Plan<'h> {
    pub(super) head: &'h SemanticHead,
    pub(super) margin: Margin,
    pub(super) escalate: bool,
}

impl Engine {
    /// Attaches a sentence encoder: queries the lexical path is unsure of are then decided by
    /// the snapshot's semantic head, and layer writes retrain the head. Refused when the
    /// snapshot's head was trained with another encoder (its vectors would mean nothing to
    /// the head). A snapshot without a head accepts any encoder, which then does nothing.
    pub fn with_encoder(mut self, encoder: Arc<dyn Encoder>) -> Result<Engine, EngineError> {
        if let Some(head) = self.registry().semantic_head() {
            if !head.encoder.same_vectors(encoder.identity()) {
                return Err(EngineError::EncoderMismatch {
                    snapshot: head.encoder.to_string(),
                    encoder: encoder.identity().to_string(),
                });
            }
        }
        self.encoder = Some(encoder);
        Ok(self)
    }

    /// The attached encoder, if any.
    pub fn encoder(&self) -> Option<&Arc<dyn Encoder>> {
        self.encoder.as_ref()
    }

    /// Whether queries can escalate: the current generation has a semantic head and the engine
    /// an encoder.
    pub fn has_cascade(&self) -> bool {
        self.encoder.is_some() && self.registry().semantic_head().is_some()
    }

    /// The cascade's plan for a routed query (`None`: no cascade here).
    pub(super) fn plan<'r>(
        &self,
        registry: &'r Registry,
        scratch: &Scratch,
        routing: &Routing,
    ) -> Option<Plan<'r>> {
        self.encoder.as_ref()?;
        let head = registry.semantic_head()?;
        let view = registry.model();
        let margin = lexical_margin(
            &scratch.base_logits,
            view.num_classes as usize,
            view.has_out_of_scope_class(),
            registry.calibration().threshold,
            routing.no_match == Some(NoMatchReason::UnknownTerms),
        );
        Some(Plan {
            head,
            margin,
            escalate: escalates(margin, &head.params),
        })
    }

    /// Brings the fast path's working set back into the caches after the encoder ran: reads
    /// every cache line of the lexical model (about 10 MB for CLINC150) and routes
    /// [`REWARM_PROBES`] layer examples (spread over the registry) through the lexical path and
    /// its summary; returns the microseconds it took.
    ///
    /// Why: the encoder streams its ~90 MB of weights through the caches, which the shared
    /// last-level cache (36 MiB on the development machine) cannot keep beside the lexical
    /// path's code, tables and model. Measured on validation lines, a fast-path query right
    /// after such a sweep took 2–3× its warm time (130 µs against 45 µs), and with a fifth of
    /// the queries escalated the median query — a fast-path one — rose by 60–70 %. Reading
    /// the model back and a few lexical queries fetch what the next queries touch (the code,
    /// the parser's and registry's tables, the model's rows) for about a millisecond, a few
    /// percent of an escalated query; on the same lines the median's rise fell to 36–48 %
    /// (three alternating runs each). Nothing is recorded: the probes are not traffic.
    pub(super) fn rewarm(&self, registry: &Registry) -> f64 {
        let started = Instant::now();
        let layers = registry.layer_count();
        if layers == 0 {
            return 0.0;
        }
        let step = layers.div_ceil(REWARM_PROBES).max(1);
        let probes = registry
            .dimensions()
            .flat_map(|d| d.layers())
            .step_by(step)
            .filter_map(|layer| layer.examples().next());
        std::hint::black_box(registry.model().touch());
        let options = QueryOptions::default();
        let mut scratch = self.pool.take();
        for text in probes {
            if let Ok(routing) = self.route(registry, &mut scratch, text, &options) {
                std::hint::black_box(query::summarize(
                    registry, &scratch, text, &routing, &options,
                ));
            }
        }
        started.elapsed().as_secs_f64() * 1e6
    }

    /// Runs the encoder and re-decides the query from the blended logits, in `scratch`.
    /// On an encoder failure the lexical routing stands and the trace says why.
    pub(super) fn escalate(
        &self,
        registry: &Registry,
        scratch: &mut Scratch,
        routing: &mut Routing,
        text: &str,
        plan: &Plan<'_>,
    ) -> CascadeTrace {
        let escalate_below = plan.head.params.escalate_below(plan.margin.kind);
        let mut trace = CascadeTrace {
            path: AnswerPath::Lexical,
            margin: plan.margin.value.is_finite().then_some(plan.margin.value),
            lexical_answer: plan.margin.kind,
            escalate_below: escalate_below.is_finite().then_some(escalate_below),
            encoder_us: 0.0,
            rewarm_us: 0.0,
            error: None,
        };
        if !plan.escalate {
            return trace;
        }
        let Some(encoder) = self.encoder.as_ref() else {
            return trace;
        };
        if !plan.head.encoder.same_vectors(encoder.identity()) {
            trace.error = Some(format!(
                "the snapshot's semantic head was trained with {}, the engine has {}",
                plan.head.encoder,
                encoder.identity()
            ));
            return trace;
        }
        let t = Instant::now();
        let embedded = encoder.embed(&[text]);
        trace.encoder_us = t.elapsed().as_secs_f64() * 1e6;
        trace.rewarm_us = self.rewarm(registry);
        let vector = match embedded {
            Ok(mut v) if v.len() == 1 && v[0].len() == plan.head.encoder.dim as usize => {
                v.swap_remove(0)
            }
            Ok(_) => {
                trace.error = Some("the encoder returned a vector of the wrong size".into());
                return trace;
            }
            Err(e) => {
                trace.error = Some(e.to_string());
                return trace;
            }
        };
        let mut semantic = Vec::with_capacity(plan.head.outputs as usize);
        plan.head.logits_into(&vector, &mut semantic);
        let lexical = std::mem::take(&mut scratch.logits);
        let mut blended = lexical;
        blend_into(
            &scratch.base_logits,
            &semantic,
            plan.head.params.blend,
            &mut blended,
        );
        scratch.logits = blended;
        settle(registry, scratch, routing, plan.head.params.threshold);
        trace.path = AnswerPath::Semantic;
        trace
    }
}
