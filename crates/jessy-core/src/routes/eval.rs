//! `POST /v1/eval`: evaluate the current generation on an uploaded labelled JSONL file (the
//! import format, `{"text", "dimension", "layer"}` a line, `"layer": null` out of scope).
//!
//! The figures are [`jessy_engine::eval::evaluate`]'s, the same `jessy eval` prints; the
//! confused pairs and the threshold sweep are [`crate::quality`]'s. The body is bounded by
//! [`EVAL_MAX_BODY_BYTES`] and [`EVAL_MAX_LINES`]: an evaluation runs every line twice on the
//! blocking pool (tens of microseconds each), so the bounds keep one upload to about a
//! second of one core. A line that is not a labelled example is 422 `invalid_body` naming the
//! line, and nothing is evaluated.

use std::path::Path;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jessy_engine::dataset::{parse_jsonl, DatasetError};
use jessy_engine::eval::EvalReport;
use jessy_http::body::JsonlUpload;
use jessy_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody};
use crate::quality::{self, QualityDetail};
use crate::state::AppState;

/// Largest upload: jessy-http's JSONL bound, 4 MiB (about 50,000 short labelled lines;
/// CLINC150's test split is 0.4 MB), the same the gateway relays.
pub const EVAL_MAX_BODY_BYTES: usize = jessy_http::body::MAX_UPLOAD_BYTES;

/// Most labelled lines evaluated in one request.
pub const EVAL_MAX_LINES: usize = 20_000;

/// The answer of `POST /v1/eval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EvalAnswer {
    /// The generation evaluated (the current one when the evaluation started; a write
    /// published during the run is not waited for).
    pub generation: u64,
    /// `jessy eval`'s figures.
    #[schema(value_type = Object)]
    pub report: EvalReport,
    /// Confused pairs and the threshold sweep.
    pub quality: QualityDetail,
}

/// Evaluates the current generation on the uploaded lines.
#[utoipa::path(
    post,
    path = "/v1/eval",
    tag = "registry",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "Labelled JSONL: `{\"text\", \"dimension\", \"layer\"}` a line; `\"layer\": null` marks out of scope"),
    responses(
        (status = 200, description = "Figures, confused pairs and the threshold sweep", body = EvalAnswer),
        (status = 413, description = "`payload_too_large`: over 4 MiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_body`: a line that is not a labelled example (named), no lines, or too many", body = ErrorBody),
        (status = 503, description = "`overloaded`", body = ErrorBody),
    )
)]
pub(crate) async fn eval(
    State(state): State<AppState>,
    JsonlUpload(body): JsonlUpload,
) -> Result<Response, CoreError> {
    let examples = parse_jsonl(&body, Path::new("upload")).map_err(|error| match error {
        DatasetError::Line { line, message, .. } => {
            CoreError::request(ErrorCode::InvalidBody, format!("line {line}: {message}"))
        }
        other => CoreError::request(ErrorCode::InvalidBody, other.to_string()),
    })?;
    if examples.is_empty() {
        return Err(CoreError::request(
            ErrorCode::InvalidBody,
            "the upload has no labelled lines",
        ));
    }
    if examples.len() > EVAL_MAX_LINES {
        return Err(CoreError::request(
            ErrorCode::InvalidBody,
            format!(
                "the upload has {} labelled lines; at most {EVAL_MAX_LINES} are evaluated in one request",
                examples.len()
            ),
        ));
    }
    let span = tracing::Span::current();
    let engine = state.engine().clone();
    let answer = tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            let generation = engine.stats().generation;
            let report = jessy_engine::eval::evaluate(&engine, &examples, |_| {});
            let quality = quality::analyze(&engine, &examples);
            tracing::info!(
                lines = examples.len(),
                generation,
                accuracy = report.in_scope_accuracy,
                "evaluated an upload"
            );
            EvalAnswer {
                generation,
                report,
                quality,
            }
        })
    })
    .await
    .map_err(|join| CoreError::internal(anyhow::anyhow!("evaluation task failed: {join}")))?;
    json(StatusCode::OK, &answer)
}
