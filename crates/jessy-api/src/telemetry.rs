//! Logging setup and the per-request middleware: request id, tracing span, metrics.
//!
//! Every request gets an `x-request-id`: the client's if it sent a sane one (so a caller can
//! correlate across its own systems), otherwise a fresh UUID v4. The id is put back on the
//! request for handlers (which forward it to the core), recorded in a tracing span that wraps
//! the whole request, and returned on the response.

use std::io::IsTerminal;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::auth::KeyName;
use crate::config::LogFormat;
use crate::error::ErrorCode;
use crate::state::AppState;

/// Name of the request id header, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest client-supplied request id kept; longer ones are replaced. Ids end up in every log
/// line of the request, so an unbounded one would let a client bloat logs.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The request id, in request extensions for handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

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

/// Keeps a client's id if it is short, non-empty visible ASCII; otherwise makes a new one.
fn choose_request_id(incoming: Option<&HeaderValue>) -> String {
    incoming
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Outermost middleware: request id, span, access log, metrics, served counter.
///
/// Runs after routing (it is added with `Router::layer`), so the route label is the matched
/// template (`/api/v1/dimensions/{id}`), keeping metric cardinality bounded; unmatched paths
/// are labelled `unmatched`.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = choose_request_id(request.headers().get(REQUEST_ID));
    let header_value =
        HeaderValue::from_str(&request_id).expect("request ids are visible ASCII by construction");
    request
        .headers_mut()
        .insert(REQUEST_ID, header_value.clone());
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();

    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        key = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();

    response.headers_mut().insert(REQUEST_ID, header_value);
    let status = response.status();
    let key = response
        .extensions()
        .get::<KeyName>()
        .map_or("anonymous", KeyName::as_str);
    state
        .metrics()
        .record_request(&route, method.as_str(), status.as_u16(), key, elapsed);
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        state.metrics().record_rejection(code);
    }
    state.count_served();

    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if route == "/api/health" || route == "/metrics" {
        // Probed every few seconds by orchestrators and scrapers: keep them out of info logs.
        tracing::debug!(parent: &span, status = status.as_u16(), micros, "request completed");
    } else {
        tracing::info!(parent: &span, status = status.as_u16(), micros, "request completed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_and_replaces_others() {
        let keep = HeaderValue::from_static("abc-123_XYZ.9");
        assert_eq!(choose_request_id(Some(&keep)), "abc-123_XYZ.9");
        for bad in ["", "has space", &"x".repeat(MAX_REQUEST_ID_LEN + 1)] {
            let value = HeaderValue::from_str(bad).expect("header");
            let chosen = choose_request_id(Some(&value));
            assert_ne!(chosen, bad);
            assert!(uuid::Uuid::parse_str(&chosen).is_ok());
        }
        let fresh = choose_request_id(None);
        assert_eq!(
            uuid::Uuid::parse_str(&fresh)
                .expect("uuid")
                .get_version_num(),
            4
        );
    }
}
