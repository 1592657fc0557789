//! Import: labeled JSONL → registry source. One dimension per `dimension`, one layer per
//! `layer` beneath it (all roots), the texts as the layers' examples; out-of-scope lines become
//! the registry's `out_of_scope` examples.
//!
//! Labels become ids by [`slugify`] (`BookRestaurant` → `bookrestaurant`, `what is` →
//! `what-is`); the original label is kept as the name. The evaluator maps labels through the
//! same function, so any data set's label spelling works.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::dataset::{self, DatasetError, LabeledExample};
use crate::registry::{DimensionSource, LayerSource, RegistryError, RegistrySource};

/// Frequency range given to imported dimensions: the whole band, since labeled utterances
/// carry no tone.
pub const IMPORTED_RANGE: [f32; 2] = [0.1, 4.5];
/// Frequency of imported layers: one shared neutral tone, so interference between imported
/// dimensions is uniform (order-preserving) rather than invented.
pub const IMPORTED_FREQUENCY: f32 = 1.0;

/// Errors importing a labeled file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read or a line is malformed.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A line breaks the registry structure.
    #[error("{}: line {line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The output directory already exists and is not empty.
    #[error("{}: output directory exists and is not empty; refusing to mix registries", .0.display())]
    OutputNotEmpty(PathBuf),
    /// Writing the source failed.
    #[error(transparent)]
    Write(#[from] RegistryError),
    /// The file has no in-scope lines.
    #[error("{}: no labeled in-scope lines", .0.display())]
    Empty(PathBuf),
}

/// Turns a label into a slug id: lowercase ASCII letters and digits, other runs become `-`.
/// Non-ASCII letters are kept as their lowercase hex code point so distinct labels stay distinct.
pub fn slugify(label: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in label.trim().chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push_str(&format!("u{:x}", c as u32));
        } else {
            dash = true;
        }
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    out.truncate(64);
    out
}

/// Whether a registry id stands for a data set label: the label itself, or its slug (the id
/// `jessy import` gave it).
pub fn id_matches_label(id: &str, label: &str) -> bool {
    id == label || id == slugify(label)
}

/// Builds a registry source from labeled examples.
pub fn source_from_examples(
    examples: &[LabeledExample],
    path: &Path,
) -> Result<RegistrySource, ImportError> {
    let mut source = RegistrySource {
        name: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        description: format!("Imported from {}", path.display()),
        ..RegistrySource::default()
    };
    // dimension slug → index; (layer slug) → (dimension slug, first line, index in dimension)
    let mut dims: HashMap<String, usize> = HashMap::new();
    let mut layers: HashMap<String, (String, usize, usize)> = HashMap::new();
    let mut dim_labels: HashMap<String, String> = HashMap::new();
    let mut layer_labels: HashMap<String, String> = HashMap::new();
    let line_err = |line: usize, message: String| ImportError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    for ex in examples {
        let (Some(dimension), Some(layer)) = (&ex.dimension, &ex.layer) else {
            source.out_of_scope.push(ex.text.clone());
            continue;
        };
        let dim_id = slugify(dimension);
        let layer_id = slugify(layer);
        for (seen, label, id) in [
            (&mut dim_labels, dimension, &dim_id),
            (&mut layer_labels, layer, &layer_id),
        ] {
            let first = seen.entry(id.clone()).or_insert_with(|| label.clone());
            if first != label {
                return Err(line_err(
                    ex.line,
                    format!("labels {first:?} and {label:?} both become id {id:?}"),
                ));
            }
        }
        let d = *dims.entry(dim_id.clone()).or_insert_with(|| {
            source.dimensions.push(DimensionSource {
                id: dim_id.clone(),
                name: dimension.clone(),
                description: String::new(),
                frequency: IMPORTED_RANGE,
                layers: Vec::new(),
                file: PathBuf::from(format!("dimensions/{dim_id}.toml")),
            });
            source.dimensions.len() - 1
        });
        let (owner, first_line, l) = layers.entry(layer_id.clone()).or_insert_with(|| {
            let dim = &mut source.dimensions[d];
            dim.layers.push(LayerSource {
                id: layer_id.clone(),
                name: layer.clone(),
                parent: None,
                frequency: IMPORTED_FREQUENCY,
                keywords: Vec::new(),
                examples: Vec::new(),
                content: String::new(),
            });
            (dim_id.clone(), ex.line, dim.layers.len() - 1)
        });
        if *owner != dim_id {
            return Err(line_err(
                ex.line,
                format!(
                    "layer {layer:?} is under dimension {dimension:?} here but under {owner:?} on line {first_line}"
                ),
            ));
        }
        source.dimensions[d].layers[*l]
            .examples
            .push(ex.text.clone());
    }
    if source.dimensions.is_empty() {
        return Err(ImportError::Empty(path.to_path_buf()));
    }
    Ok(source)
}

/// Reads `input` and writes the registry source into `out` (which must not exist or be
/// empty). The source is built and validated completely in memory first and written to a
/// temporary sibling directory that is renamed into place, so a failure leaves nothing
/// half-written.
pub fn import_file(input: &Path, out: &Path) -> Result<RegistrySource, ImportError> {
    let examples = dataset::read_jsonl(input)?;
    let source = source_from_examples(&examples, input)?;
    crate::registry::validate(&source)?;
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ImportError::OutputNotEmpty(out.to_path_buf()));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io = |e: std::io::Error, p: &Path| RegistryError::Io {
        path: p.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(parent).map_err(|e| io(e, parent))?;
    let tmp = parent.join(format!(
        ".{}.import-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = source.write_dir(&tmp).and_then(|()| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(|e| io(e, out))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| io(e, out))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.into());
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(line: usize, text: &str, d: Option<&str>, l: Option<&str>) -> LabeledExample {
        LabeledExample {
            text: text.into(),
            dimension: d.map(Into::into),
            layer: l.map(Into::into),
            line,
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("BookRestaurant"), "bookrestaurant");
        assert_eq!(slugify("what_is your name"), "what-is-your-name");
        assert_eq!(slugify("  --  "), "unnamed");
        assert_eq!(slugify("café"), "cafue9");
    }

    #[test]
    fn builds_dimensions_layers_and_out_of_scope() {
        let src = source_from_examples(
            &[
                ex(1, "move money", Some("banking"), Some("transfer")),
                ex(2, "send cash", Some("banking"), Some("transfer")),
                ex(3, "my balance", Some("banking"), Some("balance")),
                ex(4, "tell a joke", None, None),
            ],
            Path::new("x.jsonl"),
        )
        .unwrap();
        assert_eq!(src.dimensions.len(), 1);
        assert_eq!(src.dimensions[0].layers.len(), 2);
        assert_eq!(
            src.dimensions[0].layers[0].examples,
            vec!["move money", "send cash"]
        );
        assert_eq!(src.out_of_scope, vec!["tell a joke"]);
    }

    #[test]
    fn a_layer_under_two_dimensions_names_the_line() {
        let err = source_from_examples(
            &[
                ex(1, "a", Some("x"), Some("shared")),
                ex(7, "b", Some("y"), Some("shared")),
            ],
            Path::new("x.jsonl"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("x.jsonl: line 7:"), "{err}");
    }
}
