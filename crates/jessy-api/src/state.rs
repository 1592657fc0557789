//! The gateway's shared state: one handle, cloned into every handler for a refcount bump.
//!
//! The state is the top of the crate's pieces: it builds each one from the [`Config`] and
//! holds it, and the pieces know nothing of it. Middleware that needs one piece takes that
//! piece alone, which the state hands over through axum's [`FromRef`] (the
//! [`Authenticator`] for authentication, the [`RateLimits`] for rate limiting); background
//! tasks are given the piece they serve ([`crate::cluster_keys::follow`] the authenticator,
//! [`crate::heartbeat::run`] the address and start time it reports).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::FromRef;
use axum::http::HeaderValue;
use jessy_http::{CancellationToken, ConnectionLimits};
use tokio::task::JoinHandle;

use crate::auth::{Authenticator, FailedAuthLimiter, KeyStore};
use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::metrics::Metrics;
use crate::rate_limit::{KeyRateLimiter, RateLimits};
use crate::rate_limit_redis::SharedRateLimiter;
use crate::secret::Secret;
use crate::upstream::UpstreamPool;

/// How often buffered histogram samples are folded when nobody scrapes `/metrics`.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Everything handlers share. Built once from a [`Config`] by [`AppState::new`], which does all
/// fallible setup (keys file, URLs, HTTP client) so configuration errors surface before the
/// gateway binds or prints anything.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The keys (swapped while serving in cluster mode) and the failed-attempt throttle.
    auth: Arc<Authenticator>,
    /// Per-key buckets and, in cluster mode, the limits every gateway shares (`--redis`).
    rate_limits: Arc<RateLimits>,
    /// Cluster mode: the cluster's PostgreSQL URL (`--cluster`), where keys live.
    cluster_url: Option<String>,
    /// Cluster mode: this gateway's heartbeat row, and the list of the others.
    heartbeat: Option<Arc<Heartbeat>>,
    /// The address the public listener is bound to, once [`crate::serve_with_state`] knows it.
    listen_addr: OnceLock<SocketAddr>,
    core_token: Option<Secret>,
    upstreams: UpstreamPool,
    metrics: Metrics,
    cors_origins: Vec<HeaderValue>,
    health_interval: Duration,
    shutdown_grace: Duration,
    body_read_timeout: Duration,
    connection_limits: ConnectionLimits,
    started: Instant,
    served: AtomicU64,
    /// Cancelled once when shutdown begins: the accept loop, background tasks and WebSocket
    /// sessions watch it so they end instead of holding the drain open.
    shutdown: CancellationToken,
}

impl AppState {
    /// Loads the keys file and prepares the upstream pool (all cores start down; call
    /// [`AppState::probe_upstreams`] or let [`crate::serve`] do it).
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let keys = match &config.keys_file {
            Some(path) => KeyStore::load(path)?,
            None => KeyStore::default(),
        };
        if keys.is_empty() && config.cluster_url.is_none() {
            tracing::warn!(
                "no API keys configured; every /api/v1 request will be refused with 401"
            );
        }
        let core_token = config.core_token()?;
        if core_token.is_none() {
            tracing::warn!("no core admin token configured (--core-admin-token-file); layer writes are forwarded without one and cores refuse them unless they allow unauthenticated writes");
        }
        let metrics = Metrics::new();
        let upstreams =
            UpstreamPool::new(&config.core_urls, config.upstream_timeout, metrics.clone())
                .context("invalid upstream configuration")?;
        let shutdown = CancellationToken::new();
        Ok(Self {
            inner: Arc::new(Inner {
                auth: Arc::new(Authenticator::new(
                    keys,
                    FailedAuthLimiter::new(config.auth_failure_limit, config.auth_failure_window),
                )),
                rate_limits: Arc::new(RateLimits::new(
                    KeyRateLimiter::new(config.rate_limit, config.burst),
                    config.redis_url.as_ref().map(|url| {
                        SharedRateLimiter::new(
                            url.expose().to_string(),
                            config.rate_limit.get(),
                            config.burst.get(),
                            config.redis_prefix.clone(),
                            config.redis_failure_policy,
                        )
                    }),
                )),
                cluster_url: config.cluster_url.as_ref().map(|u| u.expose().to_string()),
                heartbeat: config
                    .cluster_url
                    .as_ref()
                    .map(|u| Arc::new(Heartbeat::new(u.expose().to_string()))),
                listen_addr: OnceLock::new(),
                core_token,
                upstreams,
                metrics,
                cors_origins: config.cors_origins.clone(),
                health_interval: config.health_interval,
                shutdown_grace: config.shutdown_grace,
                body_read_timeout: config.body_read_timeout,
                connection_limits: config.connection_limits(),
                started: Instant::now(),
                served: AtomicU64::new(0),
                shutdown,
            }),
        })
    }

    /// The bearer-key check: accepted keys and the failed-attempt throttle.
    pub(crate) fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// Per-key rate limits (shared through Redis when `--redis` is given).
    pub(crate) fn rate_limits(&self) -> &RateLimits {
        &self.inner.rate_limits
    }

    /// Cluster mode, before serving: loads the keys from PostgreSQL (an error if the cluster
    /// cannot be reached at start: a gateway without keys would refuse every client) and
    /// connects to Redis (an unreachable Redis is not an error: the failure policy applies
    /// and the background task keeps trying). Does nothing outside cluster mode.
    pub async fn connect_cluster(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.inner.cluster_url {
            let keys = crate::cluster_keys::load_once(url)
                .await
                .context("cannot load API keys from the cluster")?;
            tracing::info!(keys = keys.len(), "API keys loaded from the cluster");
            self.inner.auth.replace_keys(keys);
        }
        if let Some(limiter) = self.inner.rate_limits.shared() {
            limiter.connect().await;
        }
        Ok(())
    }

    /// Cluster mode: this gateway's heartbeat (its id, and the list of every gateway).
    pub(crate) fn heartbeat(&self) -> Option<&Heartbeat> {
        self.inner.heartbeat.as_deref()
    }

    /// Where the public listener is bound (`None` before [`crate::serve_with_state`] ran).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.inner.listen_addr.get().copied()
    }

    /// Records the public listener's address (first call wins: one state serves one listener).
    pub fn set_listen_addr(&self, addr: SocketAddr) {
        let _ = self.inner.listen_addr.set(addr);
    }

    /// The admin token presented to cores on forwarded layer writes, if configured.
    pub(crate) fn core_token(&self) -> Option<&Secret> {
        self.inner.core_token.as_ref()
    }

    /// The cores and their health.
    pub fn upstreams(&self) -> &UpstreamPool {
        &self.inner.upstreams
    }

    /// This gateway's metrics registry.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Origins allowed by CORS; empty means CORS is closed.
    pub(crate) fn cors_origins(&self) -> &[HeaderValue] {
        &self.inner.cors_origins
    }

    /// Bound on draining connections after a shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        self.inner.shutdown_grace
    }

    /// Time a client has to send a whole request body (408 beyond).
    pub fn body_read_timeout(&self) -> Duration {
        self.inner.body_read_timeout
    }

    /// The connection cap and header read timeout [`crate::serve`] applies.
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.inner.connection_limits
    }

    /// Time since the state was built (≈ since the gateway started).
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Requests answered so far, all routes included.
    pub fn requests_served(&self) -> u64 {
        self.inner.served.load(Ordering::Relaxed)
    }

    /// Counts one answered request (called by the request middleware).
    pub(crate) fn count_served(&self) {
        self.inner.served.fetch_add(1, Ordering::Relaxed);
    }

    /// The startup connection test: checks every core once and logs the result; returns the
    /// number of cores up.
    pub async fn probe_upstreams(&self) -> usize {
        self.inner.upstreams.probe().await
    }

    /// Starts the periodic health checker and metrics upkeep. Both stop when
    /// [`AppState::begin_shutdown`] is called; the handle completes then.
    pub fn spawn_background_tasks(&self) -> JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let health = state
                .inner
                .upstreams
                .run_health_checks(state.inner.health_interval, state.shutdown_signal());
            let upkeep = async {
                let shutdown = state.shutdown_signal();
                let mut ticker = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => state.inner.metrics.run_upkeep(),
                        () = shutdown.cancelled() => break,
                    }
                }
            };
            let keys = async {
                if let Some(url) = state.inner.cluster_url.clone() {
                    let auth = state.inner.auth.clone();
                    crate::cluster_keys::follow(auth, url, state.shutdown_signal()).await;
                }
            };
            let redis = async {
                let Some(limiter) = state.inner.rate_limits.shared() else {
                    return;
                };
                let shutdown = state.shutdown_signal();
                // Reconnect quickly while down; a slower health ping while up.
                loop {
                    let pause = if limiter.is_reachable() {
                        Duration::from_secs(5)
                    } else {
                        Duration::from_millis(500)
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => limiter.connect().await,
                        () = shutdown.cancelled() => break,
                    }
                }
            };
            let heartbeat = async {
                if let Some(heartbeat) = state.inner.heartbeat.clone() {
                    let address = crate::heartbeat::advertised(state.listen_addr());
                    let (started, shutdown) = (state.inner.started, state.shutdown_signal());
                    crate::heartbeat::run(heartbeat, address, started, shutdown).await;
                }
            };
            tokio::join!(health, upkeep, keys, redis, heartbeat);
        })
    }

    /// The token cancelled when shutdown begins.
    pub fn shutdown_signal(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Tells background tasks and open WebSocket sessions to finish. Idempotent.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.cancel();
    }
}

/// What [`crate::auth::require_api_key`] takes from the state: the authenticator alone.
impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.inner.auth.clone()
    }
}

/// What the rate-limit middleware (`rate_limit::enforce`) takes from the state: the rate
/// limits alone.
impl FromRef<AppState> for Arc<RateLimits> {
    fn from_ref(state: &AppState) -> Self {
        state.inner.rate_limits.clone()
    }
}
