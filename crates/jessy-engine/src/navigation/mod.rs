//! Navigator and Dimension Scanner: which dimensions a query activates, and where in each.
//!
//! - [`scanner`] scores every layer of every dimension from the learned model.
//! - [`navigator`] folds layer confidences into dimension activations and descends each
//!   dimension's tree to its chosen layer.
//! - [`associations`] grows and decays the term links used to expand queries.

pub mod associations;
pub mod navigator;
pub mod scanner;

pub use navigator::{navigate, DimensionState, MAX_PATH};
pub use scanner::{score, ScanStrategy};
