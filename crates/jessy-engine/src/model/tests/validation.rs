//! Validation of corrupt arrays, and robustness of an unvalidated view.

use super::*;
use crate::model::simd::bf16_from_f32;
use crate::model::train::densify;
use crate::parser::parse;

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
