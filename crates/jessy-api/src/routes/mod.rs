//! The router: every route, and the middleware each group gets.
//!
//! The public port ([`app`]):
//!
//! | route | key scope | forwards to |
//! | --- | --- | --- |
//! | `GET /api/health` | none (`admin` for details) | — (health checker's view) |
//! | `POST /api/v1/query` | `query` | `POST /v1/query` |
//! | `GET /api/v1/dimensions` | `query` | `GET /v1/dimensions` |
//! | `GET /api/v1/dimensions/{id}` | `query` | `GET /v1/dimensions/{id}` |
//! | `GET /api/v1/dimensions/{id}/layers/{layer}` | `query` | `GET /v1/dimensions/{id}/layers/{layer}` |
//! | `PUT`/`DELETE /api/v1/dimensions/{id}/layers/{layer}` | `write` | the same on the core, with its admin token |
//! | `POST /api/v1/feedback` | `write` | `POST /v1/feedback`, with the core admin token |
//! | `GET /api/v1/suggestions`, `POST /api/v1/suggestions/{id}/accept` | `write` | the same on the core, with its admin token |
//! | `POST /api/v1/learn` | `admin` | `POST /v1/learn`, with the core admin token |
//! | `GET /api/v1/status` | `admin` | `GET /ready` (generation) |
//! | `GET /api/v1/cluster` | `admin` | `GET /ready` and `GET /v1/cluster` of every core; the gateways' heartbeats (see [`cluster`]) |
//! | `GET /api/v1/stream` (WebSocket) | `query` | `POST /v1/query` per message |
//! | `GET /api/v1/whoami`, `GET /api/v1/generations`, `POST /api/v1/eval` | see [`console_api`] | |
//! | `GET /console`, `/console/{page}`, `/console/assets/{file}` | none (page shells, see [`crate::console`]) | — |
//!
//! `GET /metrics` is served by [`metrics_app`] on its own listener (`--metrics-addr`,
//! loopback by default), never on the public port: it names API keys and counts each
//! client's requests.
//!
//! Middleware, outermost first: jessy-http's shared stack ([`jessy_http::observed`]: request
//! id, span and access log), metrics ([`crate::telemetry::observe`]), the JSON shape for errors a framework layer answered in
//! plain text, CORS (only when origins are configured, and outside auth so preflights are not
//! refused), body limit, then on `/api/v1/*` authentication (with the failed-attempt
//! throttle) and, inside it, rate limiting and the body read timeout (408); each handler then
//! checks its key scope.

pub mod cluster;
pub mod console_api;
pub mod console_origin;
mod dimensions;
mod health;
pub(crate) mod query;
mod status;
mod stream;
mod usage;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use jessy_http::AccessLog;
use jessy_protocol::request_id::REQUEST_ID_HEADER;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;
use crate::state::AppState;
use crate::validation::MAX_BODY_BYTES;
use crate::{auth, rate_limit, validation};

/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE_SECS: u64 = 600;

/// Builds the complete gateway router over `state`. Needs no socket: tests drive it with
/// `tower::ServiceExt::oneshot`, and [`crate::serve`] puts it on a listener.
pub fn app(state: AppState) -> Router {
    let authenticated = Router::new()
        .merge(query::router())
        .merge(dimensions::router())
        .merge(status::router())
        .merge(cluster::router())
        .merge(stream::router())
        .merge(usage::router())
        .merge(console_api::router())
        // `route_layer` wraps only matched routes, so unknown /api/v1 paths are 404, not 401.
        // The later layer is the outer one: authentication runs before rate limiting, which
        // therefore only ever sees names from the keys file, and both run before the body is
        // read (within the body read timeout, 408 beyond).
        .route_layer(from_fn_with_state(
            state.clone(),
            validation::read_body_in_time,
        ))
        .route_layer(from_fn_with_state(state.clone(), rate_limit::enforce))
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_key))
        .merge(console_api::upload_router(state.clone()))
        .route_layer(from_fn_with_state(
            state.clone(),
            console_origin::same_origin_writes,
        ));

    let mut router = Router::new()
        .merge(authenticated)
        .merge(health::router())
        .merge(crate::console::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    if let Some(cors) = cors_layer(state.cors_origins()) {
        router = router.layer(cors);
    }
    jessy_http::observed(
        router,
        from_fn_with_state(state.clone(), crate::telemetry::observe),
        ACCESS_LOG,
    )
    .with_state(state)
}

/// The gateway's access log: a line per request at `info` (the public port's record of who
/// called what), `debug` for the probes orchestrators and scrapers call every few seconds,
/// `warn` for a 5xx.
const ACCESS_LOG: AccessLog = AccessLog {
    success_level: tracing::Level::INFO,
    probes: &["/api/health", "/metrics"],
};

/// The metrics listener's router: `GET /metrics` in Prometheus text format, nothing else
/// (other paths are 404 in the JSON error shape). Unauthenticated, as scrapers expect: it is
/// protected by where it listens (`--metrics-addr`, loopback by default).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics().render(),
    )
}

/// CORS for the configured origins only; `None` (no layer, no CORS headers) when none are
/// configured, which browsers treat as "cross-origin calls forbidden".
fn cors_layer(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let request_id = REQUEST_ID_HEADER;
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                request_id.clone(),
            ])
            .expose_headers([request_id, header::RETRY_AFTER])
            .max_age(std::time::Duration::from_secs(CORS_MAX_AGE_SECS)),
    )
}
