//! Logging setup and the per-request observation: request id, tracing span, access log,
//! metrics.
//!
//! Every request gets an `x-request-id`: the client's if it sent an acceptable one (so a
//! caller can correlate across its own systems), otherwise a fresh UUID v4. tower-http's
//! request-id layers do the work (see [`crate::routes::app`]) under jessy-protocol's rules
//! ([`jessy_protocol::request_id`]); handlers read the id with the [`RequestId`] extractor and
//! forward it to the core. tower-http's trace layer wraps the request in a span made by
//! [`request_span`] and writes the access log with [`log_response`]; [`observe`] records the
//! metrics.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Level, Span};
use tracing_subscriber::EnvFilter;

use crate::caller::KeyName;
use crate::config::LogFormat;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Name of the request id header, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// The request id tower-http's `SetRequestIdLayer` assigned, as a handler argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<tower_http::request_id::RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(|id| RequestId(id.to_owned()))
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "no request id: the request-id layer is missing from the router"
                ))
            })
    }
}

/// Installs the global tracing subscriber: logs on stderr (stdout is reserved for the one
/// "listening" line tests and scripts read), text or JSON lines, filtered by `filter` in
/// `RUST_LOG` syntax. Fails if the filter is invalid or a subscriber is already installed.
pub fn init_tracing(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid log filter {filter:?}: {e}"))?;
    // Colours only for a person at a terminal; log files and collectors get plain text.
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// The route label: the matched template (`/api/v1/dimensions/{id}`), keeping metric
/// cardinality bounded; `unmatched` for paths no route matched.
fn route_label<B>(request: &axum::http::Request<B>) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned())
}

/// Routes probed every few seconds by orchestrators and scrapers: their access log lines are
/// `debug`, the rest `info`.
fn is_probe(route: &str) -> bool {
    route == "/api/health" || route == "/metrics"
}

/// The span every request runs in (created by tower-http's `TraceLayer`): request id, method,
/// route and, once authentication has run, the key name. Probe routes get a `debug` span,
/// which [`log_response`] reads to keep their lines out of info logs.
pub fn request_span<B>(request: &axum::http::Request<B>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = route_label(request);
    let method = request.method();
    if is_probe(&route) {
        tracing::debug_span!(
            "request",
            request_id = %request_id,
            method = %method,
            route = %route,
            key = tracing::field::Empty,
        )
    } else {
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %method,
            route = %route,
            key = tracing::field::Empty,
        )
    }
}

/// The access log line written when a response is ready: `info`, or `debug` for probe routes.
pub fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    let probe = span
        .metadata()
        .is_some_and(|meta| *meta.level() == Level::DEBUG);
    if probe {
        tracing::debug!(parent: span, status, micros, "request completed");
    } else {
        tracing::info!(parent: span, status, micros, "request completed");
    }
}

/// Records each request's metrics (by route template, method, status and key name), counts
/// rejections by code, and counts the request as served.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_label(&request);
    let method = request.method().clone();
    let response = next.run(request).await;
    let key = response
        .extensions()
        .get::<KeyName>()
        .map_or("anonymous", KeyName::as_str);
    state.metrics().record_request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        key,
        started.elapsed(),
    );
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics().record_rejection(code.as_str());
    }
    state.count_served();
    response
}
