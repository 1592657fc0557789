//! Cross-cutting request handling: request ids, spans, metrics, timeouts, load-shed errors and
//! the fallbacks for unknown routes and methods.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::BoxError;
use tracing::Instrument;

use crate::error::{CoreError, ErrorCode};
use crate::metrics::method_label;
use crate::state::AppState;

/// The request-id header, read from the client when present and always returned.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id echoed back; longer or non-printable ones are replaced,
/// so a client cannot stuff arbitrary bytes into every log line.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A request id: the client's if it is a short printable ASCII token, else a fresh UUID v4.
pub(crate) fn request_id(supplied: Option<&HeaderValue>) -> String {
    match supplied {
        Some(value)
            if !value.is_empty()
                && value.len() <= MAX_REQUEST_ID_LEN
                && value.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b)) =>
        {
            // Checked to be visible ASCII just above, so this is valid UTF-8.
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// Outermost middleware: assigns the request id, runs the request inside a span carrying it,
/// returns it in `x-request-id`, and records the request's metrics by route pattern.
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers().get(&REQUEST_ID));
    let method = method_label(request.method());
    // The pattern (`/v1/dimensions/{id}`), never the raw path, keeps label cardinality bounded.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let span = tracing::info_span!("request", method, route = %route, request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status();
    let code = response.extensions().get::<ErrorCode>().map(|c| c.0);
    state
        .metrics()
        .record_request(method, &route, status.as_u16(), elapsed.as_secs_f64(), code);
    span.in_scope(|| {
        let micros = elapsed.as_micros() as u64;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), code, micros, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), code, micros, "request");
        }
    });
    response
}

/// Bounds a read request, body upload included, by `--request-timeout-ms`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_echoed_only_when_printable_and_short() {
        let ok = HeaderValue::from_static("abc-123_XYZ");
        assert_eq!(request_id(Some(&ok)), "abc-123_XYZ");
        let long = HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).unwrap();
        let spaced = HeaderValue::from_static("has space");
        let empty = HeaderValue::from_static("");
        for bad in [Some(&long), Some(&spaced), Some(&empty), None] {
            let id = request_id(bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
