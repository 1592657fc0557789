//! The Query Result: a scored, multi-dimension routing decision with a prompt-ready context
//! and a trace of every stage. This is the JSON object `jessy query --json` prints and
//! jessy-core's `POST /v1/query` returns.

use serde::{Deserialize, Serialize};

/// The types of [`PairSummary`]'s `kind` and `interval`, defined by the interference stage.
pub use super::interference::{Interval, PairKind};

/// Whether the query routed anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one dimension is active.
    Matched,
    /// Nothing applies confidently enough; no answer is made up.
    NoMatch,
}

/// The complete result of one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Names this query for feedback while the engine remembers it (empty for evaluation
    /// lines, which are not remembered).
    pub query_id: String,
    /// The query as received.
    pub query: String,
    /// Matched or not.
    pub outcome: Outcome,
    /// Why there is no match (absent when matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_match_reason: Option<String>,
    /// Snapshot generation that answered.
    pub generation: u64,
    /// Active dimensions, strongest first (empty on no match).
    pub dimensions: Vec<ActiveDimension>,
    /// The most likely layers overall, with confidences (for top-k routing), best first.
    pub top_layers: Vec<RankedLayer>,
    /// Interference summary.
    pub interference: InterferenceSummary,
    /// Convergence summary and trace.
    pub convergence: ConvergenceSummary,
    /// The security dimension's verdict (always evaluated when the registry has one).
    pub safety: Safety,
    /// Prompt-ready context under the token budget.
    pub context: Context,
    /// Microseconds spent per stage.
    pub timings_us: Timings,
    /// What the semantic cascade did: present when the registry has a semantic head and the
    /// engine an encoder, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<CascadeTrace>,
}

/// The semantic cascade's part in one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CascadeTrace {
    /// Which path answered: `lexical` (the lexical model was sure enough) or `semantic`.
    pub path: crate::semantic::AnswerPath,
    /// The lexical margin (logit units; absent when the query had no known word, which always
    /// counts as unsure).
    pub margin: Option<f32>,
    /// The kind of answer the lexical margin is about (`match` or `no_match`): each kind has
    /// its own escalation cut-off.
    pub lexical_answer: crate::semantic::cascade::AnswerKind,
    /// The margin below which the encoder runs for this kind of answer (absent: never or
    /// always).
    pub escalate_below: Option<f32>,
    /// Microseconds in the encoder (0 on the lexical path; also in `timings_us.encoder`).
    pub encoder_us: f64,
    /// Microseconds spent after the encoder bringing the fast path's working set back into
    /// the caches (0 on the lexical path; see `Engine::rewarm`). Part of `timings_us.total`.
    #[serde(default)]
    pub rewarm_us: f64,
    /// Why the semantic path could not run, when it should have (the lexical answer stands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An active dimension and the layer path chosen in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveDimension {
    /// Dimension id.
    pub id: String,
    /// Dimension name.
    pub name: String,
    /// Confidence after interference, in `[0, 1]`.
    pub confidence: f32,
    /// Confidence from the scanner, before interference.
    pub raw_confidence: f32,
    /// Frequency of the chosen layer (Hz).
    pub frequency: f32,
    /// Path from the root layer to the chosen layer.
    pub layers: Vec<LayerHit>,
}

/// A layer on a chosen path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerHit {
    /// Layer id.
    pub id: String,
    /// Layer name.
    pub name: String,
    /// Depth (0 = root).
    pub depth: u32,
    /// The layer's own confidence.
    pub score: f32,
    /// Frequency (Hz).
    pub frequency: f32,
}

/// A layer ranked over the whole registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedLayer {
    /// Dimension id.
    pub dimension: String,
    /// Layer id.
    pub layer: String,
    /// Confidence.
    pub confidence: f32,
}

/// What the Interference Engine found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InterferenceSummary {
    /// Amplitude-weighted mean frequency (Hz).
    pub dominant_frequency: f32,
    /// Non-neutral pairs between active dimensions.
    pub pairs: Vec<PairSummary>,
    /// Count of harmonic pairs.
    pub harmonics: usize,
    /// Balance modulation.
    pub balance: Balance,
}

/// One interacting pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSummary {
    /// First dimension id.
    pub a: String,
    /// Second dimension id.
    pub b: String,
    /// Interaction.
    pub kind: PairKind,
    /// Harmonic interval, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
}

/// Balance modulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Balance {
    /// Whether the mix needed balancing.
    pub needed: bool,
    /// Dominant frequency after modulation toward the balance centre.
    pub modulated_frequency: f32,
}

/// What the Convergence Processor did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConvergenceSummary {
    /// Iterations run (1–9).
    pub iterations: u32,
    /// Whether the selection stabilised before the cap.
    pub converged: bool,
    /// Whether more than 6 dimensions were active and the result was reduced to the strongest.
    pub return_to_source: bool,
    /// One entry per iteration.
    pub trace: Vec<IterationTrace>,
}

/// One convergence iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationTrace {
    /// 1-based iteration.
    pub iteration: u32,
    /// Selected `dimension/layer` with confidence, strongest first.
    pub selection: Vec<RankedLayer>,
    /// Similarity to the previous iteration's selection (cosine; 0 for the first).
    pub similarity: f32,
}

/// The security dimension's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Safety {
    /// Whether the registry has a `security` dimension that was evaluated.
    pub evaluated: bool,
    /// Its activation in `[0, 1]`.
    pub activation: f32,
    /// Whether it is among the active dimensions.
    pub flagged: bool,
    /// The security layer it navigated to, if flagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

/// Prompt-ready context assembled from the chosen layers' content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Context {
    /// The text to put in a prompt (empty when content is not requested or nothing matched).
    pub text: String,
    /// Estimated tokens of `text`.
    pub tokens: u32,
    /// The budget it was assembled under.
    pub budget: u32,
    /// Where each part came from.
    pub sources: Vec<ContextSource>,
}

/// Provenance of one part of the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextSource {
    /// Dimension id.
    pub dimension: String,
    /// Layer id.
    pub layer: String,
    /// Estimated tokens contributed.
    pub tokens: u32,
    /// Whether the layer's content was cut to fit the budget.
    pub truncated: bool,
}

/// Microseconds per stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Timings {
    /// Query Parser: words and stems, then the model's features.
    pub parse: f64,
    /// Navigator + Dimension Scanner (all iterations).
    pub scan: f64,
    /// Interference Engine (all iterations).
    pub interference: f64,
    /// Convergence Processor bookkeeping: expansion and similarity.
    pub convergence: f64,
    /// Reading layer content from the MMAP regions and assembling the context.
    pub context: f64,
    /// The sentence encoder, when the semantic cascade escalated the query (0 otherwise).
    #[serde(default)]
    pub encoder: f64,
    /// Whole pipeline.
    pub total: f64,
}
