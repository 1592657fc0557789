//! The training corpus: parse the examples, build the vocabulary and IDF, and turn every
//! example into the same feature vector the query path computes.

use rayon::prelude::*;

use super::{Example, TrainConfig, TrainError};
use crate::model::features::{self, NUM_BLOCKS};
use crate::model::{build_key_index, ModelView};
use crate::parser::{parse, ParsedQuery};
use crate::storage::ModelSections;

/// Documents as a CSR matrix of `(row, value)`.
pub(super) struct Docs {
    pub(super) start: Vec<usize>,
    pub(super) row: Vec<u32>,
    pub(super) value: Vec<f32>,
    /// Squared norm of each document plus the bias feature's 1.
    pub(super) sq_norm: Vec<f64>,
}

impl Docs {
    pub(super) fn get(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.start[i]..self.start[i + 1];
        (&self.row[r.clone()], &self.value[r])
    }

    pub(super) fn len(&self) -> usize {
        self.start.len() - 1
    }
}

/// Everything the solvers need: the vocabulary and the documents as vectors over it.
pub(super) struct Corpus {
    /// Feature keys, sorted, unique.
    pub(super) keys: Vec<u64>,
    /// Bucket directory over `keys`.
    pub(super) key_index: Vec<u32>,
    /// Smoothed IDF per feature.
    pub(super) idf: Vec<f32>,
    /// One normalized vector per usable example.
    pub(super) docs: Docs,
    /// Largest value each feature took in a document (bounds a posting's contribution).
    pub(super) max_value: Vec<f32>,
    /// Label of each document.
    pub(super) labels: Vec<Option<u32>>,
    /// Weight of each document.
    pub(super) weights: Vec<f32>,
    /// Index in the training examples of each document (examples without words or weight
    /// have none).
    pub(super) example_index: Vec<usize>,
}

impl Corpus {
    /// Parses the examples (skipping those without words or weight), builds the vocabulary
    /// and document frequencies, and featurizes every document.
    pub(super) fn build(
        examples: &[Example<'_>],
        config: &TrainConfig,
    ) -> Result<Corpus, TrainError> {
        type Parsed = (ParsedQuery, Option<u32>, f32);
        let (parsed, example_index): (Vec<Parsed>, Vec<usize>) = examples
            .par_iter()
            .enumerate()
            .filter(|(_, e)| e.weight > 0.0)
            .filter_map(|(i, e)| parse(e.text).ok().map(|q| ((q, e.label, e.weight), i)))
            .unzip();
        let (keys, df) = vocabulary(&parsed, config)?;
        // Smoothed IDF, as if one extra document contained every feature: never zero or
        // infinite.
        let n_docs = parsed.len() as f64;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| (((1.0 + n_docs) / (1.0 + d as f64)).ln() + 1.0) as f32)
            .collect();
        let key_index = build_key_index(&keys);
        let docs = document_vectors(&parsed, config, &keys, &key_index, &idf);
        let mut max_value = vec![0f32; keys.len()];
        for (&r, &v) in docs.row.iter().zip(&docs.value) {
            let m = &mut max_value[r as usize];
            *m = m.max(v);
        }
        Ok(Corpus {
            keys,
            key_index,
            idf,
            docs,
            max_value,
            labels: parsed.iter().map(|p| p.1).collect(),
            weights: parsed.iter().map(|p| p.2).collect(),
            example_index,
        })
    }
}

/// The sorted unique feature keys of the documents and their document frequencies.
fn vocabulary(
    parsed: &[(ParsedQuery, Option<u32>, f32)],
    config: &TrainConfig,
) -> Result<(Vec<u64>, Vec<u32>), TrainError> {
    let doc_keys: Vec<Vec<u64>> = parsed
        .par_iter()
        .map(|(q, _, _)| {
            let mut keys = Vec::new();
            for block in 0..NUM_BLOCKS {
                features::block_keys(&config.features, q, block, &mut |k| keys.push(k));
            }
            keys.sort_unstable();
            keys.dedup();
            keys
        })
        .collect();
    let mut all: Vec<u64> = doc_keys.concat();
    drop(doc_keys);
    all.par_sort_unstable();
    let mut keys = Vec::new();
    let mut df = Vec::new();
    for &k in &all {
        if keys.last() == Some(&k) {
            *df.last_mut().expect("df parallel to keys") += 1u32;
        } else {
            keys.push(k);
            df.push(1u32);
        }
    }
    if keys.len() >= u32::MAX as usize {
        return Err(TrainError::TooLarge);
    }
    Ok((keys, df))
}

/// Document vectors, through the query path itself, so training and serving agree exactly.
fn document_vectors(
    parsed: &[(ParsedQuery, Option<u32>, f32)],
    config: &TrainConfig,
    keys: &[u64],
    key_index: &[u32],
    idf: &[f32],
) -> Docs {
    let row_start = vec![0u32; keys.len() + 1];
    let vocab = ModelView {
        feature_config: config.features,
        num_classes: 0,
        arrays: ModelSections {
            keys,
            idf,
            row_start: &row_start,
            ..ModelSections::default()
        },
        key_index,
        dense_map: &[],
    };
    let vectors: Vec<Vec<(u32, f32)>> = parsed
        .par_iter()
        .map(|(q, _, _)| {
            let mut v = Vec::new();
            vocab.featurize_into(q, &mut Vec::new(), &mut v);
            v
        })
        .collect();
    let mut docs = Docs {
        start: vec![0],
        row: Vec::new(),
        value: Vec::new(),
        sq_norm: Vec::new(),
    };
    for v in &vectors {
        docs.row.extend(v.iter().map(|f| f.0));
        docs.value.extend(v.iter().map(|f| f.1));
        docs.start.push(docs.row.len());
        docs.sq_norm
            .push(v.iter().map(|f| (f.1 as f64).powi(2)).sum::<f64>() + 1.0);
    }
    docs
}
