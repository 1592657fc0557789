//! The router: one table of endpoints, one module per area.
//!
//! - [`health`]: `/health` (liveness) and `/ready` (readiness).
//! - [`query`]: `POST /v1/query`.
//! - [`dimensions`]: browsing the registry, read-only.
//! - [`layers`]: creating, replacing and deleting layers.
//! - [`ops`]: `/metrics` and `/openapi.json`.
//! - [`cluster`]: `GET /v1/cluster` (cluster mode).
//! - [`generations`]: the generation history.
//! - [`eval`]: evaluating the current generation on an uploaded labelled file.
//!
//! The router is built from one private endpoint table, and so is [`route_list`], which a
//! test compares with the OpenAPI document: a route cannot be added without being documented,
//! or documented without existing.

pub mod cluster;
pub mod dimensions;
pub mod eval;
pub mod generations;
pub mod health;
pub mod layers;
pub mod ops;
pub mod query;
pub mod usage;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use jessy_http::body::{read_body_in_time, BodyRead};
use jessy_http::AccessLog;
use serde::Serialize;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::ServiceBuilder;

use crate::error::CoreError;
use crate::middleware;
use crate::state::AppState;

/// One route: method, path pattern, handler and which protections apply.
struct Endpoint {
    method: Method,
    path: &'static str,
    handler: MethodRouter<AppState>,
    /// Counted against `--max-concurrency` and shed with 503 beyond it. The API routes are;
    /// health, readiness and metrics are not, so an orchestrator can still see a saturated
    /// service as alive rather than restart it for being busy.
    limited: bool,
    /// Bounded by `--request-timeout-ms`. Everything but layer writes (see
    /// [`crate::Config::request_timeout_ms`]).
    timed: bool,
    /// Needs the admin token ([`crate::WriteAccess`]): the layer writes.
    admin: bool,
    /// A body limit other than `--max-body-bytes` (feedback batches are larger than queries).
    body_limit: Option<usize>,
}

impl Endpoint {
    fn new<H, T>(method: Method, path: &'static str, handler: H) -> Endpoint
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter =
            MethodFilter::try_from(method.clone()).expect("endpoints use standard methods");
        Endpoint {
            method,
            path,
            handler: axum::routing::on(filter, handler),
            limited: true,
            timed: true,
            admin: false,
            body_limit: None,
        }
    }

    fn admin(mut self) -> Endpoint {
        self.admin = true;
        self
    }

    fn unlimited(mut self) -> Endpoint {
        self.limited = false;
        self
    }

    fn body_limit(mut self, bytes: usize) -> Endpoint {
        self.body_limit = Some(bytes);
        self
    }

    fn untimed(mut self) -> Endpoint {
        self.timed = false;
        self
    }
}

fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/health", health::health).unlimited(),
        Endpoint::new(M::GET, "/ready", health::ready).unlimited(),
        Endpoint::new(M::GET, "/metrics", ops::metrics).unlimited(),
        Endpoint::new(M::GET, "/openapi.json", ops::openapi).unlimited(),
        Endpoint::new(M::POST, "/v1/query", query::query),
        Endpoint::new(M::GET, "/v1/dimensions", dimensions::list),
        Endpoint::new(M::GET, "/v1/dimensions/{id}", dimensions::get),
        Endpoint::new(
            M::GET,
            "/v1/dimensions/{id}/layers/{layer}",
            dimensions::layer,
        ),
        Endpoint::new(M::PUT, "/v1/dimensions/{id}/layers/{layer}", layers::put)
            .untimed()
            .admin(),
        Endpoint::new(
            M::DELETE,
            "/v1/dimensions/{id}/layers/{layer}",
            layers::delete,
        )
        .untimed()
        .admin(),
        Endpoint::new(M::GET, "/v1/cluster", cluster::status).unlimited(),
        Endpoint::new(M::POST, "/v1/feedback", usage::feedback)
            .untimed()
            .admin()
            .body_limit(jessy_protocol::feedback::MAX_FEEDBACK_BODY_BYTES),
        Endpoint::new(M::POST, "/v1/learn", usage::learn)
            .untimed()
            .admin(),
        Endpoint::new(M::GET, "/v1/suggestions", usage::suggestions).admin(),
        Endpoint::new(M::POST, "/v1/suggestions/{id}/accept", usage::accept)
            .untimed()
            .admin(),
        Endpoint::new(M::GET, "/v1/generations", generations::list),
        // Untimed: bounded by its line cap instead (see `eval`).
        Endpoint::new(M::POST, "/v1/eval", eval::eval)
            .untimed()
            .body_limit(eval::EVAL_MAX_BODY_BYTES),
    ]
}

/// Every `(method, path pattern)` the router serves, in the order they are registered.
pub fn route_list() -> Vec<(Method, &'static str)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method, e.path))
        .collect()
}

/// The whole service as a router: what [`crate::serve`] serves, and what tests drive with
/// `tower::ServiceExt::oneshot` without a socket.
///
/// Layers, outermost first: jessy-http's shared stack ([`jessy_http::observed`]: the request
/// id, the span and access log) around this service's metrics, so every response is observed,
/// the 503s of load shedding included; the JSON shape for any error a framework layer
/// answered in plain text; the body limit; then per route the admin-token check (layer writes), the load
/// shedder and the shared concurrency limit, the body read timeout (408) and the read
/// timeout (503).
pub fn app(state: AppState) -> Router {
    let config = state.config();
    // One semaphore for all limited routes: a per-route limit would multiply the real bound by
    // the number of routes.
    let concurrency = GlobalConcurrencyLimitLayer::new(config.max_concurrency);
    let body_limit = config.max_body_bytes;
    let mut router = Router::new();
    for endpoint in endpoints() {
        let mut handler = endpoint.handler;
        if endpoint.timed {
            handler = handler.layer(from_fn_with_state(state.clone(), middleware::read_timeout));
        }
        // Outside the request timeout, so a slow client is 408 (its fault), never 503; inside
        // the concurrency limit, so a body being received counts as a request in progress.
        let read = BodyRead {
            limit: endpoint.body_limit.unwrap_or(body_limit),
            timeout: config.body_read_timeout(),
        };
        if let Some(limit) = endpoint.body_limit {
            handler = handler.layer(DefaultBodyLimit::max(limit));
        }
        handler = handler.layer(from_fn_with_state(read, read_body_in_time));
        if endpoint.limited {
            handler = handler.layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(middleware::shed_error))
                    .layer(LoadShedLayer::new())
                    .layer(concurrency.clone()),
            );
        }
        if endpoint.admin {
            // Outermost: a caller without the token takes no concurrency slot, sends no body.
            handler = handler.layer(from_fn_with_state(state.clone(), middleware::require_admin));
        }
        router = router.route(endpoint.path, handler);
    }
    let router = router
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit));
    jessy_http::observed(
        router,
        from_fn_with_state(state.clone(), middleware::record_metrics),
        ACCESS_LOG,
    )
    .with_state(state)
}

/// The core's access log: successes at `debug` (a query takes microseconds; an `info` line
/// per query would cost more than the query), failures (5xx) at `warn`.
const ACCESS_LOG: AccessLog = AccessLog {
    success_level: tracing::Level::DEBUG,
    probes: &[],
};

/// A JSON response with `status`. Serializing the engine's and this crate's types cannot fail
/// (string keys, no maps with non-string keys), but if it ever did, the client gets the usual
/// `internal` error rather than a half-written body.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response, CoreError> {
    let bytes = serde_json::to_vec(value).map_err(CoreError::internal)?;
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
