//! The jessy-core instances behind the gateway: their health, load balancing and forwarding.
//!
//! - **State.** Each core is *up* (in rotation) or *down*. Cores start down and are tested
//!   before the gateway serves ([`UpstreamPool::probe`]); the health checker
//!   ([`UpstreamPool::run_health_checks`]) then polls `GET /health` on every core each
//!   interval. [`FAILURE_THRESHOLD`] consecutive failed checks take a core down; one success
//!   brings it back, so recovery needs no operator.
//! - **Passive ejection.** A connection error while forwarding takes the core down at once,
//!   without waiting for three checks: a refused connection means the process is gone.
//! - **Balancing.** Least in-flight among up cores, ties broken round-robin (the scan starts
//!   at a rotating index), so idle cores share load evenly and a slow core gets less.
//! - **Retry.** See [`UpstreamPool::forward`] for which failures are retried once on another core.
//!
//! One shared [`reqwest::Client`] keeps a connection pool per core so the microsecond query
//! path does not pay a TCP handshake per request.

mod cluster;
mod forward;
mod health;

pub use cluster::CoreReport;
pub use forward::{UpstreamCall, UpstreamResponse};

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Url;
use serde::Serialize;

use crate::metrics::Metrics;

/// Consecutive failed health checks that take a core out of rotation. One failure can be a
/// blip (a GC-less Rust core has few, but networks have some); three at the default 10 s
/// interval means half a minute of trouble.
pub const FAILURE_THRESHOLD: u32 = 3;

/// Longest wait for a health check (or `/ready`) answer. Independent of the interval: checks
/// never overlap (the next round starts after the previous one ends), and a healthy core
/// answers in microseconds, so two seconds only trips on a hung or overloaded one.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Connect timeout for all core connections: cores sit on the same host or network, so a
/// connect that takes longer than this will not succeed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long an idle pooled connection to a core is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a core is in rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    /// Receiving traffic.
    Up,
    /// Out of rotation until a health check succeeds.
    Down,
}

/// One core and its live counters. All fields are atomics: they are read on every request and
/// written by handlers and the health checker concurrently, and exactness across fields is not
/// needed (balancing is a heuristic).
#[derive(Debug)]
struct Upstream {
    url: Url,
    label: String,
    up: AtomicBool,
    consecutive_failures: AtomicU32,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// The prefix of the query ids the core issues, from its last health answer (see
    /// [`UpstreamPool::forward_to_issuer`]); empty until it said.
    query_ids: std::sync::Mutex<String>,
}

impl Upstream {
    /// Records the query-id prefix the core reported.
    fn set_query_ids(&self, prefix: &str) {
        let mut held = self.query_ids.lock().unwrap_or_else(|e| e.into_inner());
        if *held != prefix {
            *held = prefix.to_string();
        }
    }

    /// Whether the core said it issues query ids starting with `prefix`.
    fn issues(&self, prefix: &str) -> bool {
        !prefix.is_empty() && *self.query_ids.lock().unwrap_or_else(|e| e.into_inner()) == prefix
    }
}

/// What `/api/health` and `/api/v1/status` report about one core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamStatus {
    /// The core's base URL as configured.
    pub url: String,
    /// Up or down.
    pub state: UpstreamState,
    /// Requests currently being forwarded to it.
    pub in_flight: usize,
    /// Failed health checks or forwards since its last success.
    pub consecutive_failures: u32,
    /// Requests forwarded to it since startup.
    pub requests: u64,
}

/// All configured cores plus the shared HTTP client.
#[derive(Debug)]
pub struct UpstreamPool {
    upstreams: Vec<Upstream>,
    cursor: AtomicUsize,
    client: reqwest::Client,
    health_timeout: Duration,
    metrics: Metrics,
}

/// Decrements a core's in-flight count when the forward finishes, however it finishes
/// (including the handler future being dropped when the client disconnects).
struct InFlight<'a>(&'a Upstream);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl UpstreamPool {
    /// Builds the pool; every core starts down until a check succeeds.
    ///
    /// `request_timeout` bounds one forwarded request; health checks use a fixed two seconds.
    pub fn new(urls: &[Url], request_timeout: Duration, metrics: Metrics) -> anyhow::Result<Self> {
        anyhow::ensure!(!urls.is_empty(), "at least one jessy-core URL is required");
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(request_timeout)
            // Shorter than a core's default header read timeout (10 s), which also closes idle
            // keep-alive connections: the gateway drops an idle connection before the core
            // does, instead of racing a request against the core's close.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .user_agent(concat!("jessy-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the upstream HTTP client: {e}"))?;
        let upstreams = urls
            .iter()
            .map(|url| Upstream {
                url: url.clone(),
                label: url.to_string(),
                up: AtomicBool::new(false),
                consecutive_failures: AtomicU32::new(FAILURE_THRESHOLD),
                in_flight: AtomicUsize::new(0),
                requests: AtomicU64::new(0),
                query_ids: std::sync::Mutex::new(String::new()),
            })
            .collect::<Vec<_>>();
        for upstream in &upstreams {
            metrics.set_upstream_health(&upstream.label, false);
        }
        Ok(Self {
            upstreams,
            cursor: AtomicUsize::new(0),
            client,
            health_timeout: HEALTH_TIMEOUT,
            metrics,
        })
    }

    /// Number of configured cores.
    pub fn len(&self) -> usize {
        self.upstreams.len()
    }

    /// Always false: a pool needs at least one core. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    /// Number of cores currently in rotation.
    pub fn healthy_count(&self) -> usize {
        self.upstreams
            .iter()
            .filter(|u| u.up.load(Ordering::Relaxed))
            .count()
    }

    /// A point-in-time view of every core, in configuration order.
    pub fn status(&self) -> Vec<UpstreamStatus> {
        self.upstreams
            .iter()
            .map(|u| UpstreamStatus {
                url: u.label.clone(),
                state: if u.up.load(Ordering::Relaxed) {
                    UpstreamState::Up
                } else {
                    UpstreamState::Down
                },
                in_flight: u.in_flight.load(Ordering::Relaxed),
                consecutive_failures: u.consecutive_failures.load(Ordering::Relaxed),
                requests: u.requests.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Chooses the up core with the fewest requests in flight, skipping `exclude`; ties go to
    /// the first one found scanning from a rotating start, which is round-robin among equals.
    fn pick(&self, exclude: Option<usize>) -> Option<usize> {
        let n = self.upstreams.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        let mut best: Option<(usize, usize)> = None;
        for offset in 0..n {
            let index = (start + offset) % n;
            let upstream = &self.upstreams[index];
            if Some(index) == exclude || !upstream.up.load(Ordering::Relaxed) {
                continue;
            }
            let load = upstream.in_flight.load(Ordering::Relaxed);
            match best {
                Some((_, best_load)) if best_load <= load => {}
                _ => best = Some((index, load)),
            }
        }
        best.map(|(index, _)| index)
    }

    /// Marks a request as in flight to core `index` until the guard drops.
    fn begin(&self, index: usize) -> InFlight<'_> {
        let upstream = &self.upstreams[index];
        upstream.in_flight.fetch_add(1, Ordering::Relaxed);
        upstream.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(upstream)
    }

    /// Records a successful contact: resets the failure count and brings the core up.
    fn mark_success(&self, index: usize) {
        let upstream = &self.upstreams[index];
        upstream.consecutive_failures.store(0, Ordering::Relaxed);
        if !upstream.up.swap(true, Ordering::Relaxed) {
            tracing::info!(upstream = %upstream.label, "upstream is up");
            self.metrics.set_upstream_health(&upstream.label, true);
        }
    }

    /// Records a failed contact; the core goes down once failures reach the threshold.
    fn mark_failure(&self, index: usize, reason: &str) {
        let upstream = &self.upstreams[index];
        let failures = upstream
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures >= FAILURE_THRESHOLD {
            self.take_down(index, reason);
        } else {
            tracing::debug!(upstream = %upstream.label, failures, reason, "upstream check failed");
        }
    }

    /// Takes a core out of rotation now (passive ejection, or threshold reached).
    fn eject(&self, index: usize, reason: &str) {
        let upstream = &self.upstreams[index];
        upstream
            .consecutive_failures
            .fetch_max(FAILURE_THRESHOLD, Ordering::Relaxed);
        self.take_down(index, reason);
    }

    fn take_down(&self, index: usize, reason: &str) {
        let upstream = &self.upstreams[index];
        if upstream.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(upstream = %upstream.label, reason, "upstream is down; removed from rotation");
            self.metrics.set_upstream_health(&upstream.label, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> UpstreamPool {
        let urls: Vec<Url> = (0..n)
            .map(|i| Url::parse(&format!("http://127.0.0.1:{}", 1 + i)).expect("url"))
            .collect();
        UpstreamPool::new(&urls, Duration::from_secs(1), Metrics::new()).expect("pool")
    }

    #[test]
    fn cores_start_down_and_come_up_on_one_success() {
        let pool = pool(2);
        assert_eq!(pool.healthy_count(), 0);
        assert_eq!(pool.pick(None), None);
        pool.mark_success(1);
        assert_eq!(pool.healthy_count(), 1);
        assert_eq!(pool.pick(None), Some(1));
        assert_eq!(pool.pick(Some(1)), None);
        assert_eq!(pool.status()[1].state, UpstreamState::Up);
        assert_eq!(pool.status()[0].state, UpstreamState::Down);
    }

    #[test]
    fn three_failures_take_a_core_down_and_ejection_is_immediate() {
        let pool = pool(2);
        pool.mark_success(0);
        pool.mark_success(1);
        pool.mark_failure(0, "test");
        pool.mark_failure(0, "test");
        assert_eq!(pool.status()[0].state, UpstreamState::Up);
        pool.mark_failure(0, "test");
        assert_eq!(pool.status()[0].state, UpstreamState::Down);
        assert_eq!(pool.status()[0].consecutive_failures, 3);

        pool.eject(1, "connection refused");
        assert_eq!(pool.healthy_count(), 0);
        pool.mark_success(1);
        assert_eq!(pool.status()[1].consecutive_failures, 0);
        assert_eq!(pool.healthy_count(), 1);
        assert!(pool
            .metrics
            .render()
            .contains(r#"upstream="http://127.0.0.1:2/"} 1"#));
    }

    #[test]
    fn round_robin_among_equally_loaded_cores() {
        let pool = pool(3);
        (0..3).for_each(|i| pool.mark_success(i));
        let mut seen = [0usize; 3];
        for _ in 0..30 {
            seen[pool.pick(None).expect("core")] += 1;
        }
        assert_eq!(seen, [10, 10, 10]);
    }

    #[test]
    fn least_in_flight_wins() {
        let pool = pool(3);
        (0..3).for_each(|i| pool.mark_success(i));
        let _a = pool.begin(0);
        let _b = pool.begin(0);
        let _c = pool.begin(2);
        for _ in 0..5 {
            assert_eq!(pool.pick(None), Some(1));
        }
        assert_eq!(pool.pick(Some(1)), Some(2));
        drop(_c);
        let status = pool.status();
        assert_eq!(status[0].in_flight, 2);
        assert_eq!(status[2].in_flight, 0);
        assert_eq!(status[2].requests, 1);
    }
}
