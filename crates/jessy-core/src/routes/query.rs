//! `POST /v1/query`: route a text through the engine.
//!
//! The query runs on the request's own task: it takes microseconds and never blocks, so moving
//! it to a blocking pool would cost more than it saves.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use jessy_engine::QueryOptions as EngineOptions;
use jessy_engine::{FastQuery, Outcome, ParseError};
pub use jessy_protocol::{QueryOptions, QueryRequest};
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody, ErrorCode};
use crate::extract::JsonBody;
use crate::state::AppState;

// The wire limits (shared with the gateway, which does not link the engine) are the engine's.
const _: () = assert!(
    jessy_protocol::limits::MAX_ITERATIONS == jessy_engine::MAX_ITERATIONS
        && jessy_protocol::limits::MAX_QUERY_BYTES == jessy_engine::MAX_QUERY_BYTES
);

/// The engine options for a request's (already validated) options, defaults filled in.
pub fn engine_options(options: Option<&QueryOptions>) -> EngineOptions {
    let defaults = EngineOptions::default();
    let Some(options) = options else {
        return defaults;
    };
    EngineOptions {
        max_iterations: options.max_iterations.unwrap_or(defaults.max_iterations),
        token_budget: options.token_budget.unwrap_or(defaults.token_budget),
        include_content: options.include_content.unwrap_or(defaults.include_content),
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
    /// Names this query for `POST /v1/feedback` while the core remembers it (the last 100,000).
    query_id: String,
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
        (status = 400, description = "`invalid_json` or `invalid_utf8`", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the body did not arrive within `--body-read-timeout-ms`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody),
        (status = 422, description = "`invalid_body` (not an object, unknown field, wrong type), `empty_query`, `query_too_long` or `invalid_option`", body = ErrorBody),
        (status = 503, description = "`overloaded` or `timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn query(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<QueryRequest>,
) -> Result<Response, CoreError> {
    // The same rules, in the same order, as the gateway's: one contract for both ports.
    request.validate()?;
    let options = engine_options(request.options.as_ref());
    let result = match state
        .engine()
        .query_fast(&request.query, &options)
        .map_err(parse_error)?
    {
        FastQuery::Answered(result) => *result,
        // The semantic cascade escalated: the encoder takes milliseconds of CPU, so it runs
        // on a blocking worker (at most `--encoder-workers` at once), never on the runtime's
        // threads where it would hold up the fast queries behind it.
        FastQuery::NeedsEncoder => {
            let permit = state
                .encoder_permits()
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| CoreError::internal(anyhow::anyhow!("encoder pool closed")))?;
            let engine = state.engine().clone();
            let text = request.query;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                engine.query(&text, &options)
            })
            .await
            .map_err(|e| CoreError::internal(anyhow::anyhow!("encoder worker failed: {e}")))?
            .map_err(parse_error)?
        }
    };
    state
        .metrics()
        .record_query(result.outcome == Outcome::Matched, &result.timings_us);
    if let Some(trace) = &result.cascade {
        state.metrics().record_cascade(trace);
    }
    json(StatusCode::OK, &result)
}

/// The engine's parse errors are the client's. The request was validated already, so only a
/// query without words (punctuation only, say) still gets here; the mapping is total anyway.
fn parse_error(error: ParseError) -> CoreError {
    let message = error.to_string();
    let code = match error {
        ParseError::Empty => ErrorCode::EmptyQuery,
        ParseError::TooLong { .. } => ErrorCode::QueryTooLong,
    };
    CoreError::request(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_fill_in() {
        assert_eq!(engine_options(None), EngineOptions::default());
        assert_eq!(
            engine_options(Some(&QueryOptions::default())),
            EngineOptions::default()
        );
        let custom = QueryOptions {
            max_iterations: Some(1),
            token_budget: Some(10),
            include_content: Some(false),
        };
        custom.validate().unwrap();
        assert_eq!(
            engine_options(Some(&custom)),
            EngineOptions {
                max_iterations: 1,
                token_budget: 10,
                include_content: false
            }
        );
        for bad in [0, 10, u32::MAX] {
            let err = QueryOptions {
                max_iterations: Some(bad),
                ..Default::default()
            }
            .validate()
            .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidOption);
        }
    }
}
