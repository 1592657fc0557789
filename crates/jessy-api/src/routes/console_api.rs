//! The gateway routes the console needs beyond queries and the dimension catalogue:
//!
//! | route | key scope | forwards to |
//! | --- | --- | --- |
//! | `GET /api/v1/whoami` | any valid key | — (the key's name and scopes) |
//! | `GET /api/v1/generations` | `query` | `GET /v1/generations` |
//! | `POST /api/v1/eval` | `admin` | `POST /v1/eval` |
//!
//! `whoami` lets a client (the console) show only what its key may do without trying each
//! route. `eval` needs `admin`: one request runs every uploaded line through the engine twice,
//! thousands of queries for one rate-limit token, so it is an operator's tool, not a client's.
//! Its body may be up to [`UPLOAD_MAX_BODY_BYTES`], more than the 64 KiB of every other route,
//! so it is mounted in its own group ([`upload_router`]) with its own body reader.

use axum::extract::{Request, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jessy_http::body::{read_body_in_time, BodyRead, JsonlUpload, MAX_UPLOAD_BYTES};
use jessy_http::RequestId;
use serde::Serialize;

use crate::auth::{AdminScope, Authorized, Caller, QueryScope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::{UpstreamCall, UpstreamResponse};
use crate::{auth, rate_limit};

/// Largest eval upload the gateway relays: jessy-http's JSONL bound, the core's own limit for
/// `POST /v1/eval`.
pub const UPLOAD_MAX_BODY_BYTES: usize = MAX_UPLOAD_BYTES;

/// Routes mounted with the other authenticated `/api/v1` routes (64 KiB bodies).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/generations", get(generations))
}

/// `POST /api/v1/eval` with its own middleware: authentication and rate limiting as on every
/// `/api/v1` route, and a body reader with the upload limit.
pub(crate) fn upload_router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/eval", post(eval))
        .route_layer(axum::extract::DefaultBodyLimit::max(UPLOAD_MAX_BODY_BYTES))
        .route_layer(from_fn_with_state(
            BodyRead {
                limit: UPLOAD_MAX_BODY_BYTES,
                timeout: state.body_read_timeout(),
            },
            read_body_in_time,
        ))
        .route_layer(from_fn_with_state(state.clone(), rate_limit::enforce))
        .route_layer(from_fn_with_state(state, auth::require_api_key))
}

/// The answer of `GET /api/v1/whoami`.
#[derive(Debug, Serialize)]
struct WhoAmI {
    /// The key's name in the keys file.
    name: String,
    /// Its scopes, in file order.
    scopes: Vec<&'static str>,
}

async fn whoami(request: Request) -> Result<Response, ApiError> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "whoami without authentication: the auth layer is missing"
            ))
        })?;
    let scopes = crate::auth::Scope::ALL
        .into_iter()
        .filter(|s| caller.scopes.contains(*s))
        .map(crate::auth::Scope::as_str)
        .collect();
    Ok(Json(WhoAmI {
        name: caller.name.to_string(),
        scopes,
    })
    .into_response())
}

async fn generations(
    _: Authorized<QueryScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::get(["v1", "generations"]);
    state.upstreams().forward(&call, &request_id).await
}

/// Relayed to the core as `application/json` (the media type [`UpstreamCall`] sends), which
/// the core's eval route accepts for JSONL uploads.
async fn eval(
    _: Authorized<AdminScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    JsonlUpload(body): JsonlUpload,
) -> Result<UpstreamResponse, ApiError> {
    let call = UpstreamCall::post_json(["v1", "eval"], body);
    state.upstreams().forward(&call, &request_id).await
}
