//! Learning from usage, relayed to the core with its admin token:
//! `POST /api/v1/feedback` (scope `write`), `GET /api/v1/suggestions` and
//! `POST /api/v1/suggestions/{id}/accept` (scope `write`), `POST /api/v1/learn` (scope
//! `admin`).
//!
//! Feedback bodies are decoded with the core's own rules ([`decode_feedback`]) before they
//! are forwarded, so a bad body costs the core nothing and gets the same answer from either
//! port.
//!
//! Feedback naming queries by id goes to the core that issued the ids: a `query_id` names a
//! query in the memory of the core that answered it, and every core says which id prefix it
//! issues in its health answer. A batch whose ids come from several cores (or from a core that
//! is gone) is balanced as usual, and ids another core issued are `404` there; send the text
//! when in doubt.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::routing::{get, post};
use axum::Router;
use jessy_protocol::body::{check_content_type, parse_json_object};
use jessy_protocol::feedback::{decode_feedback, FeedbackQuery, MAX_FEEDBACK_BODY_BYTES};
use jessy_protocol::ProtocolError;

use super::dimensions::with_core_token;
use crate::auth::{AdminScope, Authorized, WriteScope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::{UpstreamCall, UpstreamResponse};
use jessy_http::RequestId;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/feedback", post(feedback))
        .route("/api/v1/learn", post(learn))
        .route("/api/v1/suggestions", get(suggestions))
        .route("/api/v1/suggestions/{id}/accept", post(accept))
}

/// A feedback body: JSON media type, at most [`MAX_FEEDBACK_BODY_BYTES`], valid by the
/// shared rules; with the one query-id prefix its items name, if they name exactly one.
struct FeedbackBody(Bytes, Option<String>);

impl<S: Send + Sync> FromRequest<S> for FeedbackBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        check_content_type(request.headers())?;
        let bytes = axum::body::to_bytes(request.into_body(), MAX_FEEDBACK_BODY_BYTES)
            .await
            .map_err(|_| ProtocolError::payload_too_large(MAX_FEEDBACK_BODY_BYTES))?;
        let items = decode_feedback(&bytes)?;
        let mut prefixes = items.iter().filter_map(|item| match &item.query {
            FeedbackQuery::QueryId(id) => id.split_once('-').map(|(prefix, _)| prefix),
            FeedbackQuery::Text(_) => None,
        });
        let first = prefixes.next();
        let issuer = match first {
            Some(first) if prefixes.all(|p| p == first) => Some(first.to_string()),
            _ => None,
        };
        Ok(FeedbackBody(bytes, issuer))
    }
}

async fn feedback(
    _: Authorized<WriteScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    FeedbackBody(body, issuer): FeedbackBody,
) -> Result<UpstreamResponse, ApiError> {
    let call = with_core_token(
        &state,
        UpstreamCall::post_json(["v1", "feedback"], body).as_write(),
    );
    match issuer {
        Some(prefix) => {
            state
                .upstreams()
                .forward_to_issuer(&call, &request_id, &prefix)
                .await
        }
        None => state.upstreams().forward(&call, &request_id).await,
    }
}

async fn learn(
    _: Authorized<AdminScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Result<UpstreamResponse, ApiError> {
    let call = with_core_token(
        &state,
        UpstreamCall::post_json(["v1", "learn"], Bytes::new()).as_write(),
    );
    state.upstreams().forward(&call, &request_id).await
}

async fn suggestions(
    _: Authorized<WriteScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Result<UpstreamResponse, ApiError> {
    let call = with_core_token(&state, UpstreamCall::get(["v1", "suggestions"]));
    state.upstreams().forward(&call, &request_id).await
}

async fn accept(
    _: Authorized<WriteScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Result<UpstreamResponse, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound);
    }
    parse_json_object::<serde_json::Map<String, serde_json::Value>>(&body)?;
    let call = with_core_token(
        &state,
        UpstreamCall::post_json(
            [
                "v1".to_owned(),
                "suggestions".to_owned(),
                id,
                "accept".to_owned(),
            ],
            body,
        )
        .as_write(),
    );
    state.upstreams().forward(&call, &request_id).await
}
