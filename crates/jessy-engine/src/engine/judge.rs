//! Whether an answer is right for a labeled line: the one yardstick of `eval` (which reports
//! accuracies with it) and of learning's regression guard (`usage.rs`, which refuses a
//! candidate generation that answers fewer exam lines right than the serving one).
//!
//! It lives in the engine, not in `eval`, because the guard runs inside the engine and `eval`
//! sits above it: one definition, reached downwards from both.

use crate::build::import::id_matches_label;
use crate::parser::ParseError;
use crate::query::result::{Outcome, QueryResult};

/// Whether an answer is right by `eval`'s definitions: for an in-scope line (`gold` is
/// `(dimension, layer)`), `matched` with the gold layer as the chosen layer of the strongest
/// dimension; for an out-of-scope line, `no_match`. An error is wrong.
pub fn is_right(result: &Result<QueryResult, ParseError>, gold: Option<(&str, &str)>) -> bool {
    let Ok(r) = result else {
        return false;
    };
    let matched = r.outcome == Outcome::Matched;
    match gold {
        None => !matched,
        Some((dimension, layer)) => {
            matched
                && r.dimensions.first().is_some_and(|d| {
                    id_matches_label(&d.id, dimension)
                        && d.layers
                            .last()
                            .is_some_and(|l| id_matches_label(&l.id, layer))
                })
        }
    }
}
