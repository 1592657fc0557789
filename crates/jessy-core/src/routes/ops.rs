//! Operator endpoints: Prometheus metrics and the OpenAPI document.
//!
//! `/metrics` is served on the same port as the API. The engine has no authentication and is
//! meant to sit on a private network behind jessy-api (the compose file publishes it on the
//! host's loopback only), so a separate metrics port would add configuration without adding
//! protection.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Prometheus text exposition (format 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics().render(state.engine());
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This API's OpenAPI 3 description, generated from the handlers and types.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
