//! Registry validation: every problem in every file, reported at once.

use std::collections::{HashMap, HashSet};

use super::{RegistryError, RegistrySource, ValidationError};

/// Lowest frequency a dimension or layer may have, in Hz.
pub const MIN_FREQUENCY: f32 = 0.1;
/// Highest frequency a dimension or layer may have, in Hz.
pub const MAX_FREQUENCY: f32 = 4.5;
/// Deepest allowed layer (roots are depth 0).
pub const MAX_DEPTH: u8 = 3;
/// Longest id, so ids stay readable in URLs and logs.
const MAX_ID_LEN: usize = 64;

/// Whether `id` is a slug: `[a-z0-9][a-z0-9_-]*`, at most 64 bytes.
pub fn is_slug(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Checks a source and returns every problem found, each naming its file.
pub fn validate(source: &RegistrySource) -> Result<(), RegistryError> {
    let mut problems = Vec::new();
    let mut dimension_ids = HashSet::new();
    if source.dimensions.is_empty() {
        problems.push(ValidationError::new(
            std::path::Path::new(super::DIMENSIONS_DIR),
            "registry has no dimensions",
        ));
    }
    for (i, text) in source.out_of_scope.iter().enumerate() {
        if text.trim().is_empty() {
            problems.push(ValidationError::new(
                std::path::Path::new(super::REGISTRY_FILE),
                format!("out_of_scope[{i}] is empty"),
            ));
        }
    }
    for dimension in &source.dimensions {
        let mut problem =
            |message: String| problems.push(ValidationError::new(&dimension.file, message));
        if !is_slug(&dimension.id) {
            problem(format!(
                "dimension id {:?} is not a slug ([a-z0-9][a-z0-9_-]*, ≤ 64 bytes)",
                dimension.id
            ));
        }
        if !dimension_ids.insert(dimension.id.as_str()) {
            problem(format!("duplicate dimension id {:?}", dimension.id));
        }
        if dimension.name.trim().is_empty() {
            problem(format!("dimension {:?} has an empty name", dimension.id));
        }
        let [min, max] = dimension.frequency;
        let range_ok = in_band(min) && in_band(max) && min <= max;
        if !range_ok {
            problem(format!(
                "dimension {:?} frequency range [{min}, {max}] must satisfy {MIN_FREQUENCY} ≤ min ≤ max ≤ {MAX_FREQUENCY}",
                dimension.id
            ));
        }
        if dimension.layers.is_empty() {
            problem(format!("dimension {:?} has no layers", dimension.id));
        }

        let mut parents: HashMap<&str, Option<&str>> = HashMap::new();
        for layer in &dimension.layers {
            let at = format!("layer {:?}", layer.id);
            if !is_slug(&layer.id) {
                problem(format!(
                    "{at}: id is not a slug ([a-z0-9][a-z0-9_-]*, ≤ 64 bytes)"
                ));
            }
            if parents
                .insert(layer.id.as_str(), layer.parent.as_deref())
                .is_some()
            {
                problem(format!(
                    "{at}: duplicate layer id in dimension {:?}",
                    dimension.id
                ));
            }
            if layer.name.trim().is_empty() {
                problem(format!("{at}: empty name"));
            }
            if !layer.frequency.is_finite() || (range_ok && !(min..=max).contains(&layer.frequency))
            {
                problem(format!(
                    "{at}: frequency {} Hz is outside the dimension's range [{min}, {max}]",
                    layer.frequency
                ));
            }
            if layer.keywords.is_empty() && layer.examples.is_empty() {
                problem(format!("{at}: needs at least one keyword or example"));
            }
            for keyword in &layer.keywords {
                if keyword.term().trim().is_empty() {
                    problem(format!("{at}: empty keyword"));
                }
                if !(keyword.weight().is_finite() && keyword.weight() > 0.0) {
                    problem(format!(
                        "{at}: keyword {:?} weight {} must be finite and > 0",
                        keyword.term(),
                        keyword.weight()
                    ));
                }
            }
            if layer.examples.iter().any(|e| e.trim().is_empty()) {
                problem(format!("{at}: empty example"));
            }
        }
        for layer in &dimension.layers {
            let at = format!("layer {:?}", layer.id);
            if let Some(parent) = &layer.parent {
                if !parents.contains_key(parent.as_str()) {
                    problem(format!("{at}: unknown parent {parent:?}"));
                    continue;
                }
            }
            match depth_of(&layer.id, &parents) {
                Depth::Cycle => problem(format!("{at}: parent links form a cycle")),
                Depth::Of(depth) if depth > MAX_DEPTH as usize => problem(format!(
                    "{at}: depth {depth} exceeds the maximum depth {MAX_DEPTH}"
                )),
                _ => {}
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(problems))
    }
}

fn in_band(f: f32) -> bool {
    f.is_finite() && (MIN_FREQUENCY..=MAX_FREQUENCY).contains(&f)
}

enum Depth {
    Of(usize),
    Cycle,
    Broken,
}

/// Walks parent links up to a root; bounded so a cycle cannot loop forever.
fn depth_of(id: &str, parents: &HashMap<&str, Option<&str>>) -> Depth {
    let mut depth = 0;
    let mut current = id;
    loop {
        match parents.get(current) {
            Some(Some(parent)) => {
                depth += 1;
                if depth > parents.len() {
                    return Depth::Cycle;
                }
                current = parent;
            }
            Some(None) => return Depth::Of(depth),
            None => return Depth::Broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{DimensionSource, Keyword, LayerSource};
    use std::path::PathBuf;

    fn layer(id: &str, parent: Option<&str>, frequency: f32) -> LayerSource {
        LayerSource {
            id: id.into(),
            name: id.into(),
            parent: parent.map(Into::into),
            frequency,
            keywords: vec![Keyword::Plain(id.into())],
            examples: vec![],
            content: String::new(),
        }
    }

    fn source(layers: Vec<LayerSource>) -> RegistrySource {
        RegistrySource {
            dimensions: vec![DimensionSource {
                id: "dim".into(),
                name: "Dim".into(),
                description: String::new(),
                frequency: [1.0, 2.0],
                layers,
                file: PathBuf::from("dimensions/dim.toml"),
            }],
            ..RegistrySource::default()
        }
    }

    #[test]
    fn accepts_a_valid_tree() {
        let layers = vec![
            layer("a", None, 1.5),
            layer("b", Some("a"), 1.5),
            layer("c", Some("b"), 1.5),
            layer("d", Some("c"), 1.5),
        ];
        validate(&source(layers)).unwrap();
    }

    #[test]
    fn reports_every_problem_with_its_file() {
        let mut empty = layer("e", None, 1.5);
        empty.keywords.clear();
        let layers = vec![
            layer("a", None, 1.5),
            layer("b", Some("a"), 1.5),
            layer("c", Some("b"), 1.5),
            layer("d", Some("c"), 1.5),
            layer("too-deep", Some("d"), 1.5),
            layer("orphan", Some("nobody"), 1.5),
            layer("a", None, 1.5),
            layer("loud", None, 3.0),
            layer("Bad Id", None, 1.5),
            empty,
        ];
        let err = validate(&source(layers)).unwrap_err();
        let messages: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
        let all = messages.join("\n");
        for needle in [
            "depth 4 exceeds",
            "unknown parent \"nobody\"",
            "duplicate layer id",
            "outside the dimension's range",
            "not a slug",
            "needs at least one keyword or example",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        assert!(messages
            .iter()
            .all(|m| m.starts_with("dimensions/dim.toml: ")));
    }

    #[test]
    fn detects_cycles() {
        let layers = vec![layer("a", Some("b"), 1.5), layer("b", Some("a"), 1.5)];
        let err = validate(&source(layers)).unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn slugs() {
        assert!(is_slug("emotion"));
        assert!(is_slug("exam-anxiety_2"));
        assert!(!is_slug(""));
        assert!(!is_slug("-x"));
        assert!(!is_slug("Émotion"));
        assert!(!is_slug(&"a".repeat(65)));
    }
}
