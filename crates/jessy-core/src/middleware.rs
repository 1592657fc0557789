//! Cross-cutting request handling: request ids, the access log, metrics, body and request
//! timeouts, load-shed
//! errors and the fallbacks for unknown routes and methods.
//!
//! Request ids and the access log are tower-http's layers ([`crate::routes::app`] stacks
//! them); this module holds what they are configured with and the service's own middleware.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jessy_protocol::request_id::REQUEST_ID_HEADER;
use tower::BoxError;
use tracing::Span;

use crate::error::{CoreError, ErrorCode};
use crate::metrics::method_label;
use crate::state::AppState;

/// The route label of a request: its pattern (`/v1/dimensions/{id}`), never the raw path, so
/// label cardinality stays bounded; `unmatched` when no route matched.
fn route_label<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string())
}

/// The span every request runs in (tower-http's `TraceLayer` creates it): method, route
/// pattern and the request id that `SetRequestIdLayer` has put on the request.
pub(crate) fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = method_label(request.method()),
        route = %route_label(request),
        request_id = %id,
    )
}

/// The access-log line, at the end of each request: `warn` for 5xx, `debug` otherwise (a
/// query takes microseconds; an info line per query would cost more than the query).
pub(crate) fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, span: &Span) {
    let status = response.status();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.as_str());
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), code, micros, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), code, micros, "request");
        }
    });
}

/// Records each request's metrics by route pattern, status and error code.
pub(crate) async fn record_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = route_label(&request);
    let response = next.run(request).await;
    let code = response.extensions().get::<ErrorCode>().map(|c| c.as_str());
    state.metrics().record_request(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
        code,
    );
    response
}

/// Reads the request body within `--body-read-timeout-ms` before the handler runs: a client
/// that stalls or trickles gets 408 `request_timeout` (with `Connection: close`, since the
/// rest of its body is never read) instead of holding the handler until the request timeout
/// answers 503 for the client's slowness. Requests without a body, and bodies whose declared
/// length is already over `--max-body-bytes` (413 at once, downstream), pass untouched.
pub(crate) async fn read_body_in_time(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = state.config().max_body_bytes;
    buffer_then_run(&state, limit, request, next).await
}

/// [`read_body_in_time`] with a route's own body limit.
pub(crate) async fn read_body_in_time_limited(
    State((state, limit)): State<(AppState, usize)>,
    request: Request,
    next: Next,
) -> Response {
    buffer_then_run(&state, limit, request, next).await
}

/// Buffers the body within `limit` and the body read timeout, then runs the handler; a body
/// too large or too slow is answered here and the connection closed.
async fn buffer_then_run(state: &AppState, limit: usize, request: Request, next: Next) -> Response {
    let timeout = state.config().body_read_timeout();
    match jessy_protocol::server::buffer_request(request, limit, timeout).await {
        Ok(request) => next.run(request).await,
        Err(error) => {
            let mut response = CoreError::from(error).into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
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
            let presented = request
                .headers()
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            if presented.is_some_and(|p| token.matches(p)) {
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
