//! The cluster backend: each write is a build through the cluster ([`Cluster::write`]: under
//! the build lock, on an engine caught up with the cluster, committed before it is
//! acknowledged). This module says what each write builds and which source change it records.

use jessy_cluster::SourceChange;
use jessy_engine::registry::LayerSource;
use jessy_engine::usage::FeedbackItem;
use jessy_engine::{Engine, LearnReport};

use super::{blocking, refuse_parent, Suggestion, Written};
use crate::cluster::{source_rows, Built, Cluster, Reads};
use crate::error::CoreError;

pub(super) async fn upsert_layer(
    cluster: &Cluster,
    dimension: &str,
    layer: LayerSource,
) -> Result<Written, CoreError> {
    let change = SourceChange::Upsert {
        dimension: dimension.to_string(),
        id: layer.id.clone(),
        body: serde_json::to_value(&layer).map_err(CoreError::internal)?,
    };
    let dimension = dimension.to_string();
    let (created, generation) = cluster
        .write(Reads::Nothing, move |engine, generation, _| {
            let prepared = engine.prepare_upsert(&dimension, layer, generation)?;
            Ok(Built {
                answer: prepared.created,
                publish: Some((prepared, change)),
            })
        })
        .await?;
    Ok(Written {
        generation: generation.ok_or_else(nothing_published)?,
        created,
    })
}

pub(super) async fn delete_layer(
    cluster: &Cluster,
    dimension: &str,
    layer: &str,
) -> Result<Written, CoreError> {
    let change = SourceChange::Delete {
        dimension: dimension.to_string(),
        id: layer.to_string(),
    };
    let (dimension, layer) = (dimension.to_string(), layer.to_string());
    let ((), generation) = cluster
        .write(Reads::Nothing, move |engine, generation, _| {
            // Checked under the build lock, on the generation the deletion is built from.
            refuse_parent(engine, &dimension, &layer)?;
            let prepared = engine.prepare_delete(&dimension, &layer, generation)?;
            Ok(Built {
                answer: (),
                publish: Some((prepared, change)),
            })
        })
        .await?;
    Ok(Written {
        generation: generation.ok_or_else(nothing_published)?,
        created: false,
    })
}

/// Validates and resolves the batch here (query ids are this core's), then commits it to the
/// cluster's feedback log.
pub(super) async fn record_feedback(
    cluster: &Cluster,
    items: Vec<FeedbackItem>,
) -> Result<usize, CoreError> {
    let engine = cluster.engine().clone();
    let records = blocking("feedback", move || Ok(engine.resolve_feedback(&items)?)).await?;
    let received_at = std::time::SystemTime::now();
    let rows: Vec<_> = records
        .into_iter()
        .map(|r| jessy_cluster::feedback::FeedbackRecord {
            text: r.text,
            layer: r.layer,
            query_id: r.query_id,
            received_at,
        })
        .collect();
    cluster.append_feedback(&rows).await.map_err(|error| {
        tracing::warn!(%error, "recording feedback in the cluster failed");
        CoreError::NotReady(format!(
            "the cluster database is unavailable, the feedback was not recorded: {error}"
        ))
    })
}

/// Learns from the cluster's whole feedback log (every core's): under the build lock, caught
/// up to the current generation, the engine learns exactly as a standalone core does
/// ([`Engine::prepare_learn`]: the same fold, guard and build), and a candidate that passes
/// the guard is stored as the next generation with the learned registry source, then installed
/// here; the other cores follow it. A refused candidate publishes nothing. Layer writes
/// anywhere in the cluster wait for the run (one builder at a time).
pub(super) async fn learn(cluster: &Cluster) -> Result<LearnReport, CoreError> {
    let (mut report, generation) = cluster
        .write(Reads::Feedback, |engine, generation, records| {
            let (report, prepared) = engine.prepare_learn(&records, generation)?;
            let publish = match prepared {
                None => None,
                Some(prepared) => {
                    let learned = Engine::from_bytes(&prepared.bytes)
                        .map_err(|e| CoreError::internal(anyhow::anyhow!("{e}")))?;
                    let rows = source_rows(&learned.registry());
                    Some((prepared, SourceChange::Replace(rows)))
                }
            };
            Ok(Built {
                answer: report,
                publish,
            })
        })
        .await?;
    if let Some(generation) = generation {
        report.published = true;
        report.generation = generation;
    }
    Ok(report)
}

/// The suggested layer is written through the cluster like any layer write, then its queries
/// leave this core's inbox.
pub(super) async fn accept_suggestion(
    cluster: &Cluster,
    suggestion: Suggestion,
) -> Result<Written, CoreError> {
    let engine = cluster.engine().clone();
    let dimension = suggestion.dimension.clone();
    let suggested = blocking("accept", move || {
        Ok(engine.suggested_layer(
            &suggestion.id,
            &suggestion.dimension,
            &suggestion.layer,
            &suggestion.name,
        )?)
    })
    .await?;
    let written = upsert_layer(cluster, &dimension, suggested.layer).await?;
    let engine = cluster.engine().clone();
    let members = suggested.members;
    let _ = blocking("inbox", move || {
        engine.forget_unrouted(&members);
        if let Err(e) = engine.save_inbox() {
            tracing::warn!(error = %e, "saving the no-match inbox");
        }
        Ok(())
    })
    .await;
    Ok(written)
}

/// A layer write's build step always publishes; a build that did not is a bug, answered as an
/// internal error rather than a panic.
fn nothing_published() -> CoreError {
    CoreError::internal(anyhow::anyhow!(
        "a layer write through the cluster published no generation"
    ))
}
