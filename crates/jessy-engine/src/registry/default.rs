//! The default registry that Jessy serves out of the box, compiled into the binary.
//!
//! Its source lives in `registry/default/` at the workspace root; `build.rs` embeds every file,
//! and the validation file (`validation.jsonl`) the default registry is calibrated on.

use std::path::Path;

use super::{validate, RegistryError, RegistrySource};
use crate::dataset::{self, DatasetError, LabeledExample};
use crate::model::hash::Fnv64;

include!(concat!(env!("OUT_DIR"), "/default_registry.rs"));

/// Parses and validates the embedded default registry source.
///
/// The files are checked by the test suite, so an error here means a broken build of Jessy,
/// not bad user input; it is still returned rather than panicking.
pub fn default_source() -> Result<RegistrySource, RegistryError> {
    let source = RegistrySource::from_files(FILES.iter().copied())?;
    validate(&source)?;
    Ok(source)
}

/// Name the embedded validation file is reported under.
pub const DEFAULT_VALIDATION_FILE: &str = "registry/default/validation.jsonl";

/// The embedded default registry's validation lines (empty if the build shipped none).
pub fn default_validation() -> Result<Vec<LabeledExample>, DatasetError> {
    match VALIDATION {
        Some(text) => dataset::parse_jsonl(text.as_bytes(), Path::new(DEFAULT_VALIDATION_FILE)),
        None => Ok(Vec::new()),
    }
}

/// A stable 64-bit digest of everything the default snapshot is built from: the embedded
/// files, the validation lines and the engine's own sources (so the format, feature and
/// training code are covered). A cache of the built default snapshot is valid exactly as long
/// as its digest matches.
pub fn default_digest() -> u64 {
    // The model's own FNV-1a hasher: a cache key, not a security boundary. Every part ends
    // with a separator byte so adjacent parts cannot run into each other.
    let mut h = Fnv64::new(0);
    let mut eat = |bytes: &[u8]| h = h.bytes(bytes).byte(0xff);
    eat(env!("CARGO_PKG_VERSION").as_bytes());
    eat(&ENGINE_SOURCE_DIGEST.to_le_bytes());
    for (name, text) in FILES {
        eat(name.as_bytes());
        eat(text.as_bytes());
    }
    eat(VALIDATION.unwrap_or("").as_bytes());
    h.finish()
}
