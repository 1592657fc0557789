//! Extractors whose rejections use the shared error contract.
//!
//! axum's own `Json` and `Path` answer malformed input with plain-text bodies and their own
//! status choices; these wrappers read the same input but fail with [`CoreError`], with the
//! codes and statuses of [`jessy_protocol`] (the gateway decodes with the same functions).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use jessy_protocol::body::{check_content_type, parse_json_object};
use jessy_protocol::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::CoreError;
use crate::state::AppState;

/// A JSON object request body, limited by `--max-body-bytes`.
///
/// A missing `Content-Type` is accepted (curl and load generators often omit it); a present one
/// must be JSON. The body must be one JSON object (see
/// [`jessy_protocol::body::parse_json_object`]).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T> FromRequest<AppState> for JsonBody<T>
where
    T: DeserializeOwned,
{
    type Rejection = CoreError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        check_content_type(request.headers())?;
        let limit = state.config().max_body_bytes;
        let bytes = jessy_http::body::body_bytes(request, state, limit).await?;
        Ok(JsonBody(parse_json_object(&bytes)?))
    }
}

/// Path parameters, with decoding failures as 400 `invalid_path`.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = CoreError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|rejection| CoreError::request(ErrorCode::InvalidPath, rejection.body_text()))
    }
}
