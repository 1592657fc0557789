//! The calibration step's input: validation lines labelled with the classes of the layer table.

use std::collections::HashMap;

use super::import::slugify;
use super::order::LayerOrder;
use super::BuildError;
use crate::dataset::LabeledExample;
use crate::registry::RegistrySource;

/// Each validation line as `(text, class)`, `None` for an out-of-scope line. A label names a
/// layer by its ids or by the labels it was imported from (slugified). A label naming no layer
/// is an error in a build (calibrating against a class the model does not have would be
/// meaningless); in a rebuild after a write (`drop_unknown`) the lines of a deleted layer are
/// dropped instead, since nothing can be labelled with it any more.
pub(super) fn resolve_labels<'v>(
    source: &RegistrySource,
    layers: &LayerOrder,
    path: &str,
    val: &'v [LabeledExample],
    drop_unknown: bool,
) -> Result<Vec<(&'v str, Option<u32>)>, BuildError> {
    let class_of: HashMap<(&str, &str), u32> = layers
        .order
        .iter()
        .enumerate()
        .map(|(i, &(d, l))| {
            let dim = &source.dimensions[d];
            ((dim.id.as_str(), dim.layers[l].id.as_str()), i as u32)
        })
        .collect();
    let mut labeled = Vec::with_capacity(val.len());
    for ex in val {
        let label = match (&ex.dimension, &ex.layer) {
            (Some(d), Some(l)) => {
                let exact = class_of.get(&(d.as_str(), l.as_str())).copied();
                let slug = || {
                    class_of
                        .get(&(slugify(d).as_str(), slugify(l).as_str()))
                        .copied()
                };
                match exact.or_else(slug) {
                    Some(class) => Some(class),
                    None if drop_unknown => continue,
                    None => {
                        return Err(BuildError::UnknownLabel {
                            path: path.to_string(),
                            line: ex.line,
                            dimension: d.clone(),
                            layer: l.clone(),
                        })
                    }
                }
            }
            _ => None,
        };
        labeled.push((ex.text.as_str(), label));
    }
    Ok(labeled)
}
