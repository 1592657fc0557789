//! The human-editable registry source: TOML files a user writes and keeps in git.
//!
//! The format is documented in `docs/registry-format.md`. This module only reads and writes
//! the files; [`super::validate`] decides whether what was read makes sense.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{RegistryError, ValidationError};

/// A whole registry as written by a user: dimensions plus registry-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RegistrySource {
    /// A short name for the registry (shown in stats and results).
    #[serde(default)]
    pub name: String,
    /// What the registry is for.
    #[serde(default)]
    pub description: String,
    /// Utterances that must route nowhere; used to train and calibrate "no match".
    #[serde(default)]
    pub out_of_scope: Vec<String>,
    /// The sentence encoder a build trains the semantic cascade with (`[encoder]`), so a
    /// registry that relies on the cascade says so where its other settings live instead of in
    /// every build command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<EncoderSetting>,
    /// The dimensions, in the order they were read (file name order).
    #[serde(skip)]
    pub dimensions: Vec<DimensionSource>,
}

/// `registry.toml`'s `[encoder]` table.
///
/// Unknown keys are refused: a misspelt `path` would otherwise silently build without the
/// cascade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSetting {
    /// The model directory (sentence-transformers layout), as written: relative paths are
    /// relative to the registry source directory (see [`EncoderSetting::resolve`]), so the
    /// source directory can move with its model beside it.
    pub path: PathBuf,
}

impl EncoderSetting {
    /// The model directory for a source read from `source_dir`: `path` as is when absolute,
    /// else joined to `source_dir`.
    pub fn resolve(&self, source_dir: &Path) -> PathBuf {
        source_dir.join(&self.path)
    }
}

/// One dimension file: a topic area holding a tree of layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DimensionSource {
    /// Slug id, unique in the registry.
    pub id: String,
    /// Human name.
    pub name: String,
    /// One-sentence description.
    #[serde(default)]
    pub description: String,
    /// Frequency range `[min, max]` in Hz, within 0.1–4.5.
    pub frequency: [f32; 2],
    /// The layers of this dimension; `parent` links make them a forest of depth ≤ 3.
    #[serde(default, rename = "layer")]
    pub layers: Vec<LayerSource>,
    /// The file this dimension was read from (for error messages); not part of the format.
    #[serde(skip)]
    pub file: PathBuf,
}

/// One layer: a node of a dimension's tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerSource {
    /// Slug id, unique within its dimension.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Id of the parent layer in the same dimension; `None` for a root (depth 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Tone of the layer in Hz, inside the dimension's range.
    pub frequency: f32,
    /// Terms that signal this layer, optionally weighted.
    #[serde(default)]
    pub keywords: Vec<Keyword>,
    /// Utterances that should route to this layer.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Markdown guidance returned as context when the layer applies.
    #[serde(default)]
    pub content: String,
}

/// A keyword, written either as a plain string (weight 1.0) or as `{ term, weight }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keyword {
    /// A plain term with the default weight 1.0.
    Plain(String),
    /// A term with an explicit weight.
    Weighted {
        /// The term as the user would type it.
        term: String,
        /// Relative importance; finite and > 0.
        weight: f32,
    },
}

impl Keyword {
    /// The keyword's text.
    pub fn term(&self) -> &str {
        match self {
            Keyword::Plain(term) | Keyword::Weighted { term, .. } => term,
        }
    }

    /// The keyword's weight (1.0 for plain keywords).
    pub fn weight(&self) -> f32 {
        match self {
            Keyword::Plain(_) => 1.0,
            Keyword::Weighted { weight, .. } => *weight,
        }
    }

    /// Builds a keyword, using the plain form when the weight is the default.
    pub fn new(term: impl Into<String>, weight: f32) -> Keyword {
        let term = term.into();
        if weight == 1.0 {
            Keyword::Plain(term)
        } else {
            Keyword::Weighted { term, weight }
        }
    }
}

/// Name of the optional registry-wide settings file inside a source directory.
pub const REGISTRY_FILE: &str = "registry.toml";
/// Name of the folder holding one TOML file per dimension.
pub const DIMENSIONS_DIR: &str = "dimensions";

impl RegistrySource {
    /// Reads a source directory without validating its meaning.
    ///
    /// Every unreadable or unparsable file is reported, not only the first.
    pub fn read_dir(dir: &Path) -> Result<RegistrySource, RegistryError> {
        let mut problems = Vec::new();
        let registry_path = dir.join(REGISTRY_FILE);
        let mut source = if registry_path.exists() {
            match read_toml::<RegistrySource>(&registry_path) {
                Ok(source) => source,
                Err(problem) => {
                    problems.push(problem);
                    RegistrySource::default()
                }
            }
        } else {
            RegistrySource::default()
        };
        let dims_dir = dir.join(DIMENSIONS_DIR);
        let entries = fs::read_dir(&dims_dir).map_err(|source| RegistryError::Io {
            path: dims_dir.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        files.sort();
        for file in files {
            match read_toml::<DimensionSource>(&file) {
                Ok(mut dimension) => {
                    dimension.file = file;
                    source.dimensions.push(dimension);
                }
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(RegistryError::Invalid(problems));
        }
        Ok(source)
    }

    /// Parses a source from in-memory files `(relative path, text)`: used for the embedded
    /// default registry, which is compiled into the binary.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<RegistrySource, RegistryError> {
        let mut source = RegistrySource::default();
        let mut problems = Vec::new();
        for (name, text) in files {
            let path = PathBuf::from(name);
            if name == REGISTRY_FILE {
                match parse_toml::<RegistrySource>(&path, text) {
                    Ok(settings) => {
                        source.name = settings.name;
                        source.description = settings.description;
                        source.out_of_scope = settings.out_of_scope;
                        source.encoder = settings.encoder;
                    }
                    Err(problem) => problems.push(problem),
                }
            } else {
                match parse_toml::<DimensionSource>(&path, text) {
                    Ok(mut dimension) => {
                        dimension.file = path;
                        source.dimensions.push(dimension);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
        }
        if !problems.is_empty() {
            return Err(RegistryError::Invalid(problems));
        }
        Ok(source)
    }

    /// Writes the source as a directory in the documented format.
    ///
    /// Files are written into `dir`, which must not exist yet or be empty, so that an import
    /// never mixes with an older registry.
    pub fn write_dir(&self, dir: &Path) -> Result<(), RegistryError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistryError::Io { path, source }
        };
        let dims_dir = dir.join(DIMENSIONS_DIR);
        fs::create_dir_all(&dims_dir).map_err(io(&dims_dir))?;
        let settings = toml::to_string_pretty(&RegistrySettingsOut {
            name: &self.name,
            description: &self.description,
            out_of_scope: &self.out_of_scope,
            encoder: self.encoder.as_ref(),
        })
        .map_err(|e| RegistryError::Serialize(e.to_string()))?;
        let registry_path = dir.join(REGISTRY_FILE);
        fs::write(&registry_path, settings).map_err(io(&registry_path))?;
        for dimension in &self.dimensions {
            let text = toml::to_string_pretty(dimension)
                .map_err(|e| RegistryError::Serialize(e.to_string()))?;
            let path = dims_dir.join(format!("{}.toml", dimension.id));
            fs::write(&path, text).map_err(io(&path))?;
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct RegistrySettingsOut<'a> {
    name: &'a str,
    description: &'a str,
    out_of_scope: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    encoder: Option<&'a EncoderSetting>,
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ValidationError> {
    let bytes =
        fs::read(path).map_err(|e| ValidationError::new(path, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        ValidationError::new(
            path,
            format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    parse_toml(path, &text)
}

fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ValidationError> {
    toml::from_str(text).map_err(|e| {
        ValidationError::new(path, e.message().trim().to_string()).with_span(text, e.span())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_dir(registry_toml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(DIMENSIONS_DIR)).unwrap();
        fs::write(dir.path().join(REGISTRY_FILE), registry_toml).unwrap();
        dir
    }

    #[test]
    fn encoder_path_is_read_resolved_against_the_source_and_written_back() {
        let dir = source_dir("name = \"r\"\n[encoder]\npath = \"models/minilm\"\n");
        let source = RegistrySource::read_dir(dir.path()).unwrap();
        let encoder = source.encoder.clone().expect("[encoder] read");
        assert_eq!(encoder.path, PathBuf::from("models/minilm"));
        assert_eq!(
            encoder.resolve(Path::new("/srv/registry")),
            PathBuf::from("/srv/registry/models/minilm")
        );
        let absolute = EncoderSetting {
            path: PathBuf::from("/opt/model"),
        };
        assert_eq!(
            absolute.resolve(Path::new("/srv/registry")),
            PathBuf::from("/opt/model")
        );

        // Written back as it was read; a source without one writes no table.
        let copy = tempfile::tempdir().unwrap();
        source.write_dir(&copy.path().join("out")).unwrap();
        let again = RegistrySource::read_dir(&copy.path().join("out")).unwrap();
        assert_eq!(again.encoder, source.encoder);
        let plain = RegistrySource::default();
        plain.write_dir(&copy.path().join("plain")).unwrap();
        let text = fs::read_to_string(copy.path().join("plain").join(REGISTRY_FILE)).unwrap();
        assert!(!text.contains("encoder"), "{text}");
    }

    #[test]
    fn a_misspelt_encoder_key_is_an_error_naming_the_file() {
        let dir = source_dir("[encoder]\ndir = \"models/minilm\"\n");
        let err = RegistrySource::read_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(REGISTRY_FILE) && err.contains("dir"), "{err}");
        let dir = source_dir("[encoder]\n");
        let err = RegistrySource::read_dir(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("path"), "{err}");
    }
}
