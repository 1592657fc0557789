//! Tests of the learned model on tiny synthetic data sets whose right answers are known.

mod scoring;
mod training;
mod validation;

use super::calibrate::{self, top_score};
use super::train::train_detailed;
use super::*;
use crate::parser::ParsedQuery;
use crate::storage::ModelSections;

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

pub(super) fn examples() -> Vec<Example<'static>> {
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

pub(super) fn trained() -> Model {
    train(&examples(), 3, &TrainConfig::default()).unwrap()
}

/// The model before [`densify`]: every row in the sparse index.
pub(super) fn trained_sparse() -> Model {
    train_detailed(&examples(), 3, &TrainConfig::default())
        .unwrap()
        .0
}

pub(super) fn top(model: &Model, text: &str) -> calibrate::TopScore {
    top_score(
        &model.view(),
        text,
        &mut ParsedQuery::new(),
        &mut Vec::new(),
        &mut Vec::new(),
        &mut Vec::new(),
    )
}

pub(super) fn keys_only<'a>(
    base: ModelView<'a>,
    keys: &'a [u64],
    key_index: &'a [u32],
    idf: &'a [f32],
    row_start: &'a [u32],
) -> ModelView<'a> {
    ModelView {
        arrays: ModelSections {
            keys,
            idf,
            row_start,
            bias: base.arrays.bias,
            ..ModelSections::default()
        },
        key_index,
        dense_map: &[],
        ..base
    }
}
