//! The standalone backend: the engine builds and publishes to its own directory. Its write
//! lock orders concurrent writes, and whether an upsert created the layer is decided under it
//! (exact even when writes to the same layer race, with no second lock here).

use std::sync::Arc;

use jessy_engine::registry::LayerSource;
use jessy_engine::usage::FeedbackItem;
use jessy_engine::{Engine, LearnReport};

use super::{blocking, refuse_parent, Suggestion, Written};
use crate::error::CoreError;

pub(super) async fn upsert_layer(
    engine: &Arc<Engine>,
    dimension: &str,
    layer: LayerSource,
) -> Result<Written, CoreError> {
    let (engine, dimension) = (engine.clone(), dimension.to_string());
    blocking("layer write", move || {
        let upserted = engine.upsert_layer(&dimension, layer)?;
        Ok(Written {
            generation: upserted.generation,
            created: upserted.created,
        })
    })
    .await
}

pub(super) async fn delete_layer(
    engine: &Arc<Engine>,
    dimension: &str,
    layer: &str,
) -> Result<Written, CoreError> {
    let (engine, dimension, layer) = (engine.clone(), dimension.to_string(), layer.to_string());
    blocking("layer write", move || {
        refuse_parent(&engine, &dimension, &layer)?;
        let generation = engine.delete_layer(&dimension, &layer)?;
        Ok(Written {
            generation,
            created: false,
        })
    })
    .await
}

pub(super) async fn record_feedback(
    engine: &Arc<Engine>,
    items: Vec<FeedbackItem>,
) -> Result<usize, CoreError> {
    let engine = engine.clone();
    blocking("feedback", move || Ok(engine.record_feedback(&items)?)).await
}

pub(super) async fn learn(engine: &Arc<Engine>) -> Result<LearnReport, CoreError> {
    let engine = engine.clone();
    blocking("learning", move || Ok(engine.learn()?)).await
}

pub(super) async fn accept_suggestion(
    engine: &Arc<Engine>,
    suggestion: Suggestion,
) -> Result<Written, CoreError> {
    let engine = engine.clone();
    blocking("accept", move || {
        let upserted = engine.accept_suggestion(
            &suggestion.id,
            &suggestion.dimension,
            &suggestion.layer,
            &suggestion.name,
        )?;
        if let Err(e) = engine.save_inbox() {
            tracing::warn!(error = %e, "saving the no-match inbox");
        }
        Ok(Written {
            generation: upserted.generation,
            created: upserted.created,
        })
    })
    .await
}
