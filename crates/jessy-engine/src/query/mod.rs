//! The query path, one module per stage in data-flow order:
//!
//! 1. the Query Parser ([`crate::parser`], shared with the build path) turns text into words
//!    and stems, and the model turns those into features;
//! 2. [`scanner`] — the Dimension Scanner: every layer of every dimension scored at once from
//!    the mapped model;
//! 3. [`navigator`] — the Navigator: layer confidences become dimension activations and a path
//!    L0 → L3 per dimension;
//! 4. [`interference`] — the Interference Engine: active dimensions with close frequencies
//!    reinforce, distant ones cancel;
//! 5. [`convergence`] — the Convergence Processor: runs 2–4 again over an expanded query until
//!    the selection is stable (≤ 9 iterations);
//! 6. [`summary`] and [`context`] — the Query Result: the owned [`result`] types, with the
//!    token-budgeted context read zero-copy from the mapped layer content.
//!
//! [`pool`] is the Memory Pool: every stage works in one reused [`Scratch`] per query.

pub(crate) mod context;
pub(crate) mod convergence;
pub(crate) mod interference;
pub(crate) mod navigator;
mod options;
pub(crate) mod pool;
pub mod result;
pub(crate) mod scanner;
pub(crate) mod summary;

pub(crate) use convergence::route;
pub use convergence::{NoMatchReason, Routing, MAX_ITERATIONS};
pub use options::{QueryOptions, DEFAULT_TOKEN_BUDGET};
pub(crate) use pool::Pool;
pub use pool::Scratch;
pub(crate) use summary::summarize;
