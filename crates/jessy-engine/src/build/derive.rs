//! What the build derives from the trained model for the query path: each layer's learned
//! terms and expansion vector, and term associations.

use super::order::LayerOrder;
use crate::model::associations::{AssociationCarry, AssociationMemory, BASE_STRENGTH, PRUNE_BELOW};
use crate::model::{self, Example, Model};
use crate::parser;
use crate::registry::RegistrySource;
use crate::storage::format::FeatureValue;

/// Learned terms kept per layer (shown in the registry views and used for expansion).
const LEARNED_TERMS: usize = 12;
/// Features kept in a layer's expansion vector.
const EXPANSION_FEATURES: usize = 24;
/// Associations kept per source term.
const ASSOCIATIONS_PER_SOURCE: usize = 4;

/// Per layer (in table order) its learned terms and expansion vector; the term associations.
pub(super) struct Derived {
    pub(super) learned: Vec<Vec<(String, f32)>>,
    pub(super) expansion: Vec<Vec<FeatureValue>>,
    /// `(source key, target term, target feature row, strength)`.
    pub(super) associations: Vec<(u64, String, u32, f32)>,
}

pub(super) fn derive(
    source: &RegistrySource,
    layers: &LayerOrder,
    examples: &[Example<'_>],
    model: &Model,
    carry: Option<&AssociationCarry>,
) -> Derived {
    let learned = model::top_unigram_terms(examples, model, LEARNED_TERMS);
    let expansion = expansion_vectors(source, layers, &learned, model);
    let associations = match carry {
        Some(carry) => carried_associations(carry, model),
        None => associations(examples, model),
    };
    Derived {
        learned,
        expansion,
        associations,
    }
}

/// A layer's expansion vector: the strongest features of its keywords and learned terms.
fn expansion_vectors(
    source: &RegistrySource,
    layers: &LayerOrder,
    learned: &[Vec<(String, f32)>],
    model: &Model,
) -> Vec<Vec<FeatureValue>> {
    let view = model.view();
    let (mut keys, mut features) = (Vec::new(), Vec::new());
    layers
        .order
        .iter()
        .enumerate()
        .map(|(i, &(d, l))| {
            let layer = &source.dimensions[d].layers[l];
            let mut text = String::new();
            for k in &layer.keywords {
                text.push_str(k.term());
                text.push(' ');
            }
            for (t, _) in &learned[i] {
                text.push_str(t);
                text.push(' ');
            }
            features.clear();
            if let Ok(q) = parser::parse(&text) {
                view.featurize_into(&q, &mut keys, &mut features);
            }
            features.sort_by(|a, b| b.1.total_cmp(&a.1));
            features
                .iter()
                .take(EXPANSION_FEATURES)
                .map(|&(row, value)| FeatureValue { row, value })
                .collect()
        })
        .collect()
}

/// Term associations from co-occurrence in the labelled training utterances, as one period.
/// Only links that grew beyond a single co-occurrence carry signal; the target must be a known
/// feature so expansion can add it without parsing.
fn associations(examples: &[Example<'_>], model: &Model) -> Vec<(u64, String, u32, f32)> {
    let mut memory = AssociationMemory::new();
    for ex in examples.iter().filter(|e| e.label.is_some()) {
        observe_text(&mut memory, ex.text);
    }
    stored_links(&memory, model, |strength| strength > BASE_STRENGTH)
}

/// The serving generation's links carried into a rebuild, grown by what it observes new and
/// decayed when a learning period ends. Every link still above the pruning floor is kept (the
/// query path reads only the ones above [`BASE_STRENGTH`]), so weak links can grow next time.
fn carried_associations(carry: &AssociationCarry, model: &Model) -> Vec<(u64, String, u32, f32)> {
    let mut memory = AssociationMemory::from_links(&carry.links);
    for text in &carry.observe {
        observe_text(&mut memory, text);
    }
    if carry.period_ends {
        memory.end_period();
    }
    stored_links(&memory, model, |strength| strength >= PRUNE_BELOW)
}

fn observe_text(memory: &mut AssociationMemory, text: &str) {
    let terms = parser::distinct_stems(text);
    for (i, a) in terms.iter().enumerate() {
        for b in &terms[i + 1..] {
            memory.observe(a, b, model::unigram_key);
        }
    }
}

/// The links to store: the strongest per source that `keep` accepts, whose target is a known
/// unigram feature of `model`.
fn stored_links(
    memory: &AssociationMemory,
    model: &Model,
    keep: impl Fn(f32) -> bool,
) -> Vec<(u64, String, u32, f32)> {
    let view = model.view();
    memory
        .links(ASSOCIATIONS_PER_SOURCE)
        .into_iter()
        .filter(|&(_, _, strength)| keep(strength))
        .filter_map(|(from, to, strength)| {
            let row = view.unigram_row(&to)?;
            Some((from, to, row, strength))
        })
        .collect()
}
