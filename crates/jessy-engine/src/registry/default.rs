//! The default registry that Jessy serves out of the box, compiled into the binary.
//!
//! Its source lives in `registry/default/` at the workspace root; `build.rs` embeds every file.

use super::{validate, RegistryError, RegistrySource};

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
