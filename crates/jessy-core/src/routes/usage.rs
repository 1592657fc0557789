//! Learning from usage over HTTP: `POST /v1/feedback`, `POST /v1/learn`,
//! `GET /v1/suggestions` and `POST /v1/suggestions/{id}/accept`. All need the admin token
//! (the gateway adds it for keys with the `write` scope).
//!
//! Feedback is fsync'd before the answer, and learning retrains the model: both run on the
//! blocking pool, so queries never wait behind them. What happens in which mode is the
//! writer's ([`crate::writer::Writer`]); the handlers parse and shape the answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jessy_engine::usage::{FeedbackError, FeedbackItem, FeedbackTarget, Suggestion};
use jessy_engine::{AcceptError, LearnError};
use jessy_protocol::feedback::{decode_feedback, FeedbackQuery, MAX_FEEDBACK_ITEMS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody, ErrorCode};
use crate::extract::{JsonBody, PathParams};
use crate::state::AppState;

const _: () = assert!(MAX_FEEDBACK_ITEMS == jessy_engine::usage::MAX_FEEDBACK_BATCH);

/// The answer to accepted feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeedbackAccepted {
    /// Items accepted (all of the request's).
    pub accepted: usize,
    /// Records in the feedback log now.
    pub feedback_total: usize,
}

/// Records feedback: one item or an array of up to 1,000. All or nothing; durable before
/// the answer.
#[utoipa::path(
    post,
    path = "/v1/feedback",
    tag = "learning",
    request_body(content = Object, description = "`{\"query_id\"|\"text\": …, \"layer\": \"dimension/layer\" | null}` or an array of up to 1,000 of them"),
    responses(
        (status = 200, description = "Accepted and durable", body = FeedbackAccepted),
        (status = 400, description = "`invalid_json` or `invalid_utf8`", body = ErrorBody),
        (status = 404, description = "`not_found`: unknown or expired query id", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: more than 1,000 items or 1 MiB", body = ErrorBody),
        (status = 422, description = "`invalid_layer` (names the unknown layer) or `invalid_body`", body = ErrorBody),
    )
)]
pub(crate) async fn feedback(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, CoreError> {
    let items: Vec<FeedbackItem> = decode_feedback(&body)?
        .into_iter()
        .map(|f| FeedbackItem {
            target: match f.query {
                FeedbackQuery::QueryId(id) => FeedbackTarget::QueryId(id),
                FeedbackQuery::Text(text) => FeedbackTarget::Text(text),
            },
            layer: f.layer,
        })
        .collect();
    let count = items.len();
    let total = state.writer().record_feedback(items).await?;
    json(
        StatusCode::OK,
        &FeedbackAccepted {
            accepted: count,
            feedback_total: total,
        },
    )
}

/// Learns from the recorded feedback now: retrains, re-calibrates, and publishes only if the
/// regression guard passes. Answers with the learning report either way.
#[utoipa::path(
    post,
    path = "/v1/learn",
    tag = "learning",
    responses(
        (status = 200, description = "The learning report (`published` says whether a generation was published)", body = Object),
    )
)]
pub(crate) async fn learn(State(state): State<AppState>) -> Result<Response, CoreError> {
    let report = crate::learner::learn_now(&state).await?;
    json(StatusCode::OK, &report)
}

/// The no-match inbox grouped into suggested layers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuggestionList {
    /// Distinct unrouted queries in the inbox.
    pub inbox: usize,
    /// Suggested layers, largest first.
    #[schema(value_type = Vec<Object>)]
    pub suggestions: Vec<Suggestion>,
}

/// Lists suggested layers grouped from the queries nobody routed.
#[utoipa::path(
    get,
    path = "/v1/suggestions",
    tag = "learning",
    responses((status = 200, description = "Suggestions", body = SuggestionList))
)]
pub(crate) async fn suggestions(State(state): State<AppState>) -> Result<Response, CoreError> {
    let engine = state.engine().clone();
    let list = tokio::task::spawn_blocking(move || SuggestionList {
        inbox: engine.inbox_entries().len(),
        suggestions: engine.suggestions(),
    })
    .await
    .map_err(|e| CoreError::internal(anyhow::anyhow!("suggestions task failed: {e}")))?;
    json(StatusCode::OK, &list)
}

/// What accepting a suggestion creates.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptSuggestion {
    /// Dimension of the new layer.
    pub dimension: String,
    /// Id of the new layer.
    pub layer: String,
    /// Name of the new layer.
    pub name: String,
}

/// The layer an accepted suggestion created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Dimension id.
    pub dimension: String,
    /// Layer id.
    pub layer: String,
    /// The generation that contains it.
    pub generation: u64,
}

/// Creates a layer from a suggestion (its queries as examples) and publishes a generation.
#[utoipa::path(
    post,
    path = "/v1/suggestions/{id}/accept",
    tag = "learning",
    params(("id" = String, Path, description = "Suggestion id")),
    request_body = AcceptSuggestion,
    responses(
        (status = 201, description = "Layer created", body = Accepted),
        (status = 404, description = "`not_found`: no such suggestion or dimension", body = ErrorBody),
        (status = 422, description = "`invalid_layer`", body = ErrorBody),
    )
)]
pub(crate) async fn accept(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<AcceptSuggestion>,
) -> Result<Response, CoreError> {
    let written = state
        .writer()
        .accept_suggestion(&id, &body.dimension, &body.layer, &body.name)
        .await?;
    json(
        StatusCode::CREATED,
        &Accepted {
            dimension: body.dimension,
            layer: body.layer,
            generation: written.generation,
        },
    )
}

impl From<FeedbackError> for CoreError {
    fn from(error: FeedbackError) -> CoreError {
        match error {
            FeedbackError::UnknownLayer { .. } => {
                CoreError::request(ErrorCode::InvalidLayer, error.to_string())
            }
            FeedbackError::UnknownQueryId { .. } => CoreError::NotFound(error.to_string()),
            FeedbackError::TooMany { .. } => {
                CoreError::request(ErrorCode::PayloadTooLarge, error.to_string())
            }
            FeedbackError::Empty | FeedbackError::EmptyText { .. } => {
                CoreError::request(ErrorCode::InvalidBody, error.to_string())
            }
            other => CoreError::internal(other),
        }
    }
}

impl From<AcceptError> for CoreError {
    fn from(error: AcceptError) -> CoreError {
        match error {
            AcceptError::UnknownSuggestion(_) => CoreError::NotFound(error.to_string()),
            AcceptError::Write(write) => write.into(),
            other => CoreError::internal(other),
        }
    }
}

impl From<LearnError> for CoreError {
    fn from(error: LearnError) -> CoreError {
        match error {
            LearnError::Feedback(f) => f.into(),
            LearnError::Write(w) => w.into(),
            other => CoreError::internal(other),
        }
    }
}
