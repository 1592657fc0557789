//! The state every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use jessy_engine::Engine;

use crate::config::Config;
use crate::metrics::Metrics;
use jessy_http::Secret;

/// A handle to the running service: the engine, its metrics, the configuration and the
/// draining flag. Cloning bumps one reference count, so axum can hand a clone to every request.
///
/// The engine itself holds the current snapshot generation behind an atomic pointer: a query
/// loads it once and keeps it for its whole run, so a concurrent write never blocks or tears a
/// read. The state therefore needs no lock on the read path.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    metrics: Metrics,
    config: Config,
    /// Set when shutdown begins: `/ready` then answers 503 so a balancer stops sending traffic
    /// while in-flight requests finish.
    draining: AtomicBool,
    /// The OpenAPI document, rendered once: it is a function of the code, not of the data.
    openapi: Bytes,
    /// Who may write layers.
    write_access: WriteAccess,
    /// Cluster mode: the cluster this core replicates (layer writes go through it).
    cluster: Option<crate::cluster::Cluster>,
    /// Learning triggers.
    learner: crate::learner::Learner,
    /// Change notes of published generations.
    history: crate::history::History,
    /// Permits to run the sentence encoder: one per blocking worker, so escalated queries
    /// queue here (bounded) rather than piling onto tokio's blocking pool.
    encoder_permits: Arc<tokio::sync::Semaphore>,
}

/// Who may call the layer-write routes, decided once at start from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteAccess {
    /// Callers presenting this admin token (`Authorization: Bearer <token>`).
    Token(Secret),
    /// Anyone: no token configured and `--allow-unauthenticated-writes` given.
    Open,
    /// Nobody: no token configured (or an unreadable token file) and writes not opened.
    Disabled,
}

impl WriteAccess {
    /// The policy `config` asks for. A token file that cannot be read disables writes (fail
    /// closed); [`Config::validate`], which the binary and `jessy serve` run first, reports it.
    pub fn from_config(config: &Config) -> WriteAccess {
        match config.write_token() {
            Ok(Some(token)) => WriteAccess::Token(token),
            Ok(None) if config.allow_unauthenticated_writes => {
                tracing::warn!("layer writes need no credential (--allow-unauthenticated-writes): anyone who reaches this port can change the registry");
                WriteAccess::Open
            }
            Ok(None) => WriteAccess::Disabled,
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "admin token unusable; layer writes are disabled");
                WriteAccess::Disabled
            }
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .field("generation", &self.inner.engine.stats().generation)
            .field("draining", &self.is_draining())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over a loaded engine, with a fresh metrics recorder of its own (never the
    /// process-global one, so several states can live in one process).
    pub fn new(engine: Arc<Engine>, config: Config) -> AppState {
        AppState::with_cluster(engine, config, None)
    }

    /// [`AppState::new`] for a core in cluster mode (`cluster` is `Some`).
    pub fn with_cluster(
        engine: Arc<Engine>,
        config: Config,
        cluster: Option<crate::cluster::Cluster>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                metrics: Metrics::new(),
                draining: AtomicBool::new(false),
                openapi: Bytes::from(crate::openapi::document_json()),
                write_access: WriteAccess::from_config(&config),
                learner: crate::learner::Learner::new(config.learn_after),
                history: crate::history::History::new(engine.dir()),
                engine,
                encoder_permits: Arc::new(tokio::sync::Semaphore::new(
                    config.encoder_worker_count(),
                )),
                config,
                cluster,
            }),
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// The automatic learner's triggers.
    pub fn learner(&self) -> &crate::learner::Learner {
        &self.inner.learner
    }

    /// The metrics recorder and its handle.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The cluster, in cluster mode.
    pub fn cluster(&self) -> Option<&crate::cluster::Cluster> {
        self.inner.cluster.as_ref()
    }

    /// The writer: every registry write and usage-data change goes through it, in either
    /// mode (see [`crate::writer`]).
    pub fn writer(&self) -> crate::writer::Writer {
        crate::writer::Writer::new(self.clone())
    }

    /// The generation history's change notes.
    pub fn history(&self) -> &crate::history::History {
        &self.inner.history
    }

    /// The encoder workers' permits (see [`crate::Config::encoder_workers`]).
    pub fn encoder_permits(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inner.encoder_permits
    }

    /// Who may write layers.
    pub fn write_access(&self) -> &WriteAccess {
        &self.inner.write_access
    }

    /// The configuration the service was started with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Marks the service as draining: `/ready` answers 503 from now on. Called by
    /// [`crate::serve`] when its shutdown signal fires.
    pub fn begin_drain(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    pub(crate) fn openapi_json(&self) -> Bytes {
        self.inner.openapi.clone()
    }
}
