//! The core's own middleware: metrics, the request timeout, the admin-token check, load-shed
//! errors and the fallbacks for unknown routes and methods.
//!
//! Request ids, the access log, body reading and the accept loop are `jessy-http`'s, shared
//! with the gateway ([`crate::routes::app`] stacks them).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::BoxError;

use crate::error::{CoreError, ErrorCode};
use crate::metrics::method_label;
use crate::state::AppState;

/// Records each request's metrics by route pattern, status and error code.
pub(crate) async fn record_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = jessy_http::observe::RouteLabel::of(&request);
    let response = next.run(request).await;
    let code = response.extensions().get::<ErrorCode>().map(|c| c.as_str());
    state.metrics().record_request(
        method,
        route.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
        code,
    );
    response
}

/// Bounds a read request, once its body has arrived, by `--request-timeout-ms`.
pub(crate) async fn read_timeout(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.config().request_timeout();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => CoreError::Timeout {
            after_ms: state.config().request_timeout_ms,
        }
        .into_response(),
    }
}

/// Guards the layer-write routes by [`crate::WriteAccess`]: with a token, a request without
/// `Authorization: Bearer <token>` or with another token is 401 `unauthorized`; with writes
/// disabled every write is 403 `writes_disabled`. Runs before the body is read.
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match state.write_access() {
        crate::WriteAccess::Open => next.run(request).await,
        crate::WriteAccess::Disabled => CoreError::request(
            ErrorCode::WritesDisabled,
            "layer writes are disabled on this core: start it with --admin-token-file (or JESSY_ADMIN_TOKEN), or with --allow-unauthenticated-writes",
        )
        .into_response(),
        crate::WriteAccess::Token(token) => {
            if token.matches_bearer(request.headers()) {
                return next.run(request).await;
            }
            let mut response = CoreError::request(
                ErrorCode::Unauthorized,
                "layer writes need Authorization: Bearer <admin token>",
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"jessy-core\""),
            );
            response
        }
    }
}

/// Turns the load shedder's refusal into 503 `overloaded`.
pub(crate) async fn shed_error(error: BoxError) -> CoreError {
    if error.is::<tower::load_shed::error::Overloaded>() {
        CoreError::Overloaded
    } else {
        CoreError::internal(anyhow::anyhow!("middleware error: {error}"))
    }
}

/// No route matches the path.
pub(crate) async fn not_found(method: Method, uri: Uri) -> CoreError {
    CoreError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// The path exists, the method does not (axum adds the `Allow` header).
pub(crate) async fn method_not_allowed() -> CoreError {
    CoreError::MethodNotAllowed
}
