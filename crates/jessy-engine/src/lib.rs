//! # jessy-engine
//!
//! Jessy answers one question fast and explainably: *which layers of knowledge apply to this
//! query, and what context do they give?* This crate is the whole engine, with no network code.
//!
//! Its folders show its two flows, over two shared layers:
//!
//! - **The query path** (`query/`, run by [`Engine::query`]): parse → scan → navigate →
//!   interfere → converge → result and context, with a pooled scratch per query. See the
//!   `query` module for one line per stage.
//! - **The build path** ([`build`]): registry source → validate → order → features → train →
//!   calibrate → derive → write snapshot; [`build::import`] makes a source from labeled data,
//!   [`eval`] measures a snapshot on labeled data.
//! - **The registry** ([`registry`]): the source format, and a loaded generation
//!   ([`Registry`]) with typed views of its dimensions and layers.
//! - **Shared floors** (private): `parser` (text → words and stems), `model` (features, the
//!   one-vs-rest linear model, training, calibration, scoring), and `storage` (snapshot files:
//!   records, mmap, checksums, atomic publish; it knows nothing of routing).
//!
//! The public API is the facade and what it returns: [`Engine`], [`QueryOptions`],
//! [`QueryResult`] and the [`result`] types, [`Registry`] and its views, the build, import and
//! eval entry points, and typed errors. Everything else is private; `docs/architecture.md`
//! maps which module may use which, and the `layering` test holds the code to that map.
//!
//! ```
//! use jessy_engine::{Engine, Outcome, QueryOptions};
//!
//! let engine = Engine::default_in_memory().unwrap();
//! let result = engine
//!     .query("I'm so anxious about my exam tomorrow", &QueryOptions::default())
//!     .unwrap();
//! assert_eq!(result.outcome, Outcome::Matched);
//! assert_eq!(result.dimensions[0].id, "emotion");
//! ```

pub mod build;
pub mod dataset;
mod engine;
pub mod eval;
mod query;
pub mod registry;
pub mod semantic;
pub mod usage;

// The shared floors. Public only with the `internals` feature, for the research example
// (`examples/clinc_model.rs`) and the storage benchmark; not a stable API.
#[cfg(feature = "internals")]
pub mod model;
#[cfg(not(feature = "internals"))]
mod model;
#[cfg(feature = "internals")]
pub mod parser;
#[cfg(not(feature = "internals"))]
mod parser;
#[cfg(feature = "internals")]
pub mod storage;
#[cfg(not(feature = "internals"))]
mod storage;

pub use engine::{
    AcceptError, Engine, EngineError, FastQuery, Figures, InstallError, LearnError, LearnReport,
    Prepared, SuggestedLayer, Upserted, WriteError, GUARD_Z,
};
pub use parser::{ParseError, MAX_QUERY_BYTES};
pub use query::result::{self, Outcome, QueryResult};
pub use query::{
    NoMatchReason, QueryOptions, Routing, Scratch, DEFAULT_TOKEN_BUDGET, MAX_ITERATIONS,
};
pub use registry::{DimensionView, LayerView, Registry};
pub use storage::{Corruption, OpenError, PublishError, Recovery, StoreStats, StoredGeneration};
