//! Building the next generation through the cluster: jessy-cluster's build protocol
//! ([`jessy_cluster::BuildTx`]) driven for one write, and `jessy cluster push`.
//!
//! What a write builds is its caller's ([`crate::writer`]); this module runs it at the right
//! moment: under the build lock, on an engine caught up with the cluster's current generation,
//! on the blocking pool, and publishes what it returns before acknowledging anything.

use std::path::Path;

use anyhow::Context as _;
use jessy_cluster::source::SourceRows;
use jessy_cluster::{ClusterError, Connection, GenerationHead, SourceChange};
use jessy_engine::usage::FeedbackRecord;
use jessy_engine::{Engine, Prepared, Registry};

use super::Cluster;
use crate::error::CoreError;

/// What a write reads from the cluster, under the build lock, before it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Nothing beyond the current generation (layer writes).
    Nothing,
    /// The whole feedback log (learning).
    Feedback,
}

/// What a write's build step produced.
pub(crate) struct Built<R> {
    /// The caller's answer.
    pub(crate) answer: R,
    /// The next generation and the source change recorded with it; `None` publishes nothing.
    pub(crate) publish: Option<(Prepared, SourceChange)>,
}

/// Why a cluster build failed: the cluster (database) or the write itself.
enum Failure {
    Cluster(ClusterError),
    Core(CoreError),
}

impl From<ClusterError> for Failure {
    fn from(error: ClusterError) -> Failure {
        Failure::Cluster(error)
    }
}

impl Cluster {
    /// Runs one write through the cluster (see the parent module's docs): `build` gets the
    /// engine (caught up with the cluster), the next generation's number and, with
    /// [`Reads::Feedback`], the cluster's feedback log; it runs on the blocking pool, and what
    /// it returns to publish is stored and committed before this returns. Returns `build`'s
    /// answer and the generation published, if any. A database failure is answered as
    /// [`CoreError::NotReady`] (the write was not applied; the client may retry).
    pub(crate) async fn write<R, B>(
        &self,
        reads: Reads,
        build: B,
    ) -> Result<(R, Option<u64>), CoreError>
    where
        R: Send + 'static,
        B: FnOnce(&Engine, u64, Vec<FeedbackRecord>) -> Result<Built<R>, CoreError>
            + Send
            + 'static,
    {
        let _sync = self.inner.sync.lock().await;
        let mut writer = self.inner.writer.lock().await;
        let result = match self.connected(&mut writer).await {
            Ok(connection) => self.write_in(connection, reads, build).await,
            Err(error) => Err(Failure::Cluster(error)),
        };
        if let Err(Failure::Cluster(error)) = &result {
            self.note_failure(&mut writer, error);
        }
        let (answer, published) = result.map_err(|failure| match failure {
            Failure::Cluster(error) => unavailable(error),
            Failure::Core(error) => error,
        })?;
        let Some((prepared, head)) = published else {
            return Ok((answer, None));
        };
        let generation = prepared.generation;
        // Committed: the write is durable in the cluster. Installing here makes it visible to
        // this core's next query; if that fails the follower installs it later.
        if let Err(error) = self.install_bytes(prepared.bytes, head).await {
            tracing::error!(%error, generation, "a committed generation failed to install locally; the follower will retry");
        }
        Ok((answer, Some(generation)))
    }

    async fn write_in<R, B>(
        &self,
        connection: &mut Connection,
        reads: Reads,
        build: B,
    ) -> Result<(R, Option<(Prepared, GenerationHead)>), Failure>
    where
        R: Send + 'static,
        B: FnOnce(&Engine, u64, Vec<FeedbackRecord>) -> Result<Built<R>, CoreError>
            + Send
            + 'static,
    {
        let tx = connection.begin_build().await?;
        let current = tx.current().await?.ok_or_else(|| {
            Failure::Core(CoreError::NotReady(
                "the cluster is not seeded yet; retry once this core has joined".to_string(),
            ))
        })?;
        // Behind (a notification not yet handled)? Catch up first: the next generation is
        // built from the cluster's current one, never from an older local one.
        self.install_locked(current.clone(), tx.fetch(&current))
            .await?;
        let feedback = match reads {
            Reads::Nothing => Vec::new(),
            Reads::Feedback => tx
                .feedback()
                .await?
                .into_iter()
                .map(|stored| FeedbackRecord {
                    text: stored.record.text,
                    layer: stored.record.layer,
                    query_id: stored.record.query_id,
                })
                .collect(),
        };
        let engine = self.inner.engine.clone();
        let next = current.generation + 1;
        let built = tokio::task::spawn_blocking(move || build(&engine, next, feedback))
            .await
            .map_err(|e| {
                Failure::Core(CoreError::internal(anyhow::anyhow!(
                    "build task failed: {e}"
                )))
            })?
            .map_err(Failure::Core)?;
        let Some((prepared, change)) = built.publish else {
            // Nothing to publish (a refused learning run or write): release the lock, change
            // nothing.
            tx.commit().await?;
            return Ok((built.answer, None));
        };
        let head = tx
            .publish(
                next,
                Some(current.generation),
                &prepared.bytes,
                &self.inner.node,
                &change,
            )
            .await?;
        tx.commit().await?;
        Ok((built.answer, Some((prepared, head))))
    }
}

fn unavailable(error: ClusterError) -> CoreError {
    tracing::warn!(%error, "cluster write failed");
    CoreError::NotReady(format!(
        "the cluster database is unavailable, the write was not applied: {error}"
    ))
}

/// `jessy cluster push`: makes the snapshot in `snapshot` the cluster's generation — its
/// first (seeding an empty cluster explicitly), or, with `replace`, its next one, renumbered
/// to follow the current generation. Every core follows within a notification. Returns what
/// was published.
pub async fn push(url: &str, snapshot: &Path, replace: bool) -> anyhow::Result<GenerationHead> {
    let engine = Engine::open_read_only(snapshot)
        .with_context(|| format!("cannot open the snapshot in {}", snapshot.display()))?;
    let mut connection = Connection::open(url).await?;
    connection.migrate().await?;
    let tx = connection.begin_build().await?;
    let current = tx.current().await?;
    if let (Some(current), false) = (&current, replace) {
        anyhow::bail!(
            "the cluster already holds generation {} (digest {}); pass --replace to publish this snapshot as its next generation",
            current.generation,
            current.digest
        );
    }
    let generation = current
        .as_ref()
        .map_or(engine.stats().generation, |c| c.generation + 1);
    let bytes = engine.current_bytes_as(generation)?;
    let rows = source_rows(&engine.registry());
    let head = tx
        .publish(
            generation,
            current.as_ref().map(|c| c.generation),
            &bytes,
            "jessy cluster push",
            &SourceChange::Replace(rows),
        )
        .await?;
    tx.commit().await?;
    Ok(head)
}

/// The registry source of `registry` as the cluster's rows.
pub(crate) fn source_rows(registry: &Registry) -> SourceRows {
    let source = registry.to_source();
    let mut rows = SourceRows {
        name: source.name.clone(),
        description: source.description.clone(),
        out_of_scope: source.out_of_scope.clone(),
        ..SourceRows::default()
    };
    for dimension in &source.dimensions {
        for layer in &dimension.layers {
            rows.layers.push((
                dimension.id.clone(),
                layer.id.clone(),
                serde_json::to_value(layer).unwrap_or(serde_json::Value::Null),
            ));
        }
        let mut header = dimension.clone();
        header.layers.clear();
        rows.dimensions.push((
            dimension.id.clone(),
            serde_json::to_value(&header).unwrap_or(serde_json::Value::Null),
        ));
    }
    rows.calibration = registry
        .validation_lines()
        .map(|(text, label)| {
            (
                text.to_string(),
                label.map(|(d, l)| (d.to_string(), l.to_string())),
            )
        })
        .collect();
    rows
}
