//! How much slower a query is when it does not follow another one straight away.
//!
//! `jessy eval` and the pipeline bench time queries back to back, so every query finds the
//! code, tables and model rows the previous ones left in the caches. In service a query may
//! follow a pause (no traffic for a while) or a cache-hostile burst (the semantic cascade's
//! encoder streams ~90 MB of weights). This example times every line of a labelled JSONL
//! file after each kind of interruption, so the effect can be measured on any machine:
//!
//! ```sh
//! cargo run --release -p jessy-engine --example pause_latency -- SNAP_DIR LINES.jsonl
//! ```
//!
//! Interruptions (the interruption itself is not timed):
//! - `back to back`: none;
//! - `sleep 16 ms`: the thread sleeps about as long as one encoder call takes;
//! - `busy 16 ms`: the thread spins on a few registers (no memory traffic);
//! - `sweep N MB`: the thread writes one byte per cache line of an N MB buffer.
//!
//! Each row also gives the median of every stage's own timing (`timings_us` of the result), so
//! the slowdown can be placed: on CLINC150 the parser's features and the scan (the lookups into
//! the model's arrays) take most of it.

use std::path::Path;
use std::time::{Duration, Instant};

use jessy_engine::{dataset, Engine, QueryOptions};

/// One way to spend the time between two queries.
#[derive(Clone, Copy)]
enum Interruption {
    None,
    Sleep(Duration),
    Busy(Duration),
    Sweep(usize),
}

impl Interruption {
    fn name(self) -> String {
        match self {
            Interruption::None => "back to back".to_string(),
            Interruption::Sleep(d) => format!("sleep {} ms", d.as_millis()),
            Interruption::Busy(d) => format!("busy {} ms", d.as_millis()),
            Interruption::Sweep(bytes) => format!("sweep {} MB", bytes >> 20),
        }
    }

    /// Spends the interruption; returns a value the caller keeps alive (so the work is not
    /// optimized away).
    fn run(self, buffer: &mut [u8]) -> u64 {
        match self {
            Interruption::None => 0,
            Interruption::Sleep(d) => {
                std::thread::sleep(d);
                0
            }
            Interruption::Busy(d) => {
                let started = Instant::now();
                let (mut a, mut b) = (1.0001f64, 0.5f64);
                while started.elapsed() < d {
                    for _ in 0..1000 {
                        a = std::hint::black_box(a.mul_add(0.9999, b));
                        b = b.mul_add(0.9999, a);
                    }
                }
                (a + b).to_bits()
            }
            Interruption::Sweep(bytes) => {
                let end = bytes.min(buffer.len());
                let mut sum = 0u64;
                for i in (0..end).step_by(64) {
                    buffer[i] = buffer[i].wrapping_add(1);
                    sum += u64::from(buffer[i]);
                }
                sum
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, snap, lines] = args.as_slice() else {
        return Err("usage: pause_latency SNAP_DIR LINES.jsonl".into());
    };
    let engine = Engine::open_read_only(Path::new(snap))?;
    let examples = dataset::read_jsonl(Path::new(lines))?;
    let options = QueryOptions {
        include_content: false,
        ..QueryOptions::default()
    };
    let ms16 = Duration::from_millis(16);
    let kinds = [
        Interruption::None,
        Interruption::Sleep(ms16),
        Interruption::Busy(ms16),
        Interruption::Sweep(1 << 20),
        Interruption::Sweep(128 << 20),
        Interruption::None,
    ];
    let mut buffer = vec![0u8; 128 << 20];
    let mut keep = 0u64;
    println!("{} lines of {lines}, snapshot {snap}", examples.len());
    for kind in kinds {
        let mut micros = Vec::with_capacity(examples.len());
        // Per stage, from the result's own timings: parse, scan, interference, convergence,
        // context.
        let mut stages: [Vec<f64>; 5] = Default::default();
        for example in &examples {
            keep ^= kind.run(&mut buffer);
            let started = Instant::now();
            let result = engine.query_unrecorded(&example.text, &options);
            micros.push(started.elapsed().as_secs_f64() * 1e6);
            if let Ok(r) = &result {
                let t = &r.timings_us;
                for (stage, us) in stages.iter_mut().zip([
                    t.parse,
                    t.scan,
                    t.interference,
                    t.convergence,
                    t.context,
                ]) {
                    stage.push(us);
                }
            }
            std::hint::black_box(&result);
        }
        println!(
            "{:<14} p50 {:>7.1} µs   p90 {:>7.1} µs   stage medians: parse {:.1}, scan {:.1}, interference {:.1}, convergence {:.1}, context {:.1} µs",
            kind.name(),
            percentile(&mut micros, 0.5),
            percentile(&mut micros, 0.9),
            percentile(&mut stages[0], 0.5),
            percentile(&mut stages[1], 0.5),
            percentile(&mut stages[2], 0.5),
            percentile(&mut stages[3], 0.5),
            percentile(&mut stages[4], 0.5),
        );
    }
    std::hint::black_box(keep);
    Ok(())
}

/// The `p` quantile (0–1) of `values` (sorted in place; 0 when empty).
fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 * p) as usize).min(values.len() - 1)]
}
