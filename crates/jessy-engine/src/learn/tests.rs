//! Tests of the learned model on tiny synthetic data sets whose right answers are known.

use super::calibrate::{calibrate_with, top_score, Criterion};
use super::*;
use crate::parser::parse;

const WEATHER: &[&str] = &[
    "what is the weather like today",
    "will it rain tomorrow",
    "is it going to snow this weekend",
    "weather forecast for paris",
    "how hot will it be outside",
    "do i need an umbrella today",
];
const MUSIC: &[&str] = &[
    "play some jazz music",
    "put on my favorite playlist",
    "play the next song",
    "turn up the music volume",
    "shuffle my songs",
    "play rock music loudly",
];
const BANK: &[&str] = &[
    "what is my account balance",
    "transfer money to my savings account",
    "how much money do i have in checking",
    "show my recent bank transactions",
    "pay my credit card bill",
    "deposit a check into my account",
];
const OOS: &[&str] = &[
    "who won the football game",
    "tell me a joke about cats",
    "what is the capital of mongolia",
    "recommend a good novel to read",
    "how tall is mount everest",
    "translate hello into german",
];

fn examples() -> Vec<Example<'static>> {
    let mut v = Vec::new();
    for (class, texts) in [WEATHER, MUSIC, BANK].iter().enumerate() {
        v.extend(texts.iter().map(|t| Example {
            text: t,
            label: Some(class as u32),
            weight: 1.0,
        }));
    }
    v.extend(OOS.iter().map(|t| Example {
        text: t,
        label: None,
        weight: 1.0,
    }));
    v
}

fn trained() -> Model {
    train(&examples(), 3, &TrainConfig::default()).unwrap()
}

/// The model before [`densify`]: every row in the sparse index.
fn trained_sparse() -> Model {
    train_detailed(&examples(), 3, &TrainConfig::default())
        .unwrap()
        .0
}

#[test]
fn densify_keeps_every_logit_and_is_idempotent() {
    let sparse = trained_sparse();
    assert!(sparse.dense_rows.is_empty());
    let outputs = sparse.bias.len();
    // Three fills: some rows dense (3 of 4 outputs), all rows with a posting, and none.
    for fill in [0.75, 0.01, 2.0] {
        let mut dense = sparse.clone();
        densify(&mut dense, fill);
        dense.view().validate().unwrap();
        let moved = dense.dense_rows.len();
        let expect_moved = (0..sparse.keys.len())
            .filter(|&r| {
                let n = (sparse.row_start[r + 1] - sparse.row_start[r]) as f32;
                n > 0.0 && n >= (fill * outputs as f32).ceil()
            })
            .count();
        assert_eq!(moved, expect_moved, "fill {fill}");
        let moved_postings: usize = dense
            .dense_rows
            .iter()
            .map(|&r| (sparse.row_start[r as usize + 1] - sparse.row_start[r as usize]) as usize)
            .sum();
        assert_eq!(
            dense.post_class.len(),
            sparse.post_class.len() - moved_postings
        );
        assert_eq!(dense.dense.len(), moved * outputs);
        for text in [
            "weather today",
            "play some music",
            "account balance money",
            "zzz",
        ] {
            let q = parse(text).unwrap();
            let (mut a, mut b, mut feats) = (Vec::new(), Vec::new(), Vec::new());
            sparse
                .view()
                .featurize_into(&q, &mut Vec::new(), &mut feats);
            sparse.view().score_into(&feats, &mut a);
            dense.view().score_into(&feats, &mut b);
            // Dense weights are bfloat16: each within 2⁻⁸ of the sparse one, so a logit moves
            // by at most 2⁻⁸ of the absolute sum of what it adds up.
            let mut bound = vec![1e-6f32; outputs];
            for &(row, value) in &feats {
                for (class, slot) in bound.iter_mut().enumerate() {
                    let w = sparse.view().weight(row, class as u32).unwrap_or(0.0);
                    *slot += (value * w).abs() / 256.0;
                }
            }
            for ((x, y), limit) in a.iter().zip(&b).zip(&bound) {
                assert!((x - y).abs() <= *limit, "{text}: {a:?} vs {b:?}");
            }
            for &(row, _) in &feats {
                for class in 0..outputs as u32 {
                    let s = sparse.view().weight(row, class).unwrap_or(0.0);
                    let d = dense.view().weight(row, class).unwrap_or(0.0);
                    assert!((s - d).abs() <= s.abs() / 256.0, "{s} vs {d}");
                }
            }
        }
        // The dense map finds exactly the rows a binary search over the dense rows finds.
        let searched = ModelView {
            dense_map: &[],
            ..dense.view()
        };
        assert_eq!(dense.dense_map.len(), dense.keys.len().div_ceil(64));
        for row in 0..dense.keys.len() as u32 + 70 {
            assert_eq!(
                dense.view().dense_slot(row),
                searched.dense_slot(row),
                "row {row}"
            );
        }
        let mut again = dense.clone();
        densify(&mut again, fill);
        assert_eq!(again, dense, "fill {fill}");
    }
}

fn top(model: &Model, text: &str) -> calibrate::TopScore {
    top_score(
        &model.view(),
        text,
        &mut ParsedQuery::new(),
        &mut Vec::new(),
        &mut Vec::new(),
        &mut Vec::new(),
    )
}

#[test]
fn disjoint_vocabularies_give_the_right_class() {
    let model = trained();
    model.view().validate().unwrap();
    assert_eq!(model.bias.len(), 4, "3 classes + out-of-scope output");
    for (text, class) in [
        ("is it going to rain today", 0),
        ("weather in london", 0),
        ("play some music", 1),
        ("next song please", 1),
        ("my checking account balance", 2),
        ("transfer money", 2),
    ] {
        let s = top(&model, text);
        assert_eq!(s.class, Some(class), "{text}: {s:?}");
        assert!(s.confidence > 0.0 && s.confidence < 1.0);
    }
}

#[test]
fn out_of_scope_region_is_rejected_after_calibration() {
    let model = trained();
    let view = model.view();
    let val: Vec<(&str, Option<u32>)> = vec![
        ("will it be sunny tomorrow", Some(0)),
        ("forecast for the weekend", Some(0)),
        ("play jazz", Some(1)),
        ("shuffle my playlist", Some(1)),
        ("balance of my savings account", Some(2)),
        ("pay my bill", Some(2)),
        ("tell me a joke", None),
        ("who won the game", None),
        ("how tall is the tallest mountain", None),
    ];
    for criterion in [Criterion::Accuracy, Criterion::Balanced] {
        let cal = calibrate_with(&view, &val, criterion);
        assert!(
            cal.threshold.is_finite() && (0.0..=1.0).contains(&cal.threshold),
            "{cal:?}"
        );
        for &(text, label) in &val {
            let s = top(&model, text);
            let accepted = cal.accepts(s.decision);
            match label {
                Some(l) => assert!(
                    accepted && s.class == Some(l),
                    "{criterion:?} {text}: {s:?} {cal:?}"
                ),
                None => assert!(!accepted, "{criterion:?} {text}: {s:?} {cal:?}"),
            }
        }
    }
    // Unseen out-of-scope queries near the out-of-scope examples are rejected too.
    let cal = calibrate_with(&view, &val, Criterion::Accuracy);
    let s = top(&model, "tell me a joke about dogs");
    assert!(!cal.accepts(s.decision), "{s:?} {cal:?}");
}

#[test]
fn calibration_without_data_is_the_default() {
    let model = trained();
    assert_eq!(
        calibrate(&model.view(), &[]),
        Calibration::default_uncalibrated()
    );
}

#[test]
fn training_is_deterministic() {
    assert_eq!(trained(), trained());
    let hinge = TrainConfig {
        loss: Loss::SquaredHinge,
        ..TrainConfig::default()
    };
    assert_eq!(
        train(&examples(), 3, &hinge).unwrap(),
        train(&examples(), 3, &hinge).unwrap()
    );
}

#[test]
fn squared_hinge_and_negatives_only_variants_also_separate() {
    for config in [
        TrainConfig {
            loss: Loss::SquaredHinge,
            ..TrainConfig::default()
        },
        TrainConfig {
            out_of_scope: OutOfScope::Negatives,
            ..TrainConfig::default()
        },
    ] {
        let model = train(&examples(), 3, &config).unwrap();
        model.view().validate().unwrap();
        assert_eq!(
            model.bias.len(),
            if config.out_of_scope == OutOfScope::Negatives {
                3
            } else {
                4
            }
        );
        assert_eq!(top(&model, "play the music").class, Some(1));
        assert_eq!(top(&model, "money transfer").class, Some(2));
    }
}

#[test]
fn example_weights_matter() {
    // The same ambiguous text labeled two ways: the heavier label wins.
    let ex = |label, weight| Example {
        text: "check the status",
        label: Some(label),
        weight,
    };
    let model = train(&[ex(0, 1.0), ex(1, 5.0)], 2, &TrainConfig::default()).unwrap();
    assert_eq!(top(&model, "check the status").class, Some(1));
    let model = train(&[ex(0, 5.0), ex(1, 1.0)], 2, &TrainConfig::default()).unwrap();
    assert_eq!(top(&model, "check the status").class, Some(0));
}

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
fn keys_only<'a>(
    base: ModelView<'a>,
    keys: &'a [u64],
    key_index: &'a [u32],
    idf: &'a [f32],
    row_start: &'a [u32],
) -> ModelView<'a> {
    ModelView {
        keys,
        key_index,
        idf,
        row_start,
        post_class: &[],
        post_weight: &[],
        dense_rows: &[],
        dense: &[],
        dense_map: &[],
        ..base
    }
}

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

#[test]
fn validate_rejects_each_corruption() {
    let model = trained_sparse();
    model.view().validate().unwrap();
    let check = |f: &dyn Fn(&mut Model), expect: &dyn Fn(&ModelError) -> bool| {
        let mut m = model.clone();
        f(&mut m);
        let err = m.view().validate().unwrap_err();
        assert!(expect(&err), "unexpected {err:?}");
    };
    check(&|m| m.feature_config.version += 1, &|e| {
        matches!(e, ModelError::FeatureVersion { .. })
    });
    check(&|m| m.feature_config.char_max = 99, &|e| {
        matches!(e, ModelError::FeatureParams(_))
    });
    check(&|m| m.idf.truncate(m.idf.len() - 1), &|e| {
        matches!(e, ModelError::Length { what: "idf", .. })
    });
    check(&|m| m.row_start.truncate(m.row_start.len() - 1), &|e| {
        matches!(
            e,
            ModelError::Length {
                what: "row_start",
                ..
            }
        )
    });
    check(&|m| m.post_weight.truncate(m.post_weight.len() - 1), &|e| {
        matches!(
            e,
            ModelError::Length {
                what: "post_weight",
                ..
            }
        )
    });
    check(&|m| m.bias.extend([0.0, 0.0]), &|e| {
        matches!(e, ModelError::Length { what: "bias", .. })
    });
    check(
        &|m| {
            m.keys.swap(0, 1);
            m.key_index.clear();
        },
        &|e| matches!(e, ModelError::KeysNotSorted { index: 1 }),
    );
    check(
        &|m| {
            m.keys[1] = m.keys[0];
            m.key_index.clear();
        },
        &|e| matches!(e, ModelError::KeysNotSorted { .. }),
    );
    check(&|m| m.key_index[3] += 1, &|e| {
        matches!(e, ModelError::KeyIndex { .. })
    });
    check(&|m| m.key_index.truncate(m.key_index.len() - 1), &|e| {
        matches!(e, ModelError::KeyIndex { .. })
    });
    check(&|m| m.row_start[0] = 1, &|e| {
        matches!(e, ModelError::RowStart { index: 0 })
    });
    check(
        &|m| {
            let mid = m.row_start.len() / 2;
            m.row_start[mid] = u32::MAX;
        },
        &|e| matches!(e, ModelError::RowStart { .. }),
    );
    check(
        &|m| {
            let last = m.row_start.len() - 1;
            m.row_start[last] -= 1;
        },
        &|e| matches!(e, ModelError::RowStart { .. }),
    );
    check(&|m| m.post_class[0] = 4, &|e| {
        matches!(
            e,
            ModelError::ClassOutOfRange {
                index: 0,
                class: 4,
                ..
            }
        )
    });
    check(
        &|m| {
            let row = (0..m.keys.len())
                .find(|&r| m.row_start[r + 1] - m.row_start[r] >= 2)
                .unwrap();
            let p = m.row_start[row] as usize;
            m.post_class.swap(p, p + 1);
        },
        &|e| matches!(e, ModelError::PostingsNotSorted { .. }),
    );
    check(&|m| m.idf[3] = f32::NAN, &|e| {
        matches!(
            e,
            ModelError::NonFinite {
                what: "idf",
                index: 3
            }
        )
    });
    check(&|m| m.idf[0] = 0.0, &|e| {
        matches!(e, ModelError::NonFinite { what: "idf", .. })
    });
    check(&|m| m.post_weight[2] = f32::INFINITY, &|e| {
        matches!(
            e,
            ModelError::NonFinite {
                what: "post_weight",
                ..
            }
        )
    });
    check(&|m| m.bias[1] = f32::NAN, &|e| {
        matches!(e, ModelError::NonFinite { what: "bias", .. })
    });

    // Dense rows: on a model with both sparse and dense rows.
    let mut mixed = model.clone();
    densify(&mut mixed, 0.75);
    mixed.view().validate().unwrap();
    assert!(!mixed.dense_rows.is_empty() && !mixed.post_class.is_empty());
    let check = |f: &dyn Fn(&mut Model), expect: &dyn Fn(&ModelError) -> bool| {
        let mut m = mixed.clone();
        f(&mut m);
        let err = m.view().validate().unwrap_err();
        assert!(expect(&err), "unexpected {err:?}");
    };
    check(&|m| m.dense.pop().map_or((), drop), &|e| {
        matches!(e, ModelError::Length { what: "dense", .. })
    });
    check(&|m| m.dense[0] = bf16_from_f32(f32::NAN), &|e| {
        matches!(e, ModelError::NonFinite { what: "dense", .. })
    });
    check(&|m| m.dense_map[0].0 ^= 1 << 63, &|e| {
        matches!(e, ModelError::DenseRows { .. })
    });
    check(&|m| m.dense_map.push((0, 0)), &|e| {
        matches!(e, ModelError::DenseRows { .. })
    });
    check(
        &|m| {
            // A dense row that also has sparse postings.
            let sparse_row = (0..m.keys.len())
                .find(|&r| m.row_start[r + 1] > m.row_start[r])
                .unwrap();
            m.dense_rows[0] = sparse_row as u32;
            m.dense_rows.sort_unstable();
            m.dense_rows.dedup();
            let outputs = m.bias.len();
            m.dense.truncate(m.dense_rows.len() * outputs);
        },
        &|e| matches!(e, ModelError::DenseRows { .. }),
    );
    check(
        &|m| {
            let outputs = m.bias.len();
            m.dense_rows.push(m.keys.len() as u32);
            m.dense.extend(std::iter::repeat_n(0u16, outputs));
        },
        &|e| matches!(e, ModelError::DenseRows { .. }),
    );
    check(
        &|m| {
            if m.dense_rows.len() < 2 {
                m.dense_rows.push(m.dense_rows[0]);
                let outputs = m.bias.len();
                m.dense.extend(std::iter::repeat_n(0u16, outputs));
            } else {
                m.dense_rows.swap(0, 1);
            }
        },
        &|e| matches!(e, ModelError::DenseRows { .. }),
    );
}

#[test]
fn scoring_a_corrupt_unvalidated_view_does_not_panic() {
    let model = trained();
    let mut m = model.clone();
    m.post_class.iter_mut().for_each(|c| *c = 1000);
    m.row_start.iter_mut().skip(1).for_each(|r| *r = u32::MAX);
    m.dense_rows = vec![0, 0, u32::MAX];
    m.dense.truncate(1);
    let view = m.view();
    let mut feats = vec![(0u32, 1.0f32), (u32::MAX, 1.0)];
    let mut logits = Vec::new();
    view.score_into(&feats, &mut logits);
    assert_eq!(logits.len(), m.bias.len());
    view.featurize_into(
        &parse("weather music").unwrap(),
        &mut Vec::new(),
        &mut feats,
    );
}

#[test]
fn params_round_trip_through_storage_form() {
    let model = trained();
    let c = FeatureConfig::from_params(model.feature_config.to_params()).unwrap();
    assert_eq!(c, model.feature_config);
}

#[test]
fn texts_without_words_are_skipped_in_training_and_score_as_no_match() {
    let mut ex = examples();
    ex.push(Example {
        text: "?!",
        label: Some(0),
        weight: 1.0,
    });
    ex.push(Example {
        text: "weather",
        label: Some(0),
        weight: 0.0,
    });
    let model = train(&ex, 3, &TrainConfig::default()).unwrap();
    model.view().validate().unwrap();
    let s = top(&model, "...");
    assert_eq!(s.class, None);
    assert!(!Calibration::default_uncalibrated().accepts(s.decision));
}
