//! The whole pipeline, single thread, in process: the default registry and a generated
//! registry of 10,000 layers (class-centroid model).
//!
//! `cargo bench -p jessy-engine --bench pipeline`

#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use criterion::{criterion_group, criterion_main, Criterion};
use jessy_engine::build::{self, BuildOptions};
use jessy_engine::registry::{DimensionSource, Keyword, LayerSource, RegistrySource};
use jessy_engine::{Engine, QueryOptions};

const QUERIES: &[&str] = &[
    "I'm so anxious about my exam tomorrow",
    "my rust program panics with an index out of bounds error",
    "how do I stop procrastinating on my thesis",
    "someone emailed me asking for my bank password",
    "what is the meaning of life anyway",
    "can you help me write a poem about the ocean",
];

/// A synthetic registry: `dims` dimensions × `per_dim` layers (trees of depth ≤ 3), each layer
/// with a few distinctive and a few shared words, so postings have realistic overlap.
pub fn generated(dims: usize, per_dim: usize) -> RegistrySource {
    let vocab: Vec<String> = (0..5000).map(|i| format!("w{i:04}x")).collect();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut dimensions = Vec::new();
    for d in 0..dims {
        let mut layers = Vec::new();
        for l in 0..per_dim {
            let parent = if l % 4 == 0 {
                None
            } else {
                Some(format!("l{}", l - 1))
            };
            let words: Vec<String> = (0..6)
                .map(|_| vocab[(next() % vocab.len() as u64) as usize].clone())
                .collect();
            layers.push(LayerSource {
                id: format!("l{l}"),
                name: format!("Layer {l}"),
                parent,
                frequency: 0.5 + (d % 8) as f32 * 0.5,
                keywords: words[..3]
                    .iter()
                    .map(|w| Keyword::Plain(w.clone()))
                    .collect(),
                examples: vec![words.join(" "), format!("{} {} please", words[1], words[4])],
                content: format!("Guidance for layer {l} of dimension {d}."),
            });
        }
        dimensions.push(DimensionSource {
            id: format!("d{d}"),
            name: format!("Dimension {d}"),
            description: String::new(),
            frequency: [0.1, 4.5],
            layers,
            file: format!("d{d}.toml").into(),
        });
    }
    RegistrySource {
        name: "generated".into(),
        description: String::new(),
        out_of_scope: vec![],
        encoder: None,
        dimensions,
    }
}

fn bench_engine(c: &mut Criterion, name: &str, engine: &Engine, queries: &[String]) {
    let options = QueryOptions::default();
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            engine.query(&queries[i], &options).unwrap()
        })
    });
}

fn benches(c: &mut Criterion) {
    let default = Engine::default_in_memory().unwrap();
    let everyday: Vec<String> = QUERIES.iter().map(|q| q.to_string()).collect();
    bench_engine(c, "pipeline/default_registry", &default, &everyday);

    let source = generated(100, 100);
    let bytes = build::build_bytes(&source, &BuildOptions::default(), 1).unwrap();
    let big_queries: Vec<String> = source
        .dimensions
        .iter()
        .take(20)
        .map(|d| d.layers[1].examples[0].clone())
        .collect();
    let engine = Engine::from_bytes(&bytes).unwrap();
    bench_engine(c, "pipeline/10k_layers", &engine, &big_queries);
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
