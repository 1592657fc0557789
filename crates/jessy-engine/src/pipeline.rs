//! The [`Engine`]: the stages in order, over the current snapshot generation.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::build::{self, BuildError, BuildOptions};
use crate::convergence::{self, NoMatchReason, Routing, MAX_ITERATIONS};
use crate::navigation::ScanStrategy;
use crate::parser::ParseError;
use crate::pool::{Pool, Scratch};
use crate::registry::{LayerSource, RegistryError};
use crate::result::*;
use crate::storage::{OpenError, PublishError, Snapshot, Store, StoreStats};
use crate::{context, registry};

/// Default token budget of the assembled context.
pub const DEFAULT_TOKEN_BUDGET: u32 = 2_000;
/// Layers listed in `top_layers`.
const TOP_LAYERS: usize = 5;

/// Per-query options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// Convergence iteration cap, 1–9.
    pub max_iterations: u32,
    /// Token budget of the context.
    pub token_budget: u32,
    /// Whether to assemble layer content into the context.
    pub include_content: bool,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            max_iterations: MAX_ITERATIONS,
            token_budget: DEFAULT_TOKEN_BUDGET,
            include_content: true,
        }
    }
}

/// Errors from opening or initializing an engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The snapshot could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Building a snapshot failed.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Errors from a layer write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// No such dimension.
    #[error("unknown dimension {0:?}")]
    UnknownDimension(String),
    /// No such layer (on delete).
    #[error("unknown layer {layer:?} in dimension {dimension:?}")]
    UnknownLayer {
        /// Dimension id.
        dimension: String,
        /// Layer id.
        layer: String,
    },
    /// The change would make the registry invalid; every problem is listed.
    #[error(transparent)]
    Invalid(#[from] RegistryError),
    /// Building or publishing the new generation failed; the old one is still current.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Publishing failed; the old generation is still current.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// The routing engine over one snapshot store.
pub struct Engine {
    store: Store,
    pool: Pool,
    strategy: ScanStrategy,
    /// Serializes writers in this process (the directory lock serializes processes), so a
    /// read-modify-publish cycle never loses a concurrent write.
    write_lock: std::sync::Mutex<()>,
}

impl Engine {
    /// An engine over an opened store.
    pub fn new(store: Store) -> Engine {
        Engine {
            store,
            pool: Pool::new(),
            strategy: ScanStrategy::Auto,
            write_lock: Default::default(),
        }
    }

    /// Opens the published snapshot in `dir`.
    pub fn open(dir: &Path) -> Result<Engine, EngineError> {
        Ok(Engine::new(Store::open(dir)?))
    }

    /// Opens `dir`, first building the embedded default registry into it when it holds no
    /// snapshot yet. A corrupt snapshot is an error, never silently replaced.
    pub fn open_or_init_default(dir: &Path) -> Result<Engine, EngineError> {
        match Store::open(dir) {
            Ok(store) => Ok(Engine::new(store)),
            Err(OpenError::NoSnapshot { .. }) => {
                let source = registry::default_source().map_err(BuildError::from)?;
                build::build_dir(&source, dir, &BuildOptions::default())?;
                Engine::open(dir)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The embedded default registry, compiled in memory (no files, no setup).
    pub fn default_in_memory() -> Result<Engine, EngineError> {
        let source = registry::default_source().map_err(BuildError::from)?;
        let bytes = build::build_bytes(&source, &BuildOptions::default(), 1)?;
        Ok(Engine::new(Store::in_memory(&bytes)?))
    }

    /// Chooses how the scanner spreads work (default: by measurement, see [`ScanStrategy`]).
    pub fn with_strategy(mut self, strategy: ScanStrategy) -> Engine {
        self.strategy = strategy;
        self
    }

    /// The snapshot store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current snapshot generation.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.store.current()
    }

    /// Generation, regions and mapped bytes.
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// Routes `text` through the whole pipeline.
    pub fn query(&self, text: &str, options: &QueryOptions) -> Result<QueryResult, ParseError> {
        let started = Instant::now();
        let snapshot = self.store.current();
        let mut scratch = self.pool.take();
        let routing = self.route(&snapshot, &mut scratch, text, options)?;
        let t_context = Instant::now();
        let mut result = summarize(&snapshot, &scratch, text, &routing, options);
        result.timings_us.context = t_context.elapsed().as_secs_f64() * 1e6;
        result.timings_us.total = started.elapsed().as_secs_f64() * 1e6;
        Ok(result)
    }

    /// The scoring part of [`Engine::query`], into caller-provided scratch: parse, scan,
    /// navigate, interfere, converge. No heap allocation once `scratch` has warmed up.
    pub fn route(
        &self,
        snapshot: &Snapshot,
        scratch: &mut Scratch,
        text: &str,
        options: &QueryOptions,
    ) -> Result<Routing, ParseError> {
        let t = Instant::now();
        scratch.parsed.parse_into(text)?;
        let parse_us = t.elapsed().as_secs_f64() * 1e6;
        let mut routing =
            convergence::route(snapshot, scratch, options.max_iterations, self.strategy);
        routing.parse_us = parse_us;
        Ok(routing)
    }

    /// Creates or replaces layer `layer.id` of `dimension` and publishes a new generation.
    /// Returns the new generation number. The layer is routable by the next query.
    pub fn upsert_layer(&self, dimension: &str, layer: LayerSource) -> Result<u64, WriteError> {
        self.write(dimension, |dim| {
            match dim.layers.iter_mut().find(|l| l.id == layer.id) {
                Some(existing) => *existing = layer,
                None => dim.layers.push(layer),
            }
            Ok(())
        })
    }

    /// Deletes a layer (and refuses if other layers name it as parent) and publishes a new
    /// generation.
    pub fn delete_layer(&self, dimension: &str, layer: &str) -> Result<u64, WriteError> {
        self.write(dimension, |dim| {
            let before = dim.layers.len();
            dim.layers.retain(|l| l.id != layer);
            if dim.layers.len() == before {
                return Err(WriteError::UnknownLayer {
                    dimension: dim.id.clone(),
                    layer: layer.to_string(),
                });
            }
            Ok(())
        })
    }

    fn write(
        &self,
        dimension: &str,
        change: impl FnOnce(&mut registry::DimensionSource) -> Result<(), WriteError>,
    ) -> Result<u64, WriteError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.store.current();
        let mut source = build::source_of(&current);
        let dim = source
            .dimensions
            .iter_mut()
            .find(|d| d.id == dimension)
            .ok_or_else(|| WriteError::UnknownDimension(dimension.to_string()))?;
        change(dim)?;
        registry::validate(&source)?;
        let options = BuildOptions {
            keep_calibration: Some(build::calibration_of(&current)),
            ..Default::default()
        };
        let compiled = build::compile(&source, &options)?;
        let snapshot = self
            .store
            .publish(|generation| compiled.encode(generation))?;
        Ok(snapshot.generation())
    }
}

fn reason_text(reason: NoMatchReason, routing: &Routing, threshold: f32) -> String {
    match reason {
        NoMatchReason::UnknownTerms => "no word of the query is known to this registry".into(),
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
fn summarize(
    snapshot: &Snapshot,
    scratch: &Scratch,
    text: &str,
    routing: &Routing,
    options: &QueryOptions,
) -> QueryResult {
    let dims = snapshot.dimension_records();
    let layers = snapshot.layer_records();
    let layer_ref = |i: u32| {
        let l = &layers[i as usize];
        (
            snapshot.str(dims[l.dimension as usize].id).to_string(),
            snapshot.str(l.id).to_string(),
        )
    };
    let dimensions: Vec<ActiveDimension> = scratch
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
        .collect();

    let mut top: Vec<(u32, f32)> = Vec::with_capacity(TOP_LAYERS + 1);
    for (i, &c) in scratch.confidence.iter().enumerate() {
        if top.len() < TOP_LAYERS || c > top[top.len() - 1].1 {
            let at = top.partition_point(|&(_, t)| t >= c);
            top.insert(at, (i as u32, c));
            top.truncate(TOP_LAYERS);
        }
    }
    let ranked = |&(i, confidence): &(u32, f32)| {
        let (dimension, layer) = layer_ref(i);
        RankedLayer {
            dimension,
            layer,
            confidence,
        }
    };
    let top_layers = top.iter().map(ranked).collect();

    // Interference summary over the dimensions that stayed active.
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
    let matched = routing.no_match.is_none();
    let interference = if matched {
        InterferenceSummary {
            dominant_frequency: scratch.interference.dominant_frequency,
            harmonics: pairs.iter().filter(|p| p.interval.is_some()).count(),
            pairs,
            balance: Balance {
                needed: scratch.interference.balance_needed,
                modulated_frequency: scratch.interference.balanced_frequency,
            },
        }
    } else {
        InterferenceSummary::default()
    };

    let trace = scratch
        .iterations
        .iter()
        .enumerate()
        .map(|(n, rec)| IterationTrace {
            iteration: n as u32 + 1,
            selection: rec.selection[..rec.len].iter().map(ranked).collect(),
            similarity: rec.similarity,
        })
        .collect();

    let safety = safety(snapshot, scratch);
    let context = if matched && options.include_content {
        context::assemble(snapshot, &scratch.candidates, options.token_budget)
    } else {
        Context {
            budget: options.token_budget,
            ..Context::default()
        }
    };
    QueryResult {
        query: text.to_string(),
        outcome: if matched {
            Outcome::Matched
        } else {
            Outcome::NoMatch
        },
        no_match_reason: routing
            .no_match
            .map(|r| reason_text(r, routing, snapshot.model().threshold)),
        generation: snapshot.generation(),
        dimensions,
        top_layers,
        interference,
        convergence: ConvergenceSummary {
            iterations: routing.iterations,
            converged: routing.converged,
            return_to_source: routing.return_to_source,
            trace,
        },
        safety,
        context,
        timings_us: Timings {
            parse: routing.parse_us,
            scan: routing.scan_us,
            interference: routing.interference_us,
            convergence: routing.convergence_us,
            ..Timings::default()
        },
    }
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
