//! Each class's most telling words, recovered at build time.
//!
//! Feature keys are hashes, so a model cannot list its terms by itself. At build time the
//! examples are at hand: every content word of a class's examples is a candidate, ranked by the
//! weight the model gave its stem's unigram feature for that class. The result is what a
//! registry shows as a layer's learned keywords and what query expansion adds.

use std::collections::HashMap;

use super::{Example, Model, ModelView};
use crate::parser::{is_negation, parse};

/// For each class, up to `n` `(word, weight)` pairs, highest weight first: the content words
/// (stopwords, negations and numbers excluded) of the class's examples whose stem carries a
/// positive unigram weight for the class. Each stem is shown as its most frequent surface form
/// in the class's examples (ties: alphabetical), so "reservations"/"reservation" appear once.
pub fn top_unigram_terms(
    examples: &[Example<'_>],
    model: &Model,
    n: usize,
) -> Vec<Vec<(String, f32)>> {
    let view = model.view();
    let classes = model.num_classes as usize;
    // Per class: stem -> (surface form -> count).
    let mut seen: Vec<HashMap<String, HashMap<String, u32>>> = vec![HashMap::new(); classes];
    for e in examples {
        let Some(label) = e.label.filter(|&l| (l as usize) < classes) else {
            continue;
        };
        let Ok(q) = parse(e.text) else { continue };
        for i in 0..q.num_words() {
            if q.is_stopword_at(i) {
                continue;
            }
            let (Some(word), Some(stem)) = (q.word(i), q.stem(i)) else {
                continue;
            };
            if is_negation(word) || word.chars().any(|c| c.is_numeric()) {
                continue;
            }
            *seen[label as usize]
                .entry(stem.to_string())
                .or_default()
                .entry(word.to_string())
                .or_default() += 1;
        }
    }
    seen.into_iter()
        .enumerate()
        .map(|(class, stems)| {
            let mut terms: Vec<(String, f32)> = stems
                .into_iter()
                .filter_map(|(stem, forms)| {
                    let w = unigram_weight(&view, &stem, class as u32)?;
                    let word = forms
                        .into_iter()
                        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?
                        .0;
                    (w > 0.0).then_some((word, w))
                })
                .collect();
            terms.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            terms.truncate(n);
            terms
        })
        .collect()
}

/// The weight of `stem`'s unigram feature for `class`, if the model kept one.
pub fn unigram_weight(view: &ModelView<'_>, stem: &str, class: u32) -> Option<f32> {
    view.weight(view.unigram_row(stem)?, class)
}
