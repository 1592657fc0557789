//! `POST /v1/query`: route a text through the engine.
//!
//! The query runs on the request's own task: it takes microseconds and never blocks, so moving
//! it to a blocking pool would cost more than it saves.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jessy_engine::ParseError;
use jessy_engine::QueryOptions;
use jessy_engine::Outcome;
use serde::Deserialize;
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody};
use crate::extract::JsonBody;
use crate::state::AppState;

/// Largest `max_iterations` accepted: the engine's convergence cap.
const MAX_ITERATIONS: u32 = jessy_engine::MAX_ITERATIONS;

/// The request body.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The text to route: at least one word, at most 10,000 bytes.
    #[schema(example = "my python script crashes with a KeyError")]
    pub query: String,
    /// Per-query options; each one defaults to the engine's default.
    #[serde(default)]
    pub options: Option<QueryRequestOptions>,
}

/// Per-query options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequestOptions {
    /// Convergence iteration cap, 1–9 (default 9).
    #[schema(minimum = 1, maximum = 9)]
    pub max_iterations: Option<u32>,
    /// Token budget of the assembled context (default 2,000).
    pub token_budget: Option<u32>,
    /// Whether to put layer content into the context (default true).
    pub include_content: Option<bool>,
}

impl QueryRequestOptions {
    /// The engine options, with defaults filled in and ranges checked.
    pub fn resolve(&self) -> Result<QueryOptions, CoreError> {
        let defaults = QueryOptions::default();
        let max_iterations = self.max_iterations.unwrap_or(defaults.max_iterations);
        if !(1..=MAX_ITERATIONS).contains(&max_iterations) {
            return Err(CoreError::invalid_request(format!(
                "options.max_iterations is {max_iterations}; it must be between 1 and {MAX_ITERATIONS}"
            )));
        }
        Ok(QueryOptions {
            max_iterations,
            token_budget: self.token_budget.unwrap_or(defaults.token_budget),
            include_content: self.include_content.unwrap_or(defaults.include_content),
        })
    }
}

/// The engine's `QueryResult`, exactly as `jessy query --json` prints it.
///
/// The result type lives in jessy-engine, which has no OpenAPI dependency; this schema names
/// its top-level fields and leaves the nested objects open. A test serializes a real result
/// and checks its keys against these properties, so the two cannot drift apart silently.
#[derive(ToSchema)]
#[schema(as = QueryResult)]
#[allow(dead_code)] // a schema description only; never constructed
pub struct QueryResultSchema {
    /// The query as received.
    query: String,
    /// `matched` or `no_match`.
    #[schema(pattern = "^(matched|no_match)$")]
    outcome: String,
    /// Why nothing matched (absent when matched).
    no_match_reason: Option<String>,
    /// Snapshot generation that answered.
    generation: u64,
    /// Active dimensions, strongest first, each with its chosen layer path.
    #[schema(value_type = Vec<Object>)]
    dimensions: Vec<serde_json::Value>,
    /// The most likely layers overall: `{dimension, layer, confidence}`.
    #[schema(value_type = Vec<Object>)]
    top_layers: Vec<serde_json::Value>,
    /// Interference summary: dominant frequency, pairs, harmonics, balance.
    #[schema(value_type = Object)]
    interference: serde_json::Value,
    /// Convergence summary and per-iteration trace.
    #[schema(value_type = Object)]
    convergence: serde_json::Value,
    /// The security dimension's verdict.
    #[schema(value_type = Object)]
    safety: serde_json::Value,
    /// Prompt-ready context: text, tokens, budget, sources.
    #[schema(value_type = Object)]
    context: serde_json::Value,
    /// Microseconds per stage: parse, scan, interference, convergence, context, total.
    #[schema(value_type = Object)]
    timings_us: serde_json::Value,
}

/// Routes a query through the whole pipeline.
#[utoipa::path(
    post,
    path = "/v1/query",
    tag = "query",
    request_body = QueryRequest,
    params(("x-request-id" = Option<String>, Header, description = "Echoed back; generated when absent")),
    responses(
        (status = 200, description = "The routing decision and context", body = QueryResultSchema),
        (status = 400, description = "`invalid_json` or `empty_query`", body = ErrorBody),
        (status = 413, description = "`payload_too_large` or `query_too_long`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_request`: unknown field, wrong type, option out of range", body = ErrorBody),
        (status = 503, description = "`overloaded` or `timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn query(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<QueryRequest>,
) -> Result<Response, CoreError> {
    let options = request.options.unwrap_or_default().resolve()?;
    let result = state
        .engine()
        .query(&request.query, &options)
        .map_err(parse_error)?;
    state
        .metrics()
        .record_query(result.outcome == Outcome::Matched, &result.timings_us);
    json(StatusCode::OK, &result)
}

/// The engine's parse errors are the client's: an empty or over-long query.
fn parse_error(error: ParseError) -> CoreError {
    let message = error.to_string();
    match error {
        ParseError::Empty => CoreError::BadRequest {
            code: "empty_query",
            message,
        },
        ParseError::TooLong { .. } => CoreError::TooLarge {
            code: "query_too_long",
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_range() {
        let defaults = QueryRequestOptions::default().resolve().unwrap();
        assert_eq!(defaults, QueryOptions::default());
        let custom = QueryRequestOptions {
            max_iterations: Some(1),
            token_budget: Some(10),
            include_content: Some(false),
        }
        .resolve()
        .unwrap();
        assert_eq!(
            custom,
            QueryOptions {
                max_iterations: 1,
                token_budget: 10,
                include_content: false
            }
        );
        for bad in [0, 10, u32::MAX] {
            let err = QueryRequestOptions {
                max_iterations: Some(bad),
                ..Default::default()
            }
            .resolve()
            .unwrap_err();
            assert_eq!(err.code(), "invalid_request");
        }
    }
}
