//! The dimension catalogue, relayed to the same paths under a core's `/v1`:
//! `GET /api/v1/dimensions[/{id}[/layers/{layer}]]` (scope `query`), and layer writes,
//! `PUT`/`DELETE /api/v1/dimensions/{id}/layers/{layer}` (scope `write`), which the gateway
//! forwards with the core admin token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::Router;
use jessy_protocol::body::parse_json_object;
use jessy_protocol::ErrorCode;
use serde::de::DeserializeOwned;

use crate::auth::{Authorized, QueryScope, WriteScope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::{UpstreamCall, UpstreamResponse};
use jessy_http::RequestId;

/// Longest id or layer name forwarded; registry identifiers are short, and the cap keeps
/// a client from making the gateway build huge upstream URLs.
const MAX_SEGMENT_LEN: usize = 256;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dimensions", get(list))
        .route("/api/v1/dimensions/{id}", get(dimension))
        .route(
            "/api/v1/dimensions/{id}/layers/{layer}",
            get(layer).put(put_layer).delete(delete_layer),
        )
}

/// Path parameters whose decoding failures (a `%ff` that is not UTF-8) are 400 `invalid_path`
/// in the shared JSON shape, like the core's, instead of axum's plain-text rejection.
struct PathParams<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|rejection| ApiError::request(ErrorCode::InvalidPath, rejection.body_text()))
    }
}

/// A layer body: JSON media type, at most [`MAX_BODY_BYTES`], one JSON object. Its fields are
/// the core's to judge (the core answers 422 `invalid_layer` / `invalid_body`); the gateway
/// relays the bytes it checked.
struct LayerBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for LayerBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = crate::validation::json_body_bytes(request, state).await?;
        parse_json_object::<serde_json::Map<String, serde_json::Value>>(&bytes)?;
        Ok(LayerBody(bytes))
    }
}

/// Rejects path segments that could not name anything: empty, over-long, or the dot segments
/// `.`/`..` (which URL building would drop, silently turning a request into another route).
fn segment(value: String) -> Result<String, ApiError> {
    if value.is_empty() || value.len() > MAX_SEGMENT_LEN || value == "." || value == ".." {
        return Err(ApiError::NotFound);
    }
    Ok(value)
}

fn layer_path(id: String, layer: String) -> Result<[String; 5], ApiError> {
    Ok([
        "v1".to_owned(),
        "dimensions".to_owned(),
        segment(id)?,
        "layers".to_owned(),
        segment(layer)?,
    ])
}

async fn list(
    _: Authorized<QueryScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get(["v1", "dimensions"]);
    state.upstreams().forward(&call, &request_id).await
}

async fn dimension(
    _: Authorized<QueryScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    PathParams(id): PathParams<String>,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get(["v1".to_owned(), "dimensions".to_owned(), segment(id)?]);
    state.upstreams().forward(&call, &request_id).await
}

async fn layer(
    _: Authorized<QueryScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    PathParams((id, layer)): PathParams<(String, String)>,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get(layer_path(id, layer)?);
    state.upstreams().forward(&call, &request_id).await
}

/// The call with the core admin token, when one is configured.
pub(super) fn with_core_token(state: &AppState, call: UpstreamCall) -> UpstreamCall {
    match state.core_token() {
        Some(token) => call.with_bearer(token.expose()),
        None => call,
    }
}

async fn put_layer(
    _: Authorized<WriteScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    PathParams((id, layer)): PathParams<(String, String)>,
    LayerBody(body): LayerBody,
) -> Result<UpstreamResponse, ApiError> {
    let call = with_core_token(&state, UpstreamCall::put_json(layer_path(id, layer)?, body));
    state.upstreams().forward(&call, &request_id).await
}

async fn delete_layer(
    _: Authorized<WriteScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    PathParams((id, layer)): PathParams<(String, String)>,
) -> Result<UpstreamResponse, ApiError> {
    let call = with_core_token(&state, UpstreamCall::delete(layer_path(id, layer)?));
    state.upstreams().forward(&call, &request_id).await
}
