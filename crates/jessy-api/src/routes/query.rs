//! `POST /api/v1/query`: validate, forward to a core's `POST /v1/query`, relay the answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;

use crate::auth::{Authorized, QueryScope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::{UpstreamCall, UpstreamResponse};
use crate::validation::{QueryRequest, ValidatedQuery};
use jessy_http::RequestId;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/query", post(query))
}

/// The core's result is relayed byte for byte (status included), so the gateway adds no
/// parsing cost and no way to corrupt a result.
async fn query(
    _: Authorized<QueryScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ValidatedQuery(request): ValidatedQuery,
) -> Result<UpstreamResponse, ApiError> {
    let call = query_call(&request)?;
    state.upstreams().forward(&call, &request_id).await
}

/// The upstream call for a validated query: the re-serialised request, so only fields the
/// gateway understood reach the core. Shared with the WebSocket stream.
pub(crate) fn query_call(request: &QueryRequest) -> Result<UpstreamCall, ApiError> {
    let body = serde_json::to_vec(request)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot serialise query: {e}")))?;
    Ok(UpstreamCall::post_json(["v1", "query"], Bytes::from(body)))
}
