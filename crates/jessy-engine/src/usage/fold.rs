//! Folding feedback into a registry source: the documented rules that turn a log of possibly
//! repeated, possibly contradictory judgements into training examples and an exam.
//!
//! 1. Feedback is grouped by *normalized text* (lowercased, whitespace collapsed), so "Hi  there"
//!    and "hi there" are one query.
//! 2. Each text's label is the **majority** of its feedback (`no_match` counts as a label). A tie
//!    between the most frequent labels makes the text *contradictory*: it is used neither for
//!    training nor as an exam line until more feedback breaks the tie. The rule depends only on
//!    the counts, never on the order feedback arrived in.
//! 3. A label naming a layer the registry no longer has makes the text *stale*; it is skipped.
//! 4. One text in [`HOLD_OUT_EVERY`] (chosen by a hash of the normalized text, so the choice is
//!    stable across learning runs) is *held out*: it never trains and is the regression guard's
//!    exam, alongside the registry's validation lines.
//! 5. Every other text becomes an example of its layer (or an out-of-scope example), and is
//!    removed wherever the registry had it under another label: feedback corrects the registry.
//!    A text already present with the same label is *known* and changes nothing.

use std::collections::BTreeMap;

use super::feedback::{split_layer, FeedbackRecord};
use crate::registry::RegistrySource;

/// One text in this many is held out of training as the guard's exam.
pub const HOLD_OUT_EVERY: u64 = 10;

/// A labelled text: `(text, Some((dimension, layer)))` or `(text, None)` for out of scope.
pub type Labelled = (String, Option<(String, String)>);

/// The result of folding feedback into a source.
#[derive(Debug, Clone)]
pub struct Folded {
    /// The source with the feedback applied.
    pub source: RegistrySource,
    /// Texts added (or moved) as training examples.
    pub trained: Vec<Labelled>,
    /// Texts held out as exam lines.
    pub held_out: Vec<Labelled>,
    /// Texts whose feedback is tied between labels.
    pub contradictory: usize,
    /// Texts labelled with a layer that no longer exists.
    pub stale: usize,
    /// Texts the source already had with the same label.
    pub known: usize,
    /// Feedback records behind the trained texts.
    pub records_used: usize,
}

/// The key feedback is grouped by.
pub fn normalize(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Applies `records` to `source` by the rules of this module.
pub fn fold(source: &RegistrySource, records: &[FeedbackRecord]) -> Folded {
    // normalized text → (a canonical original text, label → count)
    let mut groups: BTreeMap<String, (String, BTreeMap<Option<String>, usize>)> = BTreeMap::new();
    for record in records {
        let key = normalize(&record.text);
        if key.is_empty() {
            continue;
        }
        let text = record.text.trim().to_string();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (text.clone(), BTreeMap::new()));
        // The canonical spelling is the smallest, so it does not depend on arrival order.
        if text < entry.0 {
            entry.0 = text;
        }
        *entry.1.entry(record.layer.clone()).or_insert(0) += 1;
    }

    let mut folded = Folded {
        source: source.clone(),
        trained: Vec::new(),
        held_out: Vec::new(),
        contradictory: 0,
        stale: 0,
        known: 0,
        records_used: 0,
    };
    for (key, (text, votes)) in groups {
        let top = votes.values().copied().max().unwrap_or(0);
        let mut winners = votes.iter().filter(|(_, &n)| n == top);
        let (label, _) = winners.next().expect("a group has votes");
        if winners.next().is_some() {
            folded.contradictory += 1;
            continue;
        }
        let label = match label {
            None => None,
            Some(layer) => match split_layer(layer).filter(|(d, l)| has_layer(source, d, l)) {
                Some((d, l)) => Some((d.to_string(), l.to_string())),
                None => {
                    folded.stale += 1;
                    continue;
                }
            },
        };
        if held_out(&key) {
            folded.held_out.push((text, label));
            continue;
        }
        if apply(&mut folded.source, &key, &text, label.as_ref()) {
            folded.records_used += votes.values().sum::<usize>();
            folded.trained.push((text, label));
        } else {
            folded.known += 1;
        }
    }
    folded
}

fn has_layer(source: &RegistrySource, dimension: &str, layer: &str) -> bool {
    source
        .dimensions
        .iter()
        .any(|d| d.id == dimension && d.layers.iter().any(|l| l.id == layer))
}

/// Whether the text with normalized form `key` is an exam line (FNV-1a of the key).
pub fn held_out(key: &str) -> bool {
    fnv1a(key.bytes()).is_multiple_of(HOLD_OUT_EVERY)
}

/// Plain FNV-1a over `bytes`: a stable digest for choices and ids that must not change between
/// runs or processes (the model's `Fnv64` prefixes a feature-kind byte, so it is not this).
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Makes `text` an example of `label` only; `false` when the source already had it so.
fn apply(
    source: &mut RegistrySource,
    key: &str,
    text: &str,
    label: Option<&(String, String)>,
) -> bool {
    let mut already = false;
    let mut changed = false;
    for dim in &mut source.dimensions {
        for layer in &mut dim.layers {
            let here = label.is_some_and(|(d, l)| *d == dim.id && *l == layer.id);
            let before = layer.examples.len();
            layer.examples.retain(|e| {
                let same = normalize(e) == key;
                if same && here {
                    already = true;
                }
                !same || here
            });
            changed |= layer.examples.len() != before;
        }
    }
    let before = source.out_of_scope.len();
    source.out_of_scope.retain(|e| {
        let same = normalize(e) == key;
        if same && label.is_none() {
            already = true;
        }
        !same || label.is_none()
    });
    changed |= source.out_of_scope.len() != before;
    if !already {
        match label {
            Some((d, l)) => {
                let layer = source
                    .dimensions
                    .iter_mut()
                    .find(|dim| dim.id == *d)
                    .and_then(|dim| dim.layers.iter_mut().find(|x| x.id == *l))
                    .expect("the label was checked");
                layer.examples.push(text.to_string());
            }
            None => source.out_of_scope.push(text.to_string()),
        }
        changed = true;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{DimensionSource, LayerSource};

    fn source() -> RegistrySource {
        let layer = |id: &str, examples: &[&str]| LayerSource {
            id: id.into(),
            name: id.into(),
            parent: None,
            frequency: 1.0,
            keywords: vec![],
            examples: examples.iter().map(|s| s.to_string()).collect(),
            content: String::new(),
        };
        RegistrySource {
            name: "t".into(),
            description: String::new(),
            out_of_scope: vec!["tell me a joke".into()],
            encoder: None,
            dimensions: vec![DimensionSource {
                id: "bank".into(),
                name: "bank".into(),
                description: String::new(),
                frequency: [1.0, 2.0],
                layers: vec![
                    layer("balance", &["what is my balance"]),
                    layer("transfer", &["send money"]),
                ],
                file: "dimensions/bank.toml".into(),
            }],
        }
    }

    fn rec(text: &str, layer: Option<&str>) -> FeedbackRecord {
        FeedbackRecord {
            text: text.into(),
            layer: layer.map(str::to_string),
            query_id: None,
        }
    }

    /// Texts that are not held out, so they train.
    fn trainable(n: usize) -> Vec<String> {
        (0..)
            .map(|i| format!("move cash number {i}"))
            .filter(|t| !held_out(&normalize(t)))
            .take(n)
            .collect()
    }

    #[test]
    fn the_majority_label_wins_whatever_the_order_and_ties_are_dropped() {
        let t = trainable(2);
        let mut records = vec![
            rec(&t[0], Some("bank/transfer")),
            rec(&t[0], Some("bank/balance")),
            rec(&t[0].to_uppercase(), Some("bank/transfer")),
            rec(&t[1], Some("bank/transfer")),
            rec(&t[1], None),
        ];
        let a = fold(&source(), &records);
        records.reverse();
        let b = fold(&source(), &records);
        for f in [&a, &b] {
            assert_eq!(f.trained.len(), 1);
            assert_eq!(f.trained[0].1, Some(("bank".into(), "transfer".into())));
            assert_eq!(f.contradictory, 1);
            assert_eq!(f.records_used, 3);
        }
        assert_eq!(a.trained, b.trained, "same outcome in either order");
        assert_eq!(
            a.source.dimensions[0].layers[1].examples,
            b.source.dimensions[0].layers[1].examples
        );
    }

    #[test]
    fn feedback_moves_a_text_and_known_or_stale_labels_change_nothing() {
        let f = fold(
            &source(),
            &[
                rec("What is my  balance", Some("bank/transfer")),
                rec("send money", Some("bank/transfer")),
                rec("tell me a joke", Some("bank/nope")),
            ],
        );
        let held = held_out(&normalize("What is my  balance"));
        let layers = &f.source.dimensions[0].layers;
        if !held {
            assert!(layers[0].examples.is_empty(), "moved out of balance");
            assert!(layers[1]
                .examples
                .iter()
                .any(|e| e == "What is my  balance"));
        }
        assert_eq!(f.known, usize::from(!held_out("send money")));
        assert_eq!(f.stale, 1);
        assert_eq!(f.source.out_of_scope, vec!["tell me a joke".to_string()]);
    }

    #[test]
    fn out_of_scope_feedback_becomes_an_out_of_scope_example() {
        let t = trainable(1);
        let f = fold(&source(), &[rec(&t[0], None)]);
        assert!(f.source.out_of_scope.contains(&t[0]));
        assert_eq!(f.trained, vec![(t[0].clone(), None)]);
    }

    #[test]
    fn about_one_text_in_ten_is_held_out_and_the_choice_is_stable() {
        let texts: Vec<String> = (0..2000).map(|i| format!("query {i}")).collect();
        let held = texts.iter().filter(|t| held_out(&normalize(t))).count();
        assert!((150..=250).contains(&held), "{held} of 2000");
        assert_eq!(held_out("query 7"), held_out("query 7"));
    }
}
