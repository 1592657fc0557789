//! Learning from usage, simulated on the vendored CLINC150 slice: build from a quarter of the
//! training lines, feed the rest back as feedback, learn, and check what was published.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jessy_engine::build::import::{slugify, source_from_examples};
use jessy_engine::build::{self, BuildOptions};
use jessy_engine::dataset::{self, LabeledExample};
use jessy_engine::usage::{FeedbackItem, FeedbackTarget, MAX_FEEDBACK_BATCH};
use jessy_engine::{eval, Engine, QueryOptions};

fn slice(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/clinc150-slice")
        .join(file)
}

/// The first `keep` lines of every layer (and of the out-of-scope lines) build the registry;
/// the rest come back as feedback.
fn split(lines: &[LabeledExample], keep: usize) -> (Vec<LabeledExample>, Vec<LabeledExample>) {
    let mut seen: HashMap<Option<String>, usize> = HashMap::new();
    let (mut initial, mut rest) = (Vec::new(), Vec::new());
    for ex in lines {
        let n = seen.entry(ex.layer.clone()).or_insert(0);
        *n += 1;
        if *n <= keep {
            initial.push(ex.clone());
        } else {
            rest.push(ex.clone());
        }
    }
    (initial, rest)
}

/// `dimension/layer` ids for a labelled line, as `jessy import` names them.
fn layer_ref(ex: &LabeledExample) -> Option<String> {
    Some(format!(
        "{}/{}",
        slugify(ex.dimension.as_deref()?),
        slugify(ex.layer.as_deref()?)
    ))
}

fn build_initial(dir: &Path, initial: &[LabeledExample]) -> Engine {
    let source = source_from_examples(initial, Path::new("slice.jsonl")).unwrap();
    let options = BuildOptions::calibrate_on(&slice("val.jsonl")).unwrap();
    build::build_dir(&source, dir, &options).unwrap();
    Engine::open(dir).unwrap()
}

fn test_accuracy(engine: &Engine) -> (f64, f64) {
    let test = dataset::read_jsonl(&slice("test.jsonl")).unwrap();
    let r = eval::evaluate(engine, &test, |_| {});
    (r.in_scope_accuracy, r.oos_recall)
}

fn send(engine: &Engine, items: Vec<FeedbackItem>) {
    for batch in items.chunks(MAX_FEEDBACK_BATCH) {
        engine.record_feedback(batch).unwrap();
    }
}

fn feedback(lines: &[LabeledExample]) -> Vec<FeedbackItem> {
    lines
        .iter()
        .map(|ex| FeedbackItem {
            target: FeedbackTarget::Text(ex.text.clone()),
            layer: layer_ref(ex),
        })
        .collect()
}

fn train_lines() -> Vec<LabeledExample> {
    dataset::read_jsonl(&slice("train.jsonl")).unwrap()
}

#[test]
fn feedback_from_usage_raises_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let (initial, rest) = split(&train_lines(), 5);
    let engine = build_initial(tmp.path(), &initial);
    let (before, _) = test_accuracy(&engine);
    send(&engine, feedback(&rest));
    let report = engine.learn().unwrap();
    assert!(report.published, "{report:#?}");
    assert_eq!(report.generation, 2);
    assert!(
        report.texts_trained > 2000 && report.held_out > 150,
        "{report:#?}"
    );
    let (after, oos_after) = test_accuracy(&engine);
    assert!(
        after > before + 0.05,
        "test accuracy {before:.3} → {after:.3}"
    );
    assert!(oos_after > 0.1, "OOS recall {oos_after:.3}");
    // Learning again with nothing new changes nothing.
    let again = engine.learn().unwrap();
    assert!(!again.published, "{again:#?}");
    assert_eq!(again.texts_trained, 0);
    // The learned registry reopens at the new generation with the feedback still logged.
    drop(engine);
    let reopened = Engine::open(tmp.path()).unwrap();
    assert_eq!(reopened.registry().generation(), 2);
    assert_eq!(reopened.feedback_records().unwrap().len(), rest.len());
}

/// A deterministic wrong layer for a line: the layer `shift` places further in the list.
fn mislabel(lines: &mut [LabeledExample], every: usize) {
    let layers: Vec<(Option<String>, Option<String>)> = {
        let mut v: Vec<_> = lines
            .iter()
            .filter(|e| e.layer.is_some())
            .map(|e| (e.dimension.clone(), e.layer.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for (i, ex) in lines.iter_mut().enumerate() {
        if ex.layer.is_some() && i % every == 0 {
            let at = layers
                .iter()
                .position(|l| l.1 == ex.layer && l.0 == ex.dimension)
                .unwrap();
            let wrong = &layers[(at + 37) % layers.len()];
            ex.dimension = wrong.0.clone();
            ex.layer = wrong.1.clone();
        }
    }
}

#[test]
fn ten_percent_wrong_labels_do_not_publish_a_worse_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (initial, mut rest) = split(&train_lines(), 5);
    mislabel(&mut rest, 10);
    let engine = build_initial(tmp.path(), &initial);
    let (before, _) = test_accuracy(&engine);
    send(&engine, feedback(&rest));
    let report = engine.learn().unwrap();
    let (after, _) = test_accuracy(&engine);
    if report.published {
        assert!(
            after >= before,
            "published a worse model: {before:.3} → {after:.3}"
        );
    } else {
        assert_eq!(after, before, "kept serving the old generation");
    }
}

#[test]
fn the_guard_refuses_a_candidate_trained_on_wrong_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let (initial, mut rest) = split(&train_lines(), 10);
    mislabel(&mut rest, 1);
    let engine = build_initial(tmp.path(), &initial);
    let generation = engine.registry().generation();
    let (before, _) = test_accuracy(&engine);
    send(&engine, feedback(&rest));
    let report = engine.learn().unwrap();
    assert!(!report.published, "{report:#?}");
    assert!(report.reason.starts_with("refused"), "{}", report.reason);
    assert!(report.after.in_scope_accuracy < report.before.in_scope_accuracy);
    assert_eq!(engine.registry().generation(), generation);
    assert_eq!(test_accuracy(&engine).0, before);
}

#[test]
fn query_ids_name_recent_queries_and_bad_feedback_is_refused_whole() {
    use jessy_engine::usage::FeedbackError;
    let tmp = tempfile::tempdir().unwrap();
    let (initial, _) = split(&train_lines(), 5);
    let engine = build_initial(tmp.path(), &initial);
    let result = engine
        .query("how do i say hello in french", &QueryOptions::default())
        .unwrap();
    assert!(!result.query_id.is_empty());
    let by_id = FeedbackItem {
        target: FeedbackTarget::QueryId(result.query_id.clone()),
        layer: Some("travel/translate".into()),
    };
    let unknown_layer = FeedbackItem {
        target: FeedbackTarget::Text("x".into()),
        layer: Some("travel/nope".into()),
    };
    match engine.record_feedback(&[by_id.clone(), unknown_layer]) {
        Err(FeedbackError::UnknownLayer { index: 1, layer }) => assert_eq!(layer, "travel/nope"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        engine.feedback_records().unwrap().len(),
        0,
        "nothing of a refused batch"
    );
    let expired = FeedbackItem {
        target: FeedbackTarget::QueryId("00000000-000000000001".into()),
        layer: None,
    };
    assert!(matches!(
        engine.record_feedback(&[expired]),
        Err(FeedbackError::UnknownQueryId { index: 0, .. })
    ));
    assert_eq!(engine.record_feedback(&[by_id]).unwrap(), 1);
    let records = engine.feedback_records().unwrap();
    assert_eq!(records[0].text, "how do i say hello in french");
    assert_eq!(
        records[0].query_id.as_deref(),
        Some(result.query_id.as_str())
    );
}

#[test]
fn unrouted_queries_become_a_suggested_layer_that_routes_once_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let (initial, _) = split(&train_lines(), 5);
    let engine = build_initial(tmp.path(), &initial);
    // Words the slice never uses, so these route nowhere.
    let asked = [
        "snowboard wax",
        "wax snowboard edges",
        "snowboard edges wax",
        "snowboard base ptex",
    ];
    let options = QueryOptions::default();
    let mut unrouted = 0;
    for q in asked {
        let r = engine.query(q, &options).unwrap();
        unrouted += usize::from(r.outcome == jessy_engine::Outcome::NoMatch);
    }
    assert!(
        unrouted >= 3,
        "the slice has no snowboard layer: {unrouted} no_match"
    );
    let suggestions = engine.suggestions();
    let s = suggestions
        .iter()
        .find(|s| s.members.iter().any(|m| m.contains("snowboard")))
        .unwrap_or_else(|| panic!("{suggestions:#?}"));
    assert!(s.members.len() >= 2);
    let dimension = engine
        .registry()
        .dimensions()
        .next()
        .unwrap()
        .id()
        .to_string();
    let upserted = engine
        .accept_suggestion(&s.id, &dimension, "snowboard_care", "Snowboard care")
        .unwrap();
    assert!(upserted.created);
    let r = engine.query("wax for my snowboard", &options).unwrap();
    assert_eq!(
        r.top_layers[0].layer, "snowboard_care",
        "{:?}",
        r.top_layers
    );
    assert!(
        engine.suggestions().iter().all(|x| x.id != s.id),
        "accepted ones leave the inbox"
    );
    engine.save_inbox().unwrap();
}
