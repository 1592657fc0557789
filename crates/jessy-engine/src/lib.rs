//! # jessy-engine
//!
//! Jessy answers one question fast and explainably: *which layers of knowledge apply to this
//! query, and what context do they give?* This crate is the whole engine, with no network code.
//! Its modules follow the data flow of a query:
//!
//! 1. [`parser`] — the Query Parser: Unicode-aware tokens, stems, stopwords, negations.
//! 2. [`registry`] — the Dimension Registry source (TOML) and its validation; [`build`] compiles
//!    a source, learning a routing model from its keywords and examples, into a snapshot.
//! 3. [`storage`] — the MMAP Manager: immutable snapshot generations mapped with `memmap2`,
//!    validated on open, published atomically, read zero-copy.
//! 4. [`navigation`] — the Navigator and Dimension Scanner: every dimension scored from the
//!    learned model, then depth navigation L0 → L3; term associations.
//! 5. [`interference`] — the Interference Engine: frequency states of the active dimensions
//!    reinforce or cancel each other and feed back into the ranking.
//! 6. [`pool`] — the Memory Pool: per-query scratch reused across queries.
//! 7. [`convergence`] — the Convergence Processor: query expansion until the selection is stable.
//! 8. [`result`] and [`context`] — the Query Result: routing decision, token-budgeted context,
//!    trace and timings.
//!
//! [`Engine`] runs the stages in order.
pub mod build;
pub mod context;
pub mod convergence;
pub mod dataset;
pub mod eval;
pub mod import;
pub mod interference;
pub mod learn;
pub mod model;
pub mod navigation;
pub mod parser;
pub mod pipeline;
pub mod pool;
pub mod registry;
pub mod result;
pub mod storage;

pub use parser::ParseError;
pub use pipeline::{Engine, EngineError, QueryOptions, WriteError};
pub use result::{Outcome, QueryResult};
