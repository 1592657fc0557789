//! The writer: every change a request makes to the registry or its usage data, in either mode.
//!
//! A core runs standalone (its engine publishes to its own directory, [`local`]) or as a
//! replica of a cluster (writes are built under the cluster's build lock and committed to
//! PostgreSQL before they are acknowledged, [`cluster`]). Routes do not know which: they parse,
//! call one method of [`Writer`], and shape its answer. The rules a write obeys are here, once,
//! so the same request gets the same answer in both modes:
//!
//! - **Children** ([`refuse_parent`]): a layer with child layers is not deleted. Both
//!   backends check it on the engine they build from, just before the deletion (in cluster
//!   mode under the build lock, on the generation caught up with the cluster).
//! - **Validation**: the engine validates every candidate registry before publishing it, in
//!   both backends (`Engine::upsert_layer` and `Engine::prepare_upsert` share it).
//! - **History** ([`Writer::upsert_layer`], [`Writer::delete_layer`]): a layer write leaves a
//!   change note for its generation in this core's history, fsync'd before the answer.
//! - **Metrics and triggers**: every write's duration, every feedback batch's counts and the
//!   automatic learner's trigger, recorded whatever the backend answered.
//!
//! The backends only do what differs: where the generation is built and made durable.

mod cluster;
mod local;

use std::sync::Arc;
use std::time::Instant;

use jessy_engine::registry::LayerSource;
use jessy_engine::usage::FeedbackItem;
use jessy_engine::{Engine, LearnReport};

use crate::error::{CoreError, ErrorCode};
use crate::state::AppState;

/// The outcome of a layer write, the same in both modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The generation holding the write: durable (committed to the cluster, in cluster mode)
    /// and current on this core when this is returned.
    pub generation: u64,
    /// For an upsert: whether the layer was new (rather than a replacement). Always `false`
    /// for a deletion.
    pub created: bool,
}

/// The service layer under the write routes. Cheap to make: it holds a clone of the state.
#[derive(Debug, Clone)]
pub struct Writer {
    state: AppState,
}

/// Where a write is built and made durable.
enum Backend<'a> {
    /// This core's engine and directory.
    Local(&'a Arc<Engine>),
    /// The cluster this core replicates.
    Cluster(&'a crate::cluster::Cluster),
}

impl Writer {
    /// The writer of `state`'s core (cluster mode when the state has a cluster).
    pub fn new(state: AppState) -> Writer {
        Writer { state }
    }

    fn backend(&self) -> Backend<'_> {
        match self.state.cluster() {
            Some(cluster) => Backend::Cluster(cluster),
            None => Backend::Local(self.state.engine()),
        }
    }

    /// Creates or replaces layer `layer.id` of `dimension` and publishes a new generation.
    pub async fn upsert_layer(
        &self,
        dimension: &str,
        layer: LayerSource,
    ) -> Result<Written, CoreError> {
        let (dimension, id) = (dimension.to_string(), layer.id.clone());
        let started = Instant::now();
        let written = match self.backend() {
            Backend::Local(engine) => local::upsert_layer(engine, &dimension, layer).await,
            Backend::Cluster(cluster) => cluster::upsert_layer(cluster, &dimension, layer).await,
        };
        self.state
            .metrics()
            .record_write("upsert", started.elapsed().as_secs_f64());
        let written = written?;
        let verb = if written.created {
            "created"
        } else {
            "replaced"
        };
        self.note(written.generation, format!("{verb} layer {dimension}/{id}"))
            .await;
        tracing::info!(%dimension, layer = %id, generation = written.generation, created = written.created, "layer written");
        Ok(written)
    }

    /// Deletes layer `layer` of `dimension` and publishes a new generation. Refused when the
    /// layer has children ([`refuse_parent`]) or is its dimension's last.
    pub async fn delete_layer(&self, dimension: &str, layer: &str) -> Result<Written, CoreError> {
        let started = Instant::now();
        let written = match self.backend() {
            Backend::Local(engine) => local::delete_layer(engine, dimension, layer).await,
            Backend::Cluster(cluster) => cluster::delete_layer(cluster, dimension, layer).await,
        };
        self.state
            .metrics()
            .record_write("delete", started.elapsed().as_secs_f64());
        let written = written?;
        self.note(
            written.generation,
            format!("deleted layer {dimension}/{layer}"),
        )
        .await;
        tracing::info!(%dimension, %layer, generation = written.generation, "layer deleted");
        Ok(written)
    }

    /// Records a batch of feedback (all or nothing, durable before this returns) and returns
    /// how many records the feedback log holds: this core's log, or the cluster's (where a
    /// learning run on any core finds it).
    pub async fn record_feedback(&self, items: Vec<FeedbackItem>) -> Result<usize, CoreError> {
        let routed = items.iter().filter(|item| item.layer.is_some()).count() as u64;
        let no_match = items.len() as u64 - routed;
        let count = items.len();
        let total = match self.backend() {
            Backend::Local(engine) => local::record_feedback(engine, items).await?,
            Backend::Cluster(cluster) => cluster::record_feedback(cluster, items).await?,
        };
        self.state.metrics().record_feedback(routed, no_match);
        self.state.learner().feedback_arrived(count);
        Ok(total)
    }

    /// Runs one learning pass now (after a running one finishes): learns from the feedback
    /// log, and publishes the learned generation only if its regression guard passes. The
    /// report says which.
    pub async fn learn(&self) -> Result<LearnReport, CoreError> {
        let _one_at_a_time = self.state.learner().begin_run().await;
        let started = Instant::now();
        let report = match self.backend() {
            Backend::Local(engine) => local::learn(engine).await?,
            Backend::Cluster(cluster) => cluster::learn(cluster).await?,
        };
        self.state
            .metrics()
            .record_learn(report.published, started.elapsed().as_secs_f64());
        tracing::info!(
            published = report.published,
            generation = report.generation,
            feedback_used = report.feedback_used,
            before = report.before.in_scope_accuracy,
            after = report.after.in_scope_accuracy,
            duration_ms = report.duration_ms,
            "learning run: {}",
            report.reason
        );
        Ok(report)
    }

    /// Accepts suggestion `id` of this core's no-match inbox: creates layer `layer` (named
    /// `name`) of `dimension` with the suggestion's queries as examples, then removes them
    /// from the inbox.
    pub async fn accept_suggestion(
        &self,
        id: &str,
        dimension: &str,
        layer: &str,
        name: &str,
    ) -> Result<Written, CoreError> {
        let suggestion = Suggestion {
            id: id.to_string(),
            dimension: dimension.to_string(),
            layer: layer.to_string(),
            name: name.to_string(),
        };
        match self.backend() {
            Backend::Local(engine) => local::accept_suggestion(engine, suggestion).await,
            Backend::Cluster(cluster) => cluster::accept_suggestion(cluster, suggestion).await,
        }
    }

    /// Leaves the change note of `generation` in this core's history (fsync'd, on the blocking
    /// pool). In cluster mode only the core that took the write has the note: the others
    /// install the generation without one.
    async fn note(&self, generation: u64, change: String) {
        let state = self.state.clone();
        let _ = blocking("history", move || {
            state.history().record(state.engine(), generation, change);
            Ok(())
        })
        .await;
    }
}

/// What accepting a suggestion asks for.
struct Suggestion {
    id: String,
    dimension: String,
    layer: String,
    name: String,
}

/// The children rule: a layer with child layers is not deleted, with a message that names
/// them. It is friendlier than what the engine's validation would say (an "unknown parent" on
/// each child); a child added concurrently is still refused by that validation.
pub(crate) fn refuse_parent(
    engine: &Engine,
    dimension: &str,
    layer: &str,
) -> Result<(), CoreError> {
    let Ok(detail) = crate::views::layer_detail(&engine.registry(), dimension, layer) else {
        // An unknown dimension or layer: the deletion itself says so.
        return Ok(());
    };
    if detail.children.is_empty() {
        return Ok(());
    }
    Err(CoreError::request(
        ErrorCode::InvalidLayer,
        format!(
            "layer {layer:?} has child layers {}; delete or re-parent them first",
            detail.children.join(", ")
        ),
    ))
}

/// Runs `work` on the blocking pool inside the caller's span: writes retrain and fsync
/// (milliseconds to seconds), so the async workers keep answering queries meanwhile. A write
/// is not cancelled by its client going away: the task runs to the end and what it publishes
/// is durable.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Result<T, CoreError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|join| CoreError::internal(anyhow::anyhow!("{what} task failed: {join}")))?
}
