//! Read-only dimension catalogue: `GET /api/v1/dimensions[/{id}[/layers/{layer}]]`, relayed
//! to the same paths under a core's `/v1`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::RequestId;
use crate::upstream::{UpstreamCall, UpstreamResponse};

/// Longest id or layer name forwarded; registry identifiers are short, and the cap keeps
/// a client from making the gateway build huge upstream URLs.
const MAX_SEGMENT_LEN: usize = 256;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dimensions", get(list))
        .route("/api/v1/dimensions/{id}", get(dimension))
        .route("/api/v1/dimensions/{id}/layers/{layer}", get(layer))
}

/// Rejects path segments that could not name anything: empty, over-long, or the dot segments
/// `.`/`..` (which URL building would drop, silently turning a request into another route).
fn segment(value: String) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > MAX_SEGMENT_LEN || value == "." || value == ".." {
        return Err(ApiError::NotFound);
    }
    Ok(value)
}

async fn list(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get(["v1", "dimensions"]);
    state.upstreams().forward(&call, &request_id).await
}

async fn dimension(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get(["v1".to_owned(), "dimensions".to_owned(), segment(id)?]);
    state.upstreams().forward(&call, &request_id).await
}

async fn layer(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Path((id, layer)): Path<(String, String)>,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get([
        "v1".to_owned(),
        "dimensions".to_owned(),
        segment(id)?,
        "layers".to_owned(),
        segment(layer)?,
    ]);
    state.upstreams().forward(&call, &request_id).await
}
