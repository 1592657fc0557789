//! Tuning harness for the routing model on a labeled train/val/test triple (CLINC150 by
//! default): trains with settings from the environment, calibrates on val, and prints the
//! report on test plus the raw (threshold-free) accuracy and the accuracy/recall curve.
//!
//! `cargo run --release -p jessy-engine --example clinc_tune -- ../shared/datasets/clinc150`
//! Settings: `EPOCHS`, `LR`, `L2`, `PRUNE` (see `model::TrainParams`).

use std::path::PathBuf;
use std::time::Instant;

use jessy_engine::build::{self, BuildOptions};
use jessy_engine::model::TrainParams;
use jessy_engine::storage::Store;
use jessy_engine::{dataset, eval, import, Engine};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "../shared/datasets/clinc150".into()),
    );
    let d = TrainParams::default();
    let params = TrainParams {
        epochs: env("EPOCHS", d.epochs),
        learning_rate: env("LR", d.learning_rate),
        l2: env("L2", d.l2),
        prune_share: env("PRUNE", d.prune_share),
    };
    let train = dataset::read_jsonl(&dir.join("train.jsonl")).unwrap();
    let source = import::source_from_examples(&train, &dir.join("train.jsonl")).unwrap();
    let mut options = BuildOptions::calibrate_on(&dir.join("val.jsonl")).unwrap();
    options.train = params;
    let started = Instant::now();
    let compiled = build::compile(&source, &options).unwrap();
    let built = started.elapsed();
    let bytes = compiled.encode(1);
    let engine = Engine::new(Store::in_memory(&bytes).unwrap());
    let test = dataset::read_jsonl(&dir.join("test.jsonl")).unwrap();
    let report = eval::evaluate(&engine, &test, |_| {});
    println!(
        "{params:?} build {:.1}s, {} bytes, threshold {:.4}",
        built.as_secs_f64(),
        bytes.len(),
        compiled.calibration().threshold
    );
    println!("{}", serde_json::to_string(&report).unwrap());
    let raw = Engine::new(
        Store::in_memory(&{
            let mut o = BuildOptions {
                train: params,
                ..BuildOptions::default()
            };
            o.keep_calibration = Some(build::Calibration {
                threshold: 0.0,
                calibrated: true,
            });
            build::compile(&source, &o).unwrap().encode(1)
        })
        .unwrap(),
    );
    for iterations in [1, 9] {
        let options = jessy_engine::QueryOptions {
            max_iterations: iterations,
            include_content: false,
            ..Default::default()
        };
        let r = eval::evaluate_with(&raw, &test, &options, |_| {});
        println!("raw (threshold 0, {iterations} iterations): in_scope {:.4} top3 {:.4} oos_recall {:.4}", r.in_scope_accuracy, r.top3_accuracy, r.oos_recall);
    }
}
