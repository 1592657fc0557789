//! Encoder speed on labeled JSONL lines: batched throughput (as a build embeds training
//! lines) and one-sentence latency (as the cascade embeds a query).
//!
//! `cargo run --release -p jessy-encoder --example throughput -- MODEL_DIR FILE.jsonl [N]`

use std::time::Instant;

use jessy_encoder::SentenceEncoder;
use jessy_engine::semantic::Encoder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(model), Some(file)) = (args.get(1), args.get(2)) else {
        return Err("usage: throughput MODEL_DIR FILE.jsonl [N]".into());
    };
    let n: usize = args.get(3).map_or(Ok(1000), |s| s.parse())?;
    let t = Instant::now();
    let encoder = SentenceEncoder::load(std::path::Path::new(model))?;
    println!(
        "load {:.2} s: {}",
        t.elapsed().as_secs_f64(),
        encoder.identity()
    );
    let lines = jessy_engine::dataset::read_jsonl(std::path::Path::new(file))?;
    let texts: Vec<&str> = lines.iter().take(n).map(|l| l.text.as_str()).collect();
    let t = Instant::now();
    encoder.embed(&texts)?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "batched: {} lines in {s:.2} s, {:.0} lines/s",
        texts.len(),
        texts.len() as f64 / s
    );
    let mut single: Vec<f64> = texts
        .iter()
        .take(200)
        .map(|text| {
            let t = Instant::now();
            encoder
                .embed(&[text])
                .map(|_| t.elapsed().as_secs_f64() * 1e6)
        })
        .collect::<Result<_, _>>()?;
    single.sort_by(f64::total_cmp);
    let pct = |p: f64| single[((p * single.len() as f64) as usize).min(single.len() - 1)];
    println!(
        "one sentence: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs over {}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        single.len()
    );
    Ok(())
}
