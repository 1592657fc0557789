//! Featurization, scoring, key lookup and learned terms.

use super::*;
use crate::parser::parse;

#[test]
fn featurization_is_deterministic_normalized_and_unique() {
    let model = trained();
    let view = model.view();
    let q = parse("Play some jazz music, play it LOUD!").unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    view.featurize_into(&q, &mut Vec::new(), &mut a);
    view.featurize_into(&q, &mut Vec::new(), &mut b);
    assert_eq!(a, b);
    assert!(!a.is_empty());
    let norm: f32 = a.iter().map(|f| f.1 * f.1).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    let mut rows: Vec<u32> = a.iter().map(|f| f.0).collect();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), a.len());
    // Unknown words contribute nothing.
    let mut c = Vec::new();
    view.featurize_into(&parse("zzqx vvkw").unwrap(), &mut Vec::new(), &mut c);
    assert!(c.iter().all(|f| f.1.is_finite()));
}

#[test]
fn composed_features_merge_and_renormalize() {
    let model = trained();
    let view = model.view();
    let q = parse("play jazz").unwrap();
    let mut out = Vec::new();
    view.featurize_into(&q, &mut Vec::new(), &mut out);
    let single = out.clone();
    // Adding the same text again at any weight keeps the direction.
    view.featurize_text_into(&q, 0.5, &mut Vec::new(), &mut out);
    finish(&mut out);
    assert_eq!(out.len(), single.len());
    let mut sorted = single.clone();
    sorted.sort_by_key(|f| f.0);
    for (x, y) in out.iter().zip(&sorted) {
        assert_eq!(x.0, y.0);
        assert!((x.1 - y.1).abs() < 1e-5);
    }
    // Expansion with other text shifts the scores toward that text's class.
    let mut logits = Vec::new();
    view.score_into(&single, &mut logits);
    let before = logits[2];
    let mut expanded = single.clone();
    view.featurize_text_into(
        &parse("account balance money").unwrap(),
        1.0,
        &mut Vec::new(),
        &mut expanded,
    );
    finish(&mut expanded);
    view.score_into(&expanded, &mut logits);
    assert!(logits[2] > before);
}

#[test]
fn scores_are_bias_plus_postings() {
    let model = trained();
    let view = model.view();
    let mut feats = Vec::new();
    view.featurize_into(
        &parse("weather today").unwrap(),
        &mut Vec::new(),
        &mut feats,
    );
    let mut logits = Vec::new();
    view.score_into(&feats, &mut logits);
    let mut expected = model.bias.clone();
    for &(row, v) in &feats {
        for (class, e) in expected.iter_mut().enumerate() {
            *e += v * view.weight(row, class as u32).unwrap_or(0.0);
        }
    }
    assert_eq!(logits.len(), expected.len());
    for (a, b) in logits.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-5);
    }
    view.score_into(&[], &mut logits);
    assert_eq!(logits, model.bias);
    assert!((confidence(0.0) - 0.5).abs() < 1e-7);
    assert!(confidence(20.0) > 0.99 && confidence(-20.0) < 0.01);
}

/// `base` with other keys and no postings: a view for testing key lookup alone.
#[test]
fn row_lookup_finds_every_key_and_only_those() {
    let model = trained();
    let view = model.view();
    for (i, &k) in model.keys.iter().enumerate() {
        assert_eq!(view.row_of(k), Some(i as u32));
        assert_eq!(
            view.row_of(k.wrapping_add(1)).is_some(),
            model.keys.binary_search(&k.wrapping_add(1)).is_ok()
        );
    }
    assert_eq!(
        view.row_of(0),
        model.keys.binary_search(&0).ok().map(|i| i as u32)
    );
    assert_eq!(
        view.row_of(u64::MAX),
        model.keys.binary_search(&u64::MAX).ok().map(|i| i as u32)
    );
    // Badly non-uniform keys (not hashes) still resolve.
    let keys: Vec<u64> = (0..1000u64)
        .map(|i| if i < 990 { i } else { u64::MAX - (1000 - i) })
        .collect();
    let row_start = vec![0u32; keys.len() + 1];
    let idf = vec![1.0f32; keys.len()];
    let index = build_key_index(&keys);
    for key_index in [&index[..], &[]] {
        let skewed = keys_only(view, &keys, key_index, &idf, &row_start);
        skewed.validate().unwrap();
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(skewed.row_of(k), Some(i as u32));
        }
        assert_eq!(skewed.row_of(5000), None);
        assert_eq!(skewed.row_of(u64::MAX), None);
    }
    // The trained model's own lookups agree with and without its index.
    let plain = ModelView {
        key_index: &[],
        ..view
    };
    for k in model.keys.iter().step_by(7).flat_map(|&k| [k, k ^ 1]) {
        assert_eq!(plain.row_of(k), view.row_of(k));
    }
    for n in [0usize, 1, 2, 3, 5] {
        let keys: Vec<u64> = (0..n as u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let index = build_key_index(&keys);
        let tiny = keys_only(view, &keys, &index, &idf[..n], &row_start[..n + 1]);
        tiny.validate().unwrap();
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(tiny.row_of(k), Some(i as u32));
        }
        assert_eq!(tiny.row_of(12345), None);
    }
}

#[test]
fn top_terms_are_the_class_words() {
    let model = trained();
    let terms = top_unigram_terms(&examples(), &model, 5);
    assert_eq!(terms.len(), 3);
    let words = |c: usize| terms[c].iter().map(|t| t.0.as_str()).collect::<Vec<_>>();
    assert!(
        words(1).contains(&"play") && words(1).contains(&"music"),
        "{:?}",
        words(1)
    );
    assert!(
        words(2).contains(&"account") || words(2).contains(&"money"),
        "{:?}",
        words(2)
    );
    for class in &terms {
        assert!(class.len() <= 5);
        assert!(class.windows(2).all(|w| w[0].1 >= w[1].1));
        assert!(class.iter().all(|t| t.1 > 0.0 && !t.0.is_empty()));
    }
}
