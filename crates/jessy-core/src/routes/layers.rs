//! Layer writes: `PUT` creates or replaces a layer, `DELETE` removes one.
//!
//! A write retrains the routing model and fsyncs a new snapshot generation: milliseconds to
//! seconds. The handlers only parse and shape the answer; the write itself, and every rule it
//! obeys in both modes, is the writer's ([`crate::writer::Writer`]). It runs on tokio's
//! blocking pool so the async workers keep answering queries, and queries keep reading the
//! generation they loaded until the engine swaps in the new one atomically. Writes are not
//! cancelled by a client going away: the blocking task finishes and the generation it
//! publishes is durable (see [`crate::Config::request_timeout_ms`] for why writes have no
//! timeout).

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
    let written = state.writer().upsert_layer(&dimension, source).await?;
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = json(
        status,
        &WriteOutcome {
            dimension: dimension.clone(),
            layer: layer.clone(),
            generation: written.generation,
            created: written.created,
            deleted: false,
        },
    )?;
    if written.created {
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
    let written = state.writer().delete_layer(&dimension, &layer).await?;
    json(
        StatusCode::OK,
        &WriteOutcome {
            dimension,
            layer,
            generation: written.generation,
            created: false,
            deleted: true,
        },
    )
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
