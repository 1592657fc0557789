//! Snapshot open time and zero-copy content access: the embedded default registry and a
//! generated ~1 GiB snapshot.
//!
//! `cargo bench -p jessy-engine --bench storage`
//!
//! Before the timed runs it prints how much *anonymous* memory (RssAnon, /proc/self/status)
//! opening the 1 GiB snapshot adds: content is mapped, not read into the heap, so the growth
//! must stay far below the file size (file-backed pages touched by the CRC pass show up as
//! RssFile, which the kernel can drop at will).

#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use jessy_engine::build::{self, BuildOptions};
use jessy_engine::storage::format::{ModelMeta, ModelSections, NO_PARENT};
use jessy_engine::storage::{writer, DimensionData, LayerData, SnapshotData};
use jessy_engine::{registry, Registry};

/// Layers in the generated snapshot and content bytes per layer (4,096 × 256 KiB = 1 GiB).
const BIG_LAYERS: usize = 4096;
const BIG_CONTENT: usize = 256 * 1024;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn write_big_snapshot(dir: &Path) {
    let content = "jessy guidance text. ".repeat(BIG_CONTENT / 21);
    let ids: Vec<String> = (0..BIG_LAYERS).map(|i| format!("layer-{i}")).collect();
    let layers = ids
        .iter()
        .map(|id| LayerData {
            id,
            name: id,
            content: &content,
            dimension: 0,
            parent: NO_PARENT,
            children: (0, 0),
            depth: 0,
            frequency: 1.0,
            keywords: vec![(id.as_str(), 1.0)],
            learned: vec![],
            examples: vec![],
            expansion: vec![],
            content_tokens: 0,
        })
        .collect();
    let bias = vec![0.0f32; BIG_LAYERS];
    let data = SnapshotData {
        name: "big",
        description: "generated 1 GiB snapshot",
        dimensions: vec![DimensionData {
            id: "big",
            name: "Big",
            description: "",
            frequency: [0.1, 4.5],
            layers: (0, BIG_LAYERS as u32),
        }],
        layers,
        out_of_scope: vec![],
        model: ModelSections {
            row_start: &[0],
            bias: &bias,
            ..ModelSections::default()
        },
        model_meta: ModelMeta {
            num_classes: BIG_LAYERS as u32,
            threshold: 0.5,
            calibrated: false,
            feature_params: build::FeatureConfig::default().to_params(),
        },
        associations: vec![],
        validation: vec![],
        semantic: &[],
        build_flags: 0,
    };
    std::fs::create_dir_all(dir).unwrap();
    let _lock = jessy_engine::storage::publish::lock_writer(dir).unwrap();
    jessy_engine::storage::publish::publish_locked(
        dir,
        |g| writer::encode(&data, g),
        |_, _| Ok(()),
    )
    .unwrap();
}

fn benches(c: &mut Criterion) {
    let default_dir = tempfile::tempdir().unwrap();
    let source = registry::default_source().unwrap();
    build::build_dir(&source, default_dir.path(), &BuildOptions::default()).unwrap();

    let big_dir = tempfile::tempdir().unwrap();
    write_big_snapshot(big_dir.path());
    let anon_before = status_kib("RssAnon:");
    let big = Registry::open(big_dir.path()).unwrap();
    let anon_after = status_kib("RssAnon:");
    let size = big.len_bytes();
    eprintln!(
        "1 GiB snapshot: {} bytes mapped; RssAnon {} KiB -> {} KiB (+{} KiB, {:.4}% of the file)",
        size,
        anon_before,
        anon_after,
        anon_after.saturating_sub(anon_before),
        anon_after.saturating_sub(anon_before) as f64 * 1024.0 / size as f64 * 100.0
    );

    let mut group = c.benchmark_group("open");
    group.sample_size(20);
    group.bench_function("default_registry", |b| {
        b.iter(|| Registry::open(default_dir.path()).unwrap())
    });
    group.bench_function("generated_1gib", |b| {
        b.iter(|| Registry::open(big_dir.path()).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("layer_content");
    let default = Arc::new(Registry::open(default_dir.path()).unwrap());
    let layers: Vec<_> = default.dimensions().flat_map(|d| d.layers()).collect();
    let n = layers.len();
    let mut i = 0;
    group.bench_function("default_registry", |b| {
        b.iter(|| {
            i = (i + 1) % n;
            layers[i].content().len()
        })
    });
    let big_layers: Vec<_> = big.dimensions().flat_map(|d| d.layers()).collect();
    let mut j = 0;
    group.bench_function("generated_1gib", |b| {
        b.iter_batched(
            || {
                j = (j + 7919) % BIG_LAYERS;
                j
            },
            |k| big_layers[k].content().len(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(storage, benches);
criterion_main!(storage);
