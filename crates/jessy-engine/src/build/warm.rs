//! Warm starts for rebuilds: the dual variables of the models a compile trained, keyed by what
//! they belong to (an output by its layer's ids, an example by its text, label and weight), so
//! the next compile of nearly the same registry — a layer write — starts each classifier where
//! the last one ended instead of from zero. Layers added, removed or reordered by the write
//! are matched by key; whatever has no match starts from zero.
//!
//! The duals live in memory only (in the engine), not in the snapshot: for CLINC150 they are
//! two 150 × 18k tables, as large as the model. The first write after a process starts is
//! therefore a cold training.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::order::LayerOrder;
use crate::model::train::Duals;
use crate::model::Example;
use crate::registry::RegistrySource;

/// What a compile leaves for the next one to start from.
#[derive(Default)]
pub struct WarmStart {
    /// The model the threshold was calibrated on (or the only model of an uncalibrated build).
    pub(super) first: Option<KeyedDuals>,
    /// The model refit on training + validation lines.
    pub(super) refit: Option<KeyedDuals>,
}

impl std::fmt::Debug for WarmStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmStart")
            .field("first", &self.first.as_ref().map(|d| d.outputs.len()))
            .field("refit", &self.refit.as_ref().map(|d| d.outputs.len()))
            .finish()
    }
}

impl WarmStart {
    /// The first-stage duals of `self` with the refit duals of `other`: for a compile whose
    /// first stage `self` already solved (same data, without refit) and whose refit is closest
    /// to `other`'s.
    pub fn combine(mut self, other: Option<&WarmStart>) -> WarmStart {
        self.refit = other.and_then(|o| o.refit.clone());
        self
    }
}

/// Duals of one model, with the keys of its outputs and examples.
#[derive(Clone)]
pub(super) struct KeyedDuals {
    outputs: Vec<u64>,
    examples: Vec<u64>,
    duals: Duals,
}

/// Stable keys of one compile's outputs and training examples.
pub(super) struct Keys {
    outputs: Vec<u64>,
    examples: Vec<u64>,
}

fn hash(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

impl Keys {
    /// Keys for `examples` (labelled by class in `layers` order) and for the classes plus the
    /// out-of-scope output.
    pub(super) fn new(
        source: &RegistrySource,
        layers: &LayerOrder,
        examples: &[Example<'_>],
    ) -> Keys {
        let mut outputs: Vec<u64> = layers
            .order
            .iter()
            .map(|&(d, l)| {
                let dim = &source.dimensions[d];
                hash((&dim.id, &dim.layers[l].id))
            })
            .collect();
        let out_of_scope = hash("\u{0}out-of-scope");
        outputs.push(out_of_scope);
        let examples = examples
            .iter()
            .map(|e| {
                let label = e.label.map_or(out_of_scope, |c| outputs[c as usize]);
                hash((e.text, label, e.weight.to_bits()))
            })
            .collect();
        Keys { outputs, examples }
    }

    /// Keys with `duals` attached: what the next compile starts from.
    pub(super) fn with(&self, duals: Duals) -> Option<KeyedDuals> {
        (!duals.is_empty() && duals.iter().all(|d| d.len() == self.examples.len())).then(|| {
            KeyedDuals {
                outputs: self.outputs[..duals.len().min(self.outputs.len())].to_vec(),
                examples: self.examples.clone(),
                duals,
            }
        })
    }

    /// The starting duals, per output of this compile and per example, carried over from
    /// `previous` by key (`None` for an output the previous model did not have).
    pub(super) fn start_from(&self, previous: Option<&KeyedDuals>) -> Vec<Option<Vec<f32>>> {
        let Some(previous) = previous else {
            return Vec::new();
        };
        let old_example: HashMap<u64, usize> = previous
            .examples
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i))
            .collect();
        let old_output: HashMap<u64, usize> = previous
            .outputs
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i))
            .collect();
        self.outputs
            .iter()
            .map(|key| {
                let old = &previous.duals[*old_output.get(key)?];
                Some(
                    self.examples
                        .iter()
                        .map(|k| old_example.get(k).map_or(0.0, |&i| old[i]))
                        .collect(),
                )
            })
            .collect()
    }
}
