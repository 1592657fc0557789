//! Dev harness for the learned model on an intent data set in the CLINC150 layout.
//!
//! Reads `{train,val,test}.jsonl` (lines `{"text": .., "dimension": .., "layer": ..}`, `layer`
//! null = out of scope), trains on train, calibrates the no-match rule on val (never on test),
//! evaluates on test and prints in-scope accuracy (no match counts as wrong), out-of-scope
//! recall, training time, model size and per-query latency (parse + featurize + score,
//! single-threaded).
//!
//! ```text
//! cargo run --release -p jessy-engine --example clinc_model -- [DIR] [--c 16] [--loss log|hinge]
//!     [--oos extra|neg] [--prune 0.01] [--epochs 50] [--tol 0.05] [--criterion acc|bal]
//!     [--pairs 5] [--chars 3-4]
//! ```
//! DIR defaults to `../shared/datasets/clinc150` relative to the workspace root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use jessy_engine::model::calibrate::{calibrate_with, top_score, Criterion};
use jessy_engine::model::train::{densify, prune, train_detailed, DENSE_MIN_FILL};
use jessy_engine::model::{Calibration, Example, Loss, Model, ModelView, OutOfScope, TrainConfig};
use jessy_engine::parser::ParsedQuery;

type Lines = Vec<(String, Option<String>)>;

fn read(path: &Path) -> Lines {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let text = v["text"].as_str().unwrap_or_default().to_string();
            let layer = v["layer"]
                .as_str()
                .map(|layer| match v["dimension"].as_str() {
                    Some(d) => format!("{d}/{layer}"),
                    None => layer.to_string(),
                });
            (text, layer)
        })
        .collect()
}

fn label(classes: &[String], layer: &Option<String>) -> Option<u32> {
    layer.as_ref().map(|l| {
        classes
            .binary_search(l)
            .map(|i| i as u32)
            .unwrap_or(u32::MAX)
    })
}

fn as_refs(v: &[(String, Option<u32>)]) -> Vec<(&str, Option<u32>)> {
    v.iter().map(|(t, l)| (t.as_str(), *l)).collect()
}

struct Eval {
    in_scope_accuracy: f64,
    oos_recall: f64,
    raw_accuracy: f64,
}

fn evaluate(view: &ModelView<'_>, cal: &Calibration, lines: &[(&str, Option<u32>)]) -> Eval {
    let (mut q, mut keys, mut feats, mut logits) =
        (ParsedQuery::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut n_in, mut n_out, mut correct, mut raw, mut rejected) = (0, 0, 0, 0, 0);
    for &(text, label) in lines {
        let s = top_score(view, text, &mut q, &mut keys, &mut feats, &mut logits);
        let accepted = s.class.is_some() && cal.accepts(s.decision);
        match label {
            Some(l) => {
                n_in += 1;
                raw += usize::from(s.class == Some(l));
                correct += usize::from(accepted && s.class == Some(l));
            }
            None => {
                n_out += 1;
                rejected += usize::from(!accepted);
            }
        }
    }
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    Eval {
        in_scope_accuracy: ratio(correct, n_in),
        oos_recall: ratio(rejected, n_out),
        raw_accuracy: ratio(raw, n_in),
    }
}

fn main() {
    let mut dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets/clinc150"
    ));
    let mut config = TrainConfig::default();
    let mut criterion = Criterion::Accuracy;
    let mut sweep: Vec<f32> = Vec::new();
    let mut dump: Option<PathBuf> = None;
    let mut with_val = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--c" => config.c = val().parse().expect("--c"),
            "--loss" => {
                config.loss = if val() == "hinge" {
                    Loss::SquaredHinge
                } else {
                    Loss::Logistic
                }
            }
            "--oos" => {
                config.out_of_scope = if val() == "neg" {
                    OutOfScope::Negatives
                } else {
                    OutOfScope::ExtraClass
                }
            }
            "--posw" => config.positive_weight = val().parse().expect("--posw"),
            "--prune" => config.prune = val().parse().expect("--prune"),
            "--epochs" => config.max_epochs = val().parse().expect("--epochs"),
            "--tol" => config.tolerance = val().parse().expect("--tol"),
            "--pairs" => config.features.pair_window = val().parse().expect("--pairs"),
            "--chars" => {
                let v = val();
                let (lo, hi) = v.split_once('-').expect("--chars LO-HI");
                config.features.char_min = lo.parse().expect("--chars");
                config.features.char_max = hi.parse().expect("--chars");
            }
            "--train-with-val" => with_val = true,
            "--dump" => dump = Some(PathBuf::from(val())),
            "--sweep" => {
                sweep = val()
                    .split(',')
                    .map(|x| x.parse().expect("--sweep"))
                    .collect()
            }
            "--criterion" => {
                criterion = if val() == "bal" {
                    Criterion::Balanced
                } else {
                    Criterion::Accuracy
                }
            }
            _ if !a.starts_with("--") => dir = PathBuf::from(a),
            _ => panic!("unknown option {a}"),
        }
    }
    let train_lines = read(&dir.join("train.jsonl"));
    let val_lines = read(&dir.join("val.jsonl"));
    let test_lines = read(&dir.join("test.jsonl"));
    let classes: Vec<String> = train_lines
        .iter()
        .filter_map(|l| l.1.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let labeled = |lines: &Lines| -> Vec<(String, Option<u32>)> {
        lines
            .iter()
            .map(|(t, l)| (t.clone(), label(&classes, l)))
            .collect()
    };
    let (train_set, val_set, test_set) = (
        labeled(&train_lines),
        labeled(&val_lines),
        labeled(&test_lines),
    );
    let extra: &[(String, Option<u32>)] = if with_val { &val_set } else { &[] };
    let examples: Vec<Example<'_>> = train_set
        .iter()
        .chain(extra)
        .map(|(t, l)| Example {
            text: t,
            label: *l,
            weight: 1.0,
        })
        .collect();
    println!(
        "data: {} classes, train {} ({} oos), val {}, test {} ({} oos)",
        classes.len(),
        train_set.len(),
        train_set.iter().filter(|l| l.1.is_none()).count(),
        val_set.len(),
        test_set.len(),
        test_set.iter().filter(|l| l.1.is_none()).count()
    );
    println!("config: {config:?}, criterion {criterion:?}");

    let started = Instant::now();
    let (sparse, stats) =
        train_detailed(&examples, classes.len() as u32, &config).expect("training");
    // What the engine serves: frequent rows dense (as `model::train` leaves them).
    let mut model = sparse.clone();
    densify(&mut model, DENSE_MIN_FILL);
    let train_secs = started.elapsed().as_secs_f64();
    let epochs = &stats.epochs;
    println!(
        "epochs per output: mean {:.1}, max {}",
        epochs.iter().map(|&e| e as f64).sum::<f64>() / epochs.len() as f64,
        epochs.iter().max().copied().unwrap_or(0)
    );
    let view = model.view();
    view.validate().expect("trained model is valid");
    println!(
        "model: {} features, {} postings ({:.1} per feature), {} outputs, {} bytes ({:.1} MiB); training {:.2} s",
        model.keys.len(),
        model.post_class.len(),
        model.post_class.len() as f64 / model.keys.len().max(1) as f64,
        model.bias.len(),
        model.size_bytes(),
        model.size_bytes() as f64 / (1 << 20) as f64,
        train_secs
    );

    let (val_refs, test_refs) = (as_refs(&val_set), as_refs(&test_set));
    if let Some(path) = &dump {
        dump_logits(&view, &val_refs, &test_refs, path);
    }
    let cal = calibrate_with(&view, &val_refs, criterion);
    println!("calibration (on val): {cal:?}");
    for (name, c) in [
        ("calibrated", cal),
        ("uncalibrated default", Calibration::default_uncalibrated()),
    ] {
        let v = evaluate(&view, &c, &val_refs);
        let t = evaluate(&view, &c, &test_refs);
        println!(
            "{name:>20}: val in_scope_accuracy {:.4} oos_recall {:.4} | test in_scope_accuracy {:.4} oos_recall {:.4} (raw top-1 {:.4})",
            v.in_scope_accuracy, v.oos_recall, t.in_scope_accuracy, t.oos_recall, t.raw_accuracy
        );
    }
    let t = evaluate(&view, &cal, &test_refs);
    println!("in_scope_accuracy {:.4}", t.in_scope_accuracy);
    println!("oos_recall {:.4}", t.oos_recall);

    let (p50, p99, max) = latency(&view, &test_refs);
    println!("latency per query (parse+featurize+score): p50 {p50:.2} us, p99 {p99:.2} us, max {max:.2} us");
    println!("training_time_s {train_secs:.2}");
    println!("model_bytes {}", model.size_bytes());

    // Accuracy, size and speed as a function of the pruning level.
    for level in sweep {
        let mut pruned: Model = sparse.clone();
        prune(&mut pruned, &stats.max_value, level);
        densify(&mut pruned, DENSE_MIN_FILL);
        let view = pruned.view();
        if let Some(path) = &dump {
            dump_logits(&view, &val_refs, &test_refs, path);
        }
        let cal = calibrate_with(&view, &val_refs, criterion);
        let t = evaluate(&view, &cal, &test_refs);
        let (p50, p99, _) = latency(&view, &test_refs);
        println!(
            "prune {level}: {} postings, {:.1} MiB, raw {:.4}, in_scope_accuracy {:.4}, oos_recall {:.4}, p50 {p50:.2} us, p99 {p99:.2} us",
            pruned.post_class.len(),
            pruned.size_bytes() as f64 / (1 << 20) as f64,
            t.raw_accuracy,
            t.in_scope_accuracy,
            t.oos_recall
        );
    }
}

/// Writes every val/test line's label and logits as JSON lines, for offline analysis of
/// no-match rules.
fn dump_logits(
    view: &ModelView<'_>,
    val: &[(&str, Option<u32>)],
    test: &[(&str, Option<u32>)],
    path: &Path,
) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("dump file"));
    let (mut q, mut keys, mut feats, mut logits) =
        (ParsedQuery::new(), Vec::new(), Vec::new(), Vec::new());
    for (split, lines) in [("val", val), ("test", test)] {
        for &(text, label) in lines {
            logits.clear();
            if q.parse_into(text).is_ok() {
                view.featurize_into(&q, &mut keys, &mut feats);
                view.score_into(&feats, &mut logits);
            }
            let line = serde_json::json!({"split": split, "label": label, "logits": logits});
            writeln!(out, "{line}").expect("dump write");
        }
    }
}

/// Per-query latency of parse + featurize + score + top pick, single thread, reused buffers:
/// (p50, p99, max) in microseconds over three timed rounds of the test lines.
fn latency(view: &ModelView<'_>, lines: &[(&str, Option<u32>)]) -> (f64, f64, f64) {
    let (mut q, mut keys, mut feats, mut logits) =
        (ParsedQuery::new(), Vec::new(), Vec::new(), Vec::new());
    let mut times = Vec::with_capacity(lines.len() * 3);
    let mut sink = 0f32;
    for round in 0..4 {
        for &(text, _) in lines {
            let t0 = Instant::now();
            let s = top_score(view, text, &mut q, &mut keys, &mut feats, &mut logits);
            let dt = t0.elapsed();
            sink += s.confidence;
            if round > 0 {
                times.push(dt.as_secs_f64() * 1e6);
            }
        }
    }
    std::hint::black_box(sink);
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    (pct(0.5), pct(0.99), times.last().copied().unwrap_or(0.0))
}
