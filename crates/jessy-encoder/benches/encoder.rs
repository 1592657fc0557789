//! The sentence encoder's cost and what it does to a query: one short query encoded, and a
//! cascade query answered on the fast (lexical) path against one escalated to the encoder.
//!
//! `bash scripts/fetch-encoder.sh && cargo bench -p jessy-encoder --bench encoder`
//!
//! The cascade snapshot is built once at start on the vendored CLINC150 slice (settings chosen
//! on its validation lines, as `jessy build --encoder` does); its embeddings are cached under
//! the target directory, so only the first run pays for encoding the slice.

#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use jessy_encoder::SentenceEncoder;
use jessy_engine::build::{self, import, BuildOptions, SemanticBuild};
use jessy_engine::semantic::Encoder;
use jessy_engine::{dataset, registry, Engine, FastQuery, QueryOptions};

fn model_dir() -> PathBuf {
    match std::env::var_os("JESSY_TEST_ENCODER") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/all-MiniLM-L6-v2"),
    }
}

fn slice(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../jessy-engine/tests/data/clinc150-slice")
        .join(file)
}

/// The slice's snapshot with a semantic head, the engine with the encoder attached, and the
/// temporary directory holding it (kept alive by the caller).
fn cascade_engine(encoder: Arc<dyn Encoder>) -> (Engine, tempfile::TempDir) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let (src, snap) = (tmp.path().join("src"), tmp.path().join("snap"));
    import::import_file(&slice("train.jsonl"), &src).expect("importing the slice");
    let source = registry::RegistrySource::read_dir(&src).expect("reading the slice");
    let mut options = BuildOptions::calibrate_on(&slice("val.jsonl")).expect("val.jsonl");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-encoder-embeddings.cache");
    options.semantic = Some(SemanticBuild::new(encoder.clone(), Some(cache)));
    build::build_dir(&source, &snap, &options).expect("building the cascade snapshot");
    let engine = Engine::open_read_only(&snap)
        .expect("opening the snapshot")
        .with_encoder(encoder)
        .expect("attaching the encoder");
    (engine, tmp)
}

fn bench(c: &mut Criterion) {
    let dir = model_dir();
    let encoder = SentenceEncoder::load(&dir).unwrap_or_else(|e| {
        panic!(
            "the sentence encoder at {} does not load ({e}): run `bash scripts/fetch-encoder.sh`",
            dir.display()
        )
    });
    let encoder: Arc<dyn Encoder> = Arc::new(encoder);

    let query = "how much money is left in my checking account";
    c.bench_function("encode one short query", |b| {
        b.iter(|| encoder.embed(&[std::hint::black_box(query)]).unwrap())
    });

    let (engine, _tmp) = cascade_engine(encoder.clone());
    let options = QueryOptions::default();
    // The first test line the lexical path is sure of, and the first it escalates.
    let test = dataset::read_jsonl(&slice("test.jsonl")).expect("test.jsonl");
    let fast = test
        .iter()
        .find(|l| {
            matches!(
                engine.query_fast(&l.text, &options),
                Ok(FastQuery::Answered(_))
            )
        })
        .expect("a line on the fast path");
    let escalated = test
        .iter()
        .find(|l| {
            matches!(
                engine.query_fast(&l.text, &options),
                Ok(FastQuery::NeedsEncoder)
            )
        })
        .expect("an escalated line");
    let mut group = c.benchmark_group("cascade query");
    group.bench_function("fast path", |b| {
        b.iter(|| {
            engine
                .query(std::hint::black_box(&fast.text), &options)
                .unwrap()
        })
    });
    group.bench_function("escalated", |b| {
        b.iter(|| {
            engine
                .query(std::hint::black_box(&escalated.text), &options)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
