//! Why model arrays cannot be used.

use thiserror::Error;

/// Why model arrays cannot be used: a snapshot loader maps this to "corrupt snapshot".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// The model was built by a different feature extractor.
    #[error("feature version {found}, this engine extracts version {expected}")]
    FeatureVersion {
        /// Version stored with the model.
        found: u32,
        /// Version of this engine.
        expected: u32,
    },
    /// A feature parameter is out of the supported range.
    #[error("unsupported feature parameter: {0}")]
    FeatureParams(&'static str),
    /// An array has the wrong length.
    #[error("{what} has length {len}, expected {expected}")]
    Length {
        /// Which array.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length the other arrays imply.
        expected: usize,
    },
    /// Feature keys are not strictly increasing.
    #[error("feature keys not strictly increasing at index {index}")]
    KeysNotSorted {
        /// First offending index.
        index: usize,
    },
    /// The key index does not match the keys.
    #[error("key index invalid at entry {index}")]
    KeyIndex {
        /// First offending entry.
        index: usize,
    },
    /// Row starts do not begin at 0, decrease, or do not end at the number of postings.
    #[error("row starts invalid at index {index}")]
    RowStart {
        /// First offending index.
        index: usize,
    },
    /// A posting names a class that does not exist.
    #[error("posting {index} has class {class}, the model has {classes} outputs")]
    ClassOutOfRange {
        /// Posting index.
        index: usize,
        /// Its class.
        class: u32,
        /// Number of model outputs (classes, plus the out-of-scope class if any).
        classes: usize,
    },
    /// The classes of a row's postings are not strictly increasing.
    #[error("postings of row {row} not sorted by class")]
    PostingsNotSorted {
        /// The row.
        row: usize,
    },
    /// The dense rows are not strictly increasing, name a row that does not exist, or name a
    /// row that also has sparse postings.
    #[error("dense row list invalid at entry {index}")]
    DenseRows {
        /// First offending entry.
        index: usize,
    },
    /// A float is NaN or infinite (or an IDF is not positive).
    #[error("invalid number in {what} at index {index}")]
    NonFinite {
        /// Which array.
        what: &'static str,
        /// Offending index.
        index: usize,
    },
}
