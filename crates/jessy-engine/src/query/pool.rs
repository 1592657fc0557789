//! The Memory Pool: per-query scratch buffers, reused across queries.
//!
//! Every buffer a query needs for scoring lives in one [`Scratch`]. After a few queries the
//! buffers have grown to the registry's size and stop allocating: in steady state the scoring
//! path makes no heap allocation (proved by the counting-allocator test in
//! `tests/allocations.rs`). Scratches are kept in a small free list; a query takes one, and the
//! [`PooledScratch`] guard returns it when dropped. A mutex-protected `Vec` is enough: it is held
//! for a push or a pop, far shorter than the query itself.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use super::interference::{FrequencyState, Interference};
use super::navigator::DimensionState;
use crate::parser::ParsedQuery;

/// Most scratches kept for reuse: one per concurrently running query is enough; beyond that
/// they are dropped instead of hoarded.
const MAX_POOLED: usize = 64;

/// The most dimensions carried into interference and convergence per iteration.
pub const MAX_CANDIDATES: usize = 16;

/// A dimension that survived the scanner's floor, with its amplitude after interference.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Candidate {
    /// The navigated dimension.
    pub state: DimensionState,
    /// Amplitude after interference.
    pub amplitude: f32,
}

/// One convergence iteration, recorded without allocating.
#[derive(Debug, Clone, Copy, Default)]
pub struct IterationRecord {
    /// Selected `(layer, confidence)`, strongest first; `len` entries used.
    pub selection: [(u32, f32); MAX_CANDIDATES],
    /// Entries used.
    pub len: usize,
    /// Cosine similarity to the previous iteration.
    pub similarity: f32,
}

/// Buffers for one query. Opaque outside the engine: take one with `Scratch::default()` and
/// pass it to [`Engine::route`](crate::Engine::route) for every query of a thread.
#[derive(Default)]
pub struct Scratch {
    /// The parsed query.
    pub(crate) parsed: ParsedQuery,
    /// Feature keys being looked up (featurization scratch).
    pub(crate) keys: Vec<u64>,
    /// The query's own features `(row, value)`.
    pub(crate) base_features: Vec<(u32, f32)>,
    /// Expansion features of the current refinement iteration.
    pub(crate) features: Vec<(u32, f32)>,
    /// Logit per output of the query's own features (iteration 1).
    pub(crate) base_logits: Vec<f32>,
    /// Logit per output, current iteration.
    pub(crate) logits: Vec<f32>,
    /// Confidence per layer.
    pub(crate) confidence: Vec<f32>,
    /// Best confidence in each layer's subtree.
    pub(crate) reach: Vec<f32>,
    /// One navigated state per dimension.
    pub(crate) dimensions: Vec<DimensionState>,
    /// Dimensions entering interference, then the active ones.
    pub(crate) candidates: Vec<Candidate>,
    /// Interference input.
    pub(crate) states: Vec<FrequencyState>,
    /// Interference output.
    pub(crate) interference: Interference,
    /// Dimension index of each interference state (parallel to `states`).
    pub(crate) interfered: Vec<u32>,
    /// The convergence trace.
    pub(crate) iterations: Vec<IterationRecord>,
}

impl Scratch {
    /// Forgets the previous query's routing state (a no-match that never reached the
    /// scanner must not report another query's layers).
    pub(crate) fn clear_routing(&mut self) {
        self.confidence.clear();
        self.dimensions.clear();
        self.candidates.clear();
        self.states.clear();
        self.interfered.clear();
        self.interference.pairs.clear();
        self.iterations.clear();
    }
}

/// A free list of scratches.
#[derive(Default)]
pub struct Pool {
    /// Boxed so a scratch moves in and out of the list as one pointer, however large it is.
    #[allow(clippy::vec_box)]
    free: Mutex<Vec<Box<Scratch>>>,
}

impl Pool {
    /// An empty pool.
    pub fn new() -> Pool {
        Pool::default()
    }

    /// Takes a scratch (a reused one when available).
    pub fn take(&self) -> PooledScratch<'_> {
        let scratch = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        PooledScratch {
            pool: self,
            scratch: Some(scratch),
        }
    }
}

/// A scratch on loan from a [`Pool`]; returned on drop.
pub struct PooledScratch<'a> {
    pool: &'a Pool,
    scratch: Option<Box<Scratch>>,
}

impl Deref for PooledScratch<'_> {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        self.scratch.as_deref().expect("present until drop")
    }
}

impl DerefMut for PooledScratch<'_> {
    fn deref_mut(&mut self) -> &mut Scratch {
        self.scratch.as_deref_mut().expect("present until drop")
    }
}

impl Drop for PooledScratch<'_> {
    fn drop(&mut self) {
        if let Some(scratch) = self.scratch.take() {
            let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.len() < MAX_POOLED {
                free.push(scratch);
            }
        }
    }
}
