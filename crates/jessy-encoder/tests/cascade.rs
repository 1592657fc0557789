//! The semantic cascade end to end with the real encoder on the vendored CLINC150 slice:
//! build with the encoder (head trained, settings chosen on the slice's validation lines),
//! reopen, query, evaluate against the same snapshot without the encoder, rebuild from the
//! embedding cache, and refuse a different encoder.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jessy_engine::build::{self, import, BuildOptions, SemanticBuild};
use jessy_engine::semantic::cache::EMBEDDING_CACHE_FILE;
use jessy_engine::semantic::{AnswerPath, EncodeError, Encoder, EncoderId};
use jessy_engine::{dataset, eval, registry, Engine, EngineError, QueryOptions};

fn slice(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../jessy-engine/tests/data/clinc150-slice")
        .join(file)
}

/// An encoder that claims another identity: the engine must refuse it for this snapshot.
struct Impostor(EncoderId);

impl Encoder for Impostor {
    fn identity(&self) -> &EncoderId {
        &self.0
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncodeError> {
        Ok(texts
            .iter()
            .map(|_| vec![0.0; self.0.dim as usize])
            .collect())
    }
}

#[test]
fn the_cascade_on_the_clinc150_slice() {
    let encoder: Arc<dyn Encoder> = Arc::new(common::encoder());
    let tmp = tempfile::tempdir().unwrap();
    let (src, snap) = (tmp.path().join("src"), tmp.path().join("snap"));
    import::import_file(&slice("train.jsonl"), &src).unwrap();
    let source = registry::RegistrySource::read_dir(&src).unwrap();
    let cache = snap.join(EMBEDDING_CACHE_FILE);

    // A build with the encoder trains a head and chooses the cascade's settings on val.
    let mut options = BuildOptions::calibrate_on(&slice("val.jsonl")).unwrap();
    options.semantic = Some(SemanticBuild::new(encoder.clone(), Some(cache.clone())));
    let compiled = build::build_dir(&source, &snap, &options).unwrap();
    let head = compiled.semantic_head().expect("a semantic head").clone();
    assert_eq!(head.encoder, *encoder.identity());
    let p = head.params;
    assert!(p.val_rate > 0.0 && p.val_rate <= 0.3, "{p:?}");
    // The cap holds for each group of validation lines, so for any mix of them.
    let groups = p.group_rates.expect("per-group rates");
    assert!(
        groups.in_scope <= 0.3 && groups.out_of_scope <= 0.3,
        "{p:?}"
    );
    assert!(p.blend > 0.0, "the head takes part in the blend: {p:?}");
    assert!(cache.exists(), "embeddings cached beside the snapshot");

    // The head is in the snapshot; without an encoder everything is lexical, as before.
    let lexical = Engine::open_read_only(&snap).unwrap();
    assert_eq!(lexical.registry().semantic_head(), Some(&head));
    assert!(!lexical.has_cascade());
    let q = QueryOptions::default();
    assert!(lexical
        .query("what's my balance", &q)
        .unwrap()
        .cascade
        .is_none());

    let engine = Engine::open_read_only(&snap)
        .unwrap()
        .with_encoder(encoder.clone())
        .unwrap();
    assert!(engine.has_cascade());
    let test = dataset::read_jsonl(&slice("test.jsonl")).unwrap();
    let with = eval::evaluate(&engine, &test, |_| {});
    let without = eval::evaluate(&lexical, &test, |_| {});
    let (lex, sem) = (with.lexical_path.unwrap(), with.semantic_path.unwrap());
    assert_eq!(lex.lines + sem.lines, test.len());
    assert!(
        with.escalation_rate > 0.05 && with.escalation_rate < 0.45,
        "escalation rate {}",
        with.escalation_rate
    );
    // The cascade answers the uncertain lines better than the lexical path alone did: over
    // the whole test slice it must not lose in-scope accuracy or out-of-scope recall together.
    let score = |r: &eval::EvalReport| r.in_scope_accuracy + r.oos_recall;
    assert!(
        score(&with) > score(&without),
        "cascade {:.4}/{:.4} vs lexical {:.4}/{:.4}",
        with.in_scope_accuracy,
        with.oos_recall,
        without.in_scope_accuracy,
        without.oos_recall
    );
    assert!(without.lexical_path.is_none() && without.escalation_rate == 0.0);

    // A query the lexical path has no word for is escalated, and the trace says so.
    let r = engine
        .query("I'm skint, can I see what's left in my account", &q)
        .unwrap();
    let trace = r.cascade.expect("cascade trace");
    assert!(trace.error.is_none());
    if trace.path == AnswerPath::Semantic {
        assert!(trace.encoder_us > 0.0 && r.timings_us.encoder == trace.encoder_us);
        // The caches were re-warmed after the encoder, inside the query's total.
        assert!(trace.rewarm_us > 0.0 && r.timings_us.total > trace.encoder_us + trace.rewarm_us);
    }
    // query_fast answers the sure queries and defers the others.
    let mut deferred = 0;
    for ex in test.iter().take(100) {
        match engine.query_fast(&ex.text, &q).unwrap() {
            jessy_engine::FastQuery::Answered(r) => {
                assert_eq!(r.cascade.unwrap().path, AnswerPath::Lexical)
            }
            jessy_engine::FastQuery::NeedsEncoder => deferred += 1,
        }
    }
    assert!(deferred > 0 && deferred < 60, "{deferred} of 100 deferred");

    // Another encoder is refused for this snapshot.
    let impostor = Arc::new(Impostor(EncoderId {
        digest: [9; 32],
        dim: 384,
        name: "impostor".into(),
    }));
    assert!(matches!(
        Engine::open_read_only(&snap)
            .unwrap()
            .with_encoder(impostor),
        Err(EngineError::EncoderMismatch { .. })
    ));

    // A rebuild with one more example encodes only that line: the cache grows by one.
    let before = jessy_engine::semantic::EmbeddingCache::load(&cache, encoder.identity()).len();
    assert!(before > 3000, "{before} cached lines");
    let mut more = source.clone();
    more.dimensions[0].layers[0]
        .examples
        .push("a brand new example line for the first layer".into());
    let rebuilt = build::compile(&more, &options).unwrap();
    assert!(rebuilt.semantic_head().is_some());
    let after = jessy_engine::semantic::EmbeddingCache::load(&cache, encoder.identity()).len();
    assert_eq!(after, before + 1);
}
