//! Training, densifying and calibrating.

use super::*;
use crate::model::calibrate::{calibrate_with, Criterion};
use crate::model::train::densify;
use crate::parser::parse;

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

/// A warm start (a layer write retraining from where the last training ended) reaches the
/// model a cold training reaches: the dual is convex, so only the number of passes differs.
/// Solved tightly here so the two are comparable (at the default tolerance, 0.1, each stops
/// somewhere within that tolerance of the optimum, and logits then differ by up to ~0.08).
#[test]
fn a_warm_start_reaches_the_cold_model() {
    let config = TrainConfig {
        tolerance: 1e-4,
        max_epochs: 2000,
        ..TrainConfig::default()
    };
    let mut ex = examples();
    let (_, duals) = train_warm(&ex, 3, &config, &[]).unwrap();
    assert_eq!(duals.len(), 4, "three classes and the out-of-scope output");
    assert!(duals.iter().all(|d| d.len() == ex.len()));
    assert!(duals.iter().any(|d| d.iter().any(|&a| a > 0.0)));
    ex.push(Example {
        text: "will it hail in london tonight",
        label: Some(0),
        weight: 1.0,
    });
    let start: Vec<Option<Vec<f32>>> = duals
        .into_iter()
        .map(|mut d| {
            d.push(0.0);
            Some(d)
        })
        .collect();
    let (warm, _) = train_warm(&ex, 3, &config, &start).unwrap();
    let (cold, _) = train_warm(&ex, 3, &config, &[]).unwrap();
    let logits = |m: &Model, text: &str| {
        let (mut keys, mut feats, mut logits) = (Vec::new(), Vec::new(), Vec::new());
        m.view()
            .featurize_into(&parse(text).unwrap(), &mut keys, &mut feats);
        m.view().score_into(&feats, &mut logits);
        logits
    };
    for text in [
        "is it going to hail",
        "play some jazz",
        "my account balance",
        "who won",
    ] {
        let (w, c) = (logits(&warm, text), logits(&cold, text));
        assert_eq!(w.len(), c.len());
        for (a, b) in w.iter().zip(&c) {
            assert!((a - b).abs() < 0.01, "{text:?}: warm {w:?} vs cold {c:?}");
        }
    }
}
