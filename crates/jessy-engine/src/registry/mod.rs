//! The Dimension Registry, in its two forms:
//!
//! - the **source** a user writes ([`RegistrySource`], TOML files), how it is checked
//!   ([`validate()`]) and the default registry that ships inside the binary;
//! - a **loaded generation** ([`Registry`]): a validated snapshot with its model checked, and
//!   typed views of its dimensions and layers ([`DimensionView`], [`LayerView`]).
//!
//! The engine never routes on a source directly: the build path compiles a validated source
//! into a snapshot, and queries read a loaded [`Registry`].

mod default;
mod loaded;
mod source;
mod validate;
mod view;

use std::fmt;
use std::path::{Path, PathBuf};

pub use default::{default_digest, default_source, default_validation, DEFAULT_VALIDATION_FILE};
pub use loaded::Registry;
pub use source::{
    DimensionSource, EncoderSetting, Keyword, LayerSource, RegistrySource, DIMENSIONS_DIR,
    REGISTRY_FILE,
};
pub use validate::{is_slug, validate, MAX_DEPTH, MAX_FREQUENCY, MIN_FREQUENCY};
pub use view::{DimensionView, LayerView};

/// One problem found in a registry source, naming the file it is in.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when the problem is a syntax error with a known position.
    pub line: Option<usize>,
    /// What is wrong, in words a registry author understands.
    pub message: String,
}

impl ValidationError {
    /// A problem in `file`.
    pub fn new(file: &Path, message: impl Into<String>) -> ValidationError {
        ValidationError {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }

    /// Adds the line number of a byte span of `text`, when known.
    pub fn with_span(
        mut self,
        text: &str,
        span: Option<std::ops::Range<usize>>,
    ) -> ValidationError {
        if let Some(span) = span {
            let end = span.start.min(text.len());
            self.line = Some(
                text.as_bytes()[..end]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1,
            );
        }
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Errors reading, validating or writing a registry source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The source has problems; all of them are listed.
    #[error("{}", format_problems(.0))]
    Invalid(Vec<ValidationError>),
    /// The source could not be written as TOML.
    #[error("cannot serialize registry: {0}")]
    Serialize(String),
}

impl RegistryError {
    /// The individual problems, when this is a validation error.
    pub fn problems(&self) -> &[ValidationError] {
        match self {
            RegistryError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

fn format_problems(problems: &[ValidationError]) -> String {
    let mut out = format!("registry source has {} problem(s):", problems.len());
    for problem in problems {
        out.push_str("\n  ");
        out.push_str(&problem.to_string());
    }
    out
}
