//! The options a query runs with.

use super::convergence::MAX_ITERATIONS;

/// Default token budget of the assembled context.
pub const DEFAULT_TOKEN_BUDGET: u32 = 2_000;

/// Per-query options: the one options type of the engine (the HTTP services translate their
/// wire options into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// Convergence iteration cap, 1–[`MAX_ITERATIONS`] (values outside are clamped).
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
