//! Prometheus metrics, recorded into a recorder owned by the [`crate::AppState`].
//!
//! The `metrics` crate has one global recorder per process and installing a second panics or
//! fails. jessy-core must coexist with jessy-api in `jessy serve` and with many apps in one test
//! binary, so it never installs a global recorder: each state builds its own
//! [`PrometheusRecorder`] and records through it with [`metrics::with_local_recorder`] (per
//! request) or through handles registered once (pipeline stages and gauges, the hot path).
//!
//! Series (all prefixed `jessy_core_`):
//!
//! | name | type | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `method`, `route` (matched pattern, `unmatched` otherwise), `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route` |
//! | `errors_total` | counter | `code` (the error body's code) |
//! | `queries_total` | counter | `outcome` (`matched`, `no_match`) |
//! | `pipeline_stage_duration_seconds` | histogram | `stage` (parse, scan, interference, convergence, context, total) |
//! | `layer_write_duration_seconds` | histogram | `op` (`upsert`, `delete`) |
//! | `snapshot_generation` | gauge | |
//! | `snapshot_mapped_bytes` | gauge | |
//! | `snapshot_regions` | gauge | |
//! | `snapshot_live_generations` | gauge | |
//! | `process_resident_memory_bytes` | gauge | |
//!
//! Labels are bounded: routes are patterns, not raw paths, and codes come from a fixed set.

use jessy_engine::result::Timings;
use jessy_engine::Engine;
use metrics::{Gauge, Histogram, Key, Label, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Buckets for whole requests, in seconds: 50 µs (a query on a warm server) to 10 s (a slow
/// retrain).
const REQUEST_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];
/// Buckets for pipeline stages, in seconds: stages take single microseconds to a millisecond.
const STAGE_BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.005,
];

const STAGES: [&str; 6] = [
    "parse",
    "scan",
    "interference",
    "convergence",
    "context",
    "total",
];

/// The service's metrics: the recorder, a handle to render it and pre-registered hot handles.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    stages: [Histogram; 6],
    generation: Gauge,
    mapped_bytes: Gauge,
    regions: Gauge,
    live_generations: Gauge,
    resident_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|&(k, v)| Label::from_static_parts(k, v))
            .collect::<Vec<_>>(),
    )
}

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl Metrics {
    /// A fresh recorder with this service's buckets and descriptions.
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("jessy_core_pipeline_stage_duration_seconds".into()),
                STAGE_BUCKETS,
            )
            .and_then(|b| b.set_buckets(REQUEST_BUCKETS))
            .expect("bucket lists are non-empty constants")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, describe);
        let histogram = |name, labels: &[(&'static str, &'static str)]| {
            recorder.register_histogram(&key(name, labels), &METADATA)
        };
        let gauge = |name| recorder.register_gauge(&key(name, &[]), &METADATA);
        let stages = STAGES.map(|stage| {
            histogram(
                "jessy_core_pipeline_stage_duration_seconds",
                &[("stage", stage)],
            )
        });
        Metrics {
            stages,
            generation: gauge("jessy_core_snapshot_generation"),
            mapped_bytes: gauge("jessy_core_snapshot_mapped_bytes"),
            regions: gauge("jessy_core_snapshot_regions"),
            live_generations: gauge("jessy_core_snapshot_live_generations"),
            resident_bytes: gauge("jessy_core_process_resident_memory_bytes"),
            handle,
            recorder,
        }
    }

    /// The handle that renders the exposition text (also what a periodic upkeep task needs).
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }

    /// Runs `f` with this state's recorder as the thread's recorder, so `metrics::counter!` and
    /// friends inside record here.
    pub fn scope<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Records one HTTP request.
    pub fn record_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        seconds: f64,
        error_code: Option<&'static str>,
    ) {
        self.scope(|| {
            let route = route.to_string();
            metrics::counter!(
                "jessy_core_http_requests_total",
                "method" => method,
                "route" => route.clone(),
                "status" => status_label(status),
            )
            .increment(1);
            metrics::histogram!("jessy_core_http_request_duration_seconds", "method" => method, "route" => route)
                .record(seconds);
            if let Some(code) = error_code {
                metrics::counter!("jessy_core_errors_total", "code" => code).increment(1);
            }
        });
    }

    /// Records a query's outcome and its per-stage timings (reported by the engine in µs).
    pub fn record_query(&self, matched: bool, timings: &Timings) {
        let micros = [
            timings.parse,
            timings.scan,
            timings.interference,
            timings.convergence,
            timings.context,
            timings.total,
        ];
        for (histogram, us) in self.stages.iter().zip(micros) {
            histogram.record(us / 1e6);
        }
        let outcome = if matched { "matched" } else { "no_match" };
        self.scope(|| {
            metrics::counter!("jessy_core_queries_total", "outcome" => outcome).increment(1)
        });
    }

    /// Records what the semantic cascade did for a query: which path answered, the encoder's
    /// time when it ran, and encoder failures (the lexical answer then stands).
    pub fn record_cascade(&self, trace: &jessy_engine::result::CascadeTrace) {
        let path = match trace.path {
            jessy_engine::semantic::AnswerPath::Lexical => "lexical",
            jessy_engine::semantic::AnswerPath::Semantic => "semantic",
        };
        self.scope(|| {
            metrics::counter!("jessy_core_cascade_queries_total", "path" => path).increment(1);
            if trace.path == jessy_engine::semantic::AnswerPath::Semantic {
                metrics::counter!("jessy_core_escalations_total").increment(1);
                metrics::histogram!("jessy_core_encoder_duration_seconds")
                    .record(trace.encoder_us / 1e6);
            }
            if trace.error.is_some() {
                metrics::counter!("jessy_core_encoder_errors_total").increment(1);
            }
        });
    }

    /// Records the duration of a layer write (`upsert` or `delete`).
    pub fn record_write(&self, op: &'static str, seconds: f64) {
        self.scope(|| {
            metrics::histogram!("jessy_core_layer_write_duration_seconds", "op" => op)
                .record(seconds)
        });
    }

    /// Counts accepted feedback items: with a layer, and marked out of scope.
    pub fn record_feedback(&self, routed: u64, no_match: u64) {
        self.scope(|| {
            metrics::counter!("jessy_core_feedback_items_total", "label" => "layer")
                .increment(routed);
            metrics::counter!("jessy_core_feedback_items_total", "label" => "no_match")
                .increment(no_match);
        });
    }

    /// Records a learning run: whether it published, and how long it took.
    pub fn record_learn(&self, published: bool, seconds: f64) {
        let outcome = if published { "published" } else { "kept" };
        self.scope(|| {
            metrics::counter!("jessy_core_learn_runs_total", "outcome" => outcome).increment(1);
            metrics::histogram!("jessy_core_learn_duration_seconds").record(seconds);
        });
    }

    /// Refreshes the gauges and renders the Prometheus text exposition.
    pub fn render(&self, engine: &Engine) -> String {
        let stats = engine.stats();
        self.generation.set(stats.generation as f64);
        self.mapped_bytes.set(stats.mapped_bytes as f64);
        self.regions.set(stats.regions as f64);
        self.live_generations.set(stats.live_generations as f64);
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_bytes.set(bytes as f64);
        }
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "jessy_core_http_requests_total",
        "HTTP requests answered, by method, route pattern and status."
    );
    describe_histogram!(
        "jessy_core_http_request_duration_seconds",
        Unit::Seconds,
        "Time from request to response head, by method and route pattern."
    );
    describe_counter!("jessy_core_errors_total", "Error responses by error code.");
    describe_counter!(
        "jessy_core_feedback_items_total",
        "Feedback items accepted (durable), by label: a layer, or no_match."
    );
    describe_counter!(
        "jessy_core_learn_runs_total",
        "Learning runs, by outcome: published a generation, or kept the serving one."
    );
    describe_histogram!(
        "jessy_core_learn_duration_seconds",
        Unit::Seconds,
        "Wall time of a learning run, feedback to published (or refused) generation."
    );
    describe_counter!("jessy_core_queries_total", "Queries routed, by outcome.");
    describe_histogram!(
        "jessy_core_pipeline_stage_duration_seconds",
        Unit::Seconds,
        "Time per query pipeline stage, as measured by the engine."
    );
    describe_counter!(
        "jessy_core_cascade_queries_total",
        "Queries of a snapshot with a semantic head, by the path that answered (lexical, semantic)."
    );
    describe_counter!(
        "jessy_core_escalations_total",
        "Queries the semantic cascade sent to the sentence encoder."
    );
    describe_histogram!(
        "jessy_core_encoder_duration_seconds",
        Unit::Seconds,
        "Sentence-encoder time per escalated query."
    );
    describe_counter!(
        "jessy_core_encoder_errors_total",
        "Escalations whose encoder failed (the lexical answer was returned)."
    );
    describe_histogram!(
        "jessy_core_layer_write_duration_seconds",
        Unit::Seconds,
        "Layer upsert/delete time, retrain and publish included."
    );
    describe_gauge!(
        "jessy_core_snapshot_generation",
        "Snapshot generation currently served."
    );
    describe_gauge!(
        "jessy_core_snapshot_mapped_bytes",
        Unit::Bytes,
        "Size of the current snapshot generation."
    );
    describe_gauge!(
        "jessy_core_snapshot_regions",
        "Regions (sections) of the current snapshot generation."
    );
    describe_gauge!(
        "jessy_core_snapshot_live_generations",
        "Generations still held by in-flight readers, current included."
    );
    describe_gauge!(
        "jessy_core_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident set size of this process (mapped snapshot pages included)."
    );
}

/// Status as a label; the common ones are static so recording them does not allocate.
fn status_label(status: u16) -> metrics::SharedString {
    let known = match status {
        200 => "200",
        201 => "201",
        400 => "400",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        415 => "415",
        422 => "422",
        500 => "500",
        503 => "503",
        _ => return metrics::SharedString::from(status.to_string()),
    };
    metrics::SharedString::const_str(known)
}

/// Method as a label: static for the standard methods, `other` otherwise, so an arbitrary
/// extension method cannot create a new series.
pub(crate) fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Resident set size from `/proc/self/status` (`VmRSS`), in bytes. `None` off Linux or if the
/// file cannot be read: the gauge then keeps its last value rather than reporting a wrong one.
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_parsed_in_bytes() {
        let status = "Name:\tjessy-core\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("VmRSS: 12 MB\n"), None);
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory_bytes().unwrap() > 0);
        }
    }

    #[test]
    fn two_recorders_in_one_process_are_independent() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.record_request("GET", "/health", 200, 0.001, None);
        let text_a = a.handle().render();
        let text_b = b.handle().render();
        assert!(
            text_a.contains(
                r#"jessy_core_http_requests_total{method="GET",route="/health",status="200"} 1"#
            ),
            "{text_a}"
        );
        assert!(
            !text_b.contains("jessy_core_http_requests_total{"),
            "{text_b}"
        );
    }

    #[test]
    fn stage_histograms_use_microsecond_buckets() {
        let m = Metrics::new();
        m.record_query(
            true,
            &Timings {
                parse: 1.5,
                total: 20.0,
                ..Timings::default()
            },
        );
        let text = m.handle().render();
        assert!(text.contains(r#"jessy_core_pipeline_stage_duration_seconds_bucket{stage="parse",le="0.0000025"} 1"#), "{text}");
        assert!(
            text.contains(r#"jessy_core_queries_total{outcome="matched"} 1"#),
            "{text}"
        );
    }
}
