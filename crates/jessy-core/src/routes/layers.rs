//! Layer writes: `PUT` creates or replaces a layer, `DELETE` removes one.
//!
//! A write retrains the routing model and fsyncs a new snapshot generation: milliseconds to
//! seconds. It runs on tokio's blocking pool so the async workers keep answering queries, and
//! queries keep reading the generation they loaded until the engine swaps in the new one
//! atomically. Writes are not cancelled by a client going away: the blocking task finishes and
//! the generation it publishes is durable (see [`crate::Config::request_timeout_ms`] for why
//! writes have no timeout).

use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use jessy_engine::registry::{Keyword, LayerSource};
use jessy_engine::WriteError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody, ErrorCode};
use crate::extract::{JsonBody, PathParams};
use crate::state::AppState;
use crate::views;

/// The body of `PUT /v1/dimensions/{id}/layers/{layer}`. The layer id is the path's.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerWrite {
    /// Human name.
    pub name: String,
    /// Parent layer id in the same dimension; `null` or absent for a root layer.
    #[serde(default)]
    pub parent: Option<String>,
    /// Terms that signal the layer: plain strings (weight 1) or `{term, weight}`.
    #[serde(default)]
    pub keywords: Vec<KeywordInput>,
    /// Utterances that should route to the layer. A layer needs keywords or examples.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Tone in Hz, inside the dimension's range.
    pub frequency: f32,
    /// Markdown returned as context when the layer applies.
    #[serde(default)]
    pub content: String,
}

/// A keyword as written by a client.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum KeywordInput {
    /// A term with weight 1.
    Plain(String),
    /// A term with an explicit weight.
    Weighted(WeightedKeyword),
}

/// A keyword with a weight.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedKeyword {
    /// The term.
    pub term: String,
    /// Relative importance, finite and > 0.
    pub weight: f32,
}

impl LayerWrite {
    /// The engine's layer source for layer `id`.
    pub fn into_source(self, id: String) -> LayerSource {
        LayerSource {
            id,
            name: self.name,
            parent: self.parent,
            frequency: self.frequency,
            keywords: self
                .keywords
                .into_iter()
                .map(|k| match k {
                    KeywordInput::Plain(term) => Keyword::Plain(term),
                    KeywordInput::Weighted(WeightedKeyword { term, weight }) => {
                        Keyword::Weighted { term, weight }
                    }
                })
                .collect(),
            examples: self.examples,
            content: self.content,
        }
    }
}

/// The answer to a successful write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WriteOutcome {
    /// Dimension id.
    pub dimension: String,
    /// Layer id.
    pub layer: String,
    /// The generation that contains the change; it is durable and current when this returns.
    pub generation: u64,
    /// For `PUT`: whether the layer was new (201) rather than replaced (200).
    pub created: bool,
    /// For `DELETE`: true.
    pub deleted: bool,
}

/// Creates or replaces a layer and publishes a new generation.
#[utoipa::path(
    put,
    path = "/v1/dimensions/{id}/layers/{layer}",
    tag = "registry",
    params(
        ("id" = String, Path, description = "Dimension id"),
        ("layer" = String, Path, description = "Layer id (a slug: [a-z0-9][a-z0-9_-]*)"),
    ),
    request_body = LayerWrite,
    responses(
        (status = 201, description = "Layer created", body = WriteOutcome),
        (status = 200, description = "Layer replaced", body = WriteOutcome),
        (status = 400, description = "`invalid_json`, `invalid_utf8` or `invalid_path`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such dimension", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the body did not arrive within `--body-read-timeout-ms`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid_layer` (every problem listed) or `invalid_body`", body = ErrorBody),
        (status = 503, description = "`overloaded`", body = ErrorBody),
    )
)]
pub(crate) async fn put(
    State(state): State<AppState>,
    PathParams((dimension, layer)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<LayerWrite>,
) -> Result<Response, CoreError> {
    let source = body.into_source(layer.clone());
    let (created, generation) = if let Some(cluster) = state.cluster() {
        // Cluster mode: built under the cluster's build lock and committed to PostgreSQL
        // before it is acknowledged (see `crate::cluster`).
        let started = Instant::now();
        let note = format!("layer {dimension}/{}", source.id);
        let written = cluster.upsert_layer(&dimension, source).await;
        state
            .metrics()
            .record_write("upsert", started.elapsed().as_secs_f64());
        let written = written?;
        let verb = if written.created {
            "created"
        } else {
            "replaced"
        };
        // This core's history only: the other cores install the generation without a note.
        let history_state = state.clone();
        let generation = written.generation;
        let _ = tokio::task::spawn_blocking(move || {
            history_state
                .history()
                .record(generation, format!("{verb} {note}"))
        })
        .await;
        (written.created, written.generation)
    } else {
        // `created` is decided by the engine under its own write lock: exact even when writes to
        // the same layer race, with no second lock here.
        let written = run_write(&state, "upsert", {
            let dimension = dimension.clone();
            move |state| {
                let note = format!("layer {dimension}/{}", source.id);
                let written = state.engine().upsert_layer(&dimension, source)?;
                let verb = if written.created {
                    "created"
                } else {
                    "replaced"
                };
                // On the blocking pool with the write: the note is fsync'd.
                state
                    .history()
                    .record(written.generation, format!("{verb} {note}"));
                Ok(written)
            }
        })
        .await?;
        (written.created, written.generation)
    };
    tracing::info!(%dimension, %layer, generation, created, "layer written");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = json(
        status,
        &WriteOutcome {
            dimension: dimension.clone(),
            layer: layer.clone(),
            generation,
            created,
            deleted: false,
        },
    )?;
    if created {
        if let Ok(location) =
            HeaderValue::from_str(&format!("/v1/dimensions/{dimension}/layers/{layer}"))
        {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    Ok(response)
}

/// Deletes a layer and publishes a new generation.
#[utoipa::path(
    delete,
    path = "/v1/dimensions/{id}/layers/{layer}",
    tag = "registry",
    params(
        ("id" = String, Path, description = "Dimension id"),
        ("layer" = String, Path, description = "Layer id"),
    ),
    responses(
        (status = 200, description = "Layer deleted", body = WriteOutcome),
        (status = 404, description = "`not_found`: no such dimension or layer", body = ErrorBody),
        (status = 422, description = "`invalid_layer`: the layer has children, or is the dimension's last", body = ErrorBody),
        (status = 503, description = "`overloaded`", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    PathParams((dimension, layer)): PathParams<(String, String)>,
) -> Result<Response, CoreError> {
    let generation = if let Some(cluster) = state.cluster() {
        let started = Instant::now();
        let generation = cluster.delete_layer(&dimension, &layer).await;
        state
            .metrics()
            .record_write("delete", started.elapsed().as_secs_f64());
        let generation = generation?;
        tracing::info!(%dimension, %layer, generation, "layer deleted through the cluster");
        let (history_state, note) = (state.clone(), format!("deleted layer {dimension}/{layer}"));
        let _ =
            tokio::task::spawn_blocking(move || history_state.history().record(generation, note))
                .await;
        generation
    } else {
        let ((), generation) = run_write(&state, "delete", {
            let (dimension, layer) = (dimension.clone(), layer.clone());
            move |state| {
                // A friendlier refusal than the validator's "unknown parent" on each child (a
                // child added concurrently is still refused by the engine's validation).
                if let Ok(detail) =
                    views::layer_detail(&state.engine().registry(), &dimension, &layer)
                {
                    if !detail.children.is_empty() {
                        return Err(CoreError::request(
                            ErrorCode::InvalidLayer,
                            format!(
                                "layer {layer:?} has child layers {}; delete or re-parent them first",
                                detail.children.join(", ")
                            ),
                        ));
                    }
                }
                let generation = state.engine().delete_layer(&dimension, &layer)?;
                state
                    .history()
                    .record(generation, format!("deleted layer {dimension}/{layer}"));
                Ok(((), generation))
            }
        })
        .await?;
        tracing::info!(%dimension, %layer, generation, "layer deleted");
        generation
    };
    json(
        StatusCode::OK,
        &WriteOutcome {
            dimension,
            layer,
            generation,
            created: false,
            deleted: true,
        },
    )
}

/// Runs a write on the blocking pool, inside the request's span, and records its duration.
async fn run_write<T: Send + 'static>(
    state: &AppState,
    op: &'static str,
    write: impl FnOnce(&AppState) -> Result<T, CoreError> + Send + 'static,
) -> Result<T, CoreError> {
    let span = tracing::Span::current();
    let task_state = state.clone();
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || span.in_scope(|| write(&task_state)))
        .await
        .map_err(|join| CoreError::internal(anyhow::anyhow!("layer write task failed: {join}")))?;
    state
        .metrics()
        .record_write(op, started.elapsed().as_secs_f64());
    outcome
}

impl From<WriteError> for CoreError {
    fn from(error: WriteError) -> CoreError {
        match error {
            WriteError::UnknownDimension(dimension) => {
                CoreError::NotFound(format!("unknown dimension {dimension:?}"))
            }
            WriteError::UnknownLayer { dimension, layer } => CoreError::NotFound(format!(
                "unknown layer {layer:?} in dimension {dimension:?}"
            )),
            WriteError::Invalid(invalid) if !invalid.problems().is_empty() => {
                // The messages only: the file names in the problems are the engine's internal
                // bookkeeping for a registry that came from the API, not from files.
                let problems: Vec<&str> = invalid
                    .problems()
                    .iter()
                    .map(|p| p.message.as_str())
                    .collect();
                CoreError::request(
                    ErrorCode::InvalidLayer,
                    format!(
                        "the layer is invalid ({} problem(s)): {}",
                        problems.len(),
                        problems.join("; ")
                    ),
                )
            }
            other => CoreError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_accept_both_forms() {
        let body: LayerWrite = serde_json::from_str(
            r#"{"name": "N", "frequency": 1.0, "keywords": ["a", {"term": "b", "weight": 2.5}]}"#,
        )
        .unwrap();
        let source = body.into_source("x".into());
        assert_eq!(
            source.keywords,
            vec![
                Keyword::Plain("a".into()),
                Keyword::Weighted {
                    term: "b".into(),
                    weight: 2.5
                }
            ]
        );
        assert_eq!(source.parent, None);
        assert!(source.examples.is_empty());
        assert!(serde_json::from_str::<LayerWrite>(
            r#"{"name": "N", "frequency": 1.0, "keywords": [{"term": "b"}]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<LayerWrite>(
            r#"{"name": "N", "frequency": 1.0, "id": "x"}"#
        )
        .is_err());
    }

    #[test]
    fn write_errors_map_to_statuses() {
        let not_found: CoreError = WriteError::UnknownDimension("nope".into()).into();
        assert_eq!(not_found.code().as_str(), "not_found");
        let problems = jessy_engine::registry::RegistryError::Invalid(vec![
            jessy_engine::registry::ValidationError::new(
                std::path::Path::new("dimensions/x.toml"),
                "layer \"a\": unknown parent \"b\"",
            ),
            jessy_engine::registry::ValidationError::new(
                std::path::Path::new("dimensions/x.toml"),
                "layer \"a\": empty name",
            ),
        ]);
        let invalid: CoreError = WriteError::Invalid(problems).into();
        assert_eq!(invalid.code().as_str(), "invalid_layer");
        let message = invalid.to_string();
        assert!(
            message.contains("unknown parent") && message.contains("empty name"),
            "{message}"
        );
        assert!(!message.contains("toml"), "{message}");
    }
}
