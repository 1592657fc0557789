//! The pipeline end to end: robustness on any input, source round trips, live writes, and the
//! import → build → eval path on a slice of CLINC150.

use std::path::Path;

use jessy_engine::build::{self, import, BuildOptions};
use jessy_engine::registry::{self, Keyword, LayerSource};
use jessy_engine::{dataset, eval, Engine, Outcome, QueryOptions};
use proptest::prelude::*;

fn default_engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::default_in_memory().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_string_is_a_result_or_a_typed_error(text in "\\PC{0,200}|[\\x00-\\x1f ]{0,20}|\\w{0,12}( \\w{0,12}){0,30}") {
        let _ = default_engine().query(&text, &QueryOptions::default());
    }

    #[test]
    fn any_options_are_respected(iterations in 1u32..=9, budget in 0u32..5000) {
        let options = QueryOptions { max_iterations: iterations, token_budget: budget, include_content: true };
        let result = default_engine().query("I keep putting off my work and feel guilty", &options).unwrap();
        prop_assert!(result.convergence.iterations <= iterations);
        prop_assert!(result.context.tokens <= budget);
    }
}

#[test]
fn oversized_and_empty_queries_are_typed_errors() {
    let engine = default_engine();
    assert!(engine.query("   \t\n ", &QueryOptions::default()).is_err());
    assert!(engine
        .query(&"word ".repeat(2_001), &QueryOptions::default())
        .is_err());
}

#[test]
fn source_round_trips_through_a_snapshot() {
    let source = registry::default_source().unwrap();
    let bytes = build::build_bytes(&source, &BuildOptions::default(), 1).unwrap();
    let engine = Engine::from_bytes(&bytes).unwrap();
    let back = engine.registry().to_source();
    assert_eq!(back.name, source.name);
    assert_eq!(back.out_of_scope, source.out_of_scope);
    assert_eq!(back.dimensions.len(), source.dimensions.len());
    for (a, b) in source.dimensions.iter().zip(&back.dimensions) {
        assert_eq!(
            (&a.id, &a.name, &a.description, a.frequency),
            (&b.id, &b.name, &b.description, b.frequency)
        );
        let mut la = a.layers.clone();
        let mut lb = b.layers.clone();
        la.sort_by(|x, y| x.id.cmp(&y.id));
        lb.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(la, lb, "dimension {}", a.id);
    }
}

#[test]
fn a_written_layer_is_routable_by_the_next_query_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_or_init_default(dir.path()).unwrap();
    let before = engine.stats().generation;
    let layer = LayerSource {
        id: "sourdough".into(),
        name: "Sourdough baking".into(),
        parent: None,
        frequency: 2.0,
        keywords: vec![
            Keyword::Plain("sourdough".into()),
            Keyword::Plain("starter".into()),
            Keyword::Plain("levain".into()),
        ],
        examples: vec![
            "my sourdough starter smells like acetone".into(),
            "how often should I feed my levain".into(),
        ],
        content: "Ask about hydration and feeding schedule before suggesting fixes.".into(),
    };
    let written = engine.upsert_layer("creative", layer.clone()).unwrap();
    assert!(written.generation > before && written.created);
    let replaced = engine.upsert_layer("creative", layer).unwrap();
    assert!(replaced.generation > written.generation && !replaced.created);
    let generation = replaced.generation;
    let result = engine
        .query(
            "why is my sourdough starter not rising",
            &QueryOptions::default(),
        )
        .unwrap();
    assert_eq!(result.outcome, Outcome::Matched);
    assert_eq!(result.dimensions[0].layers.last().unwrap().id, "sourdough");
    drop(engine);

    let reopened = Engine::open(dir.path()).unwrap();
    assert_eq!(reopened.stats().generation, generation);
    assert!(reopened.registry().layer("creative", "sourdough").is_some());
    reopened.delete_layer("creative", "sourdough").unwrap();
    assert!(reopened.registry().layer("creative", "sourdough").is_none());
    assert!(reopened.delete_layer("creative", "sourdough").is_err());
    let bad = LayerSource {
        frequency: 9.0,
        ..LayerSource {
            id: "x".into(),
            name: "X".into(),
            parent: Some("nope".into()),
            frequency: 1.0,
            keywords: vec![],
            examples: vec![],
            content: String::new(),
        }
    };
    let err = reopened
        .upsert_layer("creative", bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown parent") && err.contains("outside") && err.contains("keyword"),
        "{err}"
    );
}

/// The vendored CLINC150 slice (`tests/data/clinc150-slice`, see its README).
fn clinc_slice(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/clinc150-slice")
        .join(file)
}

/// Imports the CLINC150 slice's training lines into `dir/src` and builds `dir/snap` calibrated
/// on its validation lines; returns the imported source and the snapshot directory.
fn import_and_build_slice(dir: &Path) -> (registry::RegistrySource, std::path::PathBuf) {
    let (src, snap) = (dir.join("src"), dir.join("snap"));
    let source = import::import_file(&clinc_slice("train.jsonl"), &src).unwrap();
    let read = registry::RegistrySource::read_dir(&src).unwrap();
    let options = BuildOptions::calibrate_on(&clinc_slice("val.jsonl")).unwrap();
    build::build_dir(&read, &snap, &options).unwrap();
    (source, snap)
}

#[test]
fn import_build_eval_on_a_clinc150_slice() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, snap) = import_and_build_slice(tmp.path());
    let (train, src, test) = (
        clinc_slice("train.jsonl"),
        tmp.path().join("src"),
        clinc_slice("test.jsonl"),
    );
    assert_eq!(source.dimensions.len(), 10);
    assert_eq!(
        source
            .dimensions
            .iter()
            .map(|d| d.layers.len())
            .sum::<usize>(),
        150
    );
    let engine = Engine::open(&snap).unwrap();
    let examples = dataset::read_jsonl(&test).unwrap();
    let report = eval::evaluate(&engine, &examples, |_| {});
    assert_eq!(report.examples, examples.len());
    assert_eq!(report.in_scope + report.out_of_scope, report.examples);
    assert_eq!(report.out_of_scope, 100);
    for v in [
        report.in_scope_accuracy,
        report.top3_accuracy,
        report.dimension_accuracy,
        report.oos_recall,
        report.oos_precision,
    ] {
        assert!((0.0..=1.0).contains(&v));
    }
    assert!(report.top3_accuracy >= report.in_scope_accuracy);
    assert!(report.dimension_accuracy >= report.in_scope_accuracy);
    // Sanity, far below the full-data bar: 20 examples per intent still route most lines.
    assert!(report.in_scope_accuracy > 0.6, "{report:?}");
    assert!(report.oos_recall > 0.1, "{report:?}");
    assert!(report.p50_us > 0.0 && report.p99_us >= report.p50_us);
    // Import refuses to write into a non-empty directory and leaves it untouched.
    assert!(import::import_file(&train, &src).is_err());
}

/// A registry with no out-of-scope examples and no validation file: a one-vs-rest model
/// alone would route keyboard mash to whichever layer its character n-grams lean to. The
/// evidence floor makes such queries `no_match` in every registry.
#[test]
fn without_out_of_scope_data_nonsense_is_still_no_match() {
    let layer = |id: &str, words: &[&str], examples: &[&str]| LayerSource {
        id: id.into(),
        name: id.into(),
        parent: None,
        frequency: 1.0,
        keywords: words
            .iter()
            .map(|w| Keyword::Plain(w.to_string()))
            .collect(),
        examples: examples.iter().map(|e| e.to_string()).collect(),
        content: format!("About {id}."),
    };
    let dimension = |id: &str, layers: Vec<LayerSource>| registry::DimensionSource {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        frequency: [0.5, 2.0],
        file: format!("dimensions/{id}.toml").into(),
        layers,
    };
    let source = registry::RegistrySource {
        name: "tiny".into(),
        description: String::new(),
        out_of_scope: vec![],
        encoder: None,
        dimensions: vec![
            dimension(
                "cooking",
                vec![layer(
                    "baking",
                    &["bread", "oven", "dough"],
                    &["how long do i bake bread", "my dough will not rise"],
                )],
            ),
            dimension(
                "travel",
                vec![layer(
                    "flights",
                    &["flight", "airport", "luggage"],
                    &[
                        "my flight got cancelled",
                        "how early should i get to the airport",
                    ],
                )],
            ),
        ],
    };
    let bytes = build::build_bytes(&source, &BuildOptions::default(), 1).unwrap();
    let engine = Engine::from_bytes(&bytes).unwrap();
    let options = QueryOptions::default();
    for nonsense in ["qwzx vbnm plokij", "the", "12345", "und oder aber", "🙂🙂"] {
        let result = engine.query(nonsense, &options).unwrap();
        assert_eq!(result.outcome, Outcome::NoMatch, "{nonsense:?}");
        assert!(result.dimensions.is_empty() && result.context.text.is_empty());
        assert!(result.no_match_reason.is_some());
    }
    let result = engine
        .query("my bread dough is too sticky", &options)
        .unwrap();
    assert_eq!(result.outcome, Outcome::Matched);
    assert_eq!(result.dimensions[0].id, "cooking");
    // Blank text is not a query at all: a typed error, not a no-match.
    assert!(engine.query(" \t\u{200b} ", &options).is_err());
}

/// A write to a calibrated registry rebuilds from everything the original build used: the
/// validation lines it calibrated on and then trained on are stored in the snapshot, and the
/// threshold is chosen again for the new model. Before they were stored, one write silently
/// dropped them from training and kept a threshold chosen for another model.
#[test]
fn a_write_to_a_calibrated_registry_keeps_its_calibration_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, snap) = import_and_build_slice(tmp.path());
    let (val, test) = (clinc_slice("val.jsonl"), clinc_slice("test.jsonl"));
    let engine = Engine::open(&snap).unwrap();
    let stored = engine.registry().validation_lines().len();
    assert_eq!(stored, dataset::read_jsonl(&val).unwrap().len());
    let examples = dataset::read_jsonl(&test).unwrap();
    let before = eval::evaluate(&engine, &examples, |_| {});

    let dimension = source.dimensions[0].id.clone();
    let t0 = engine.registry().calibration().threshold;
    // Rewriting a layer as it is rebuilds the same registry: same threshold.
    let same = engine.registry().to_source().dimensions[0].layers[0].clone();
    engine.upsert_layer(&dimension, same).unwrap();
    assert_eq!(engine.registry().calibration().threshold, t0);
    let layer = LayerSource {
        id: "sourdough".into(),
        name: "Sourdough baking".into(),
        parent: None,
        frequency: 1.0,
        keywords: vec![Keyword::Plain("sourdough".into())],
        examples: vec!["my sourdough starter smells like acetone".into()],
        content: "Ask about hydration and feeding before suggesting fixes.".into(),
    };
    engine.upsert_layer(&dimension, layer).unwrap();
    let registry = engine.registry();
    assert_eq!(registry.validation_lines().len(), stored);
    assert!(registry.calibration().calibrated);
    let after = eval::evaluate(&engine, &examples, |_| {});
    assert!(
        (after.in_scope_accuracy - before.in_scope_accuracy).abs() <= 0.005,
        "in-scope accuracy {} → {}",
        before.in_scope_accuracy,
        after.in_scope_accuracy
    );
    assert!(
        (after.oos_recall - before.oos_recall).abs() <= 0.005,
        "OOS recall {} → {}",
        before.oos_recall,
        after.oos_recall
    );
    // Deleting a layer that validation lines name drops those lines, not the write.
    let named = registry
        .validation_lines()
        .find_map(|(_, ids)| ids)
        .map(|(d, l)| (d.to_string(), l.to_string()))
        .unwrap();
    let dropped = registry
        .validation_lines()
        .filter(|(_, ids)| *ids == Some((named.0.as_str(), named.1.as_str())))
        .count();
    engine.delete_layer(&named.0, &named.1).unwrap();
    assert_eq!(engine.registry().validation_lines().len(), stored - dropped);
}
