//! What every request passes through on its way in and out, in both services: a request id,
//! a tracing span, the access log, the service's metrics and the JSON shape for errors a
//! framework layer answered in plain text ([`observed`]).
//!
//! Every response carries `x-request-id`: the client's own id when it sent an acceptable one
//! (so a caller can correlate across its own systems), else a fresh UUID v4 (tower-http's
//! request-id layers under jessy-protocol's rules, [`jessy_protocol::request_id`]). Handlers
//! read it with the [`RequestId`] extractor; the gateway forwards it to the core, which logs
//! it next to its own lines.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::response::IntoResponse;
use axum::routing::Route;
use axum::Router;
use http::request::Parts;
use jessy_protocol::request_id::{drop_unacceptable_request_id, REQUEST_ID_HEADER};
use jessy_protocol::{ErrorCode, ProtocolError};
use tower::util::MapRequestLayer;
use tower::Layer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_service::Service;
use tracing::{Level, Span};

use crate::wire::Rejection;

/// How a service's access log reads: one line per request at the end, `warn` for a 5xx,
/// `debug` for probe routes (orchestrators and scrapers call them every few seconds), and
/// `success_level` (`info` or `debug`) for everything else.
#[derive(Debug, Clone, Copy)]
pub struct AccessLog {
    /// Level of a request that did not fail with a 5xx (`Level::INFO` or `Level::DEBUG`;
    /// anything else counts as `DEBUG`).
    pub success_level: Level,
    /// Route patterns whose lines are always `debug` (unless 5xx).
    pub probes: &'static [&'static str],
}

impl AccessLog {
    /// The span a request runs in: request id, method, route pattern and an empty `key`
    /// field the gateway fills in once it knows the caller. Probe routes (and a service whose
    /// successes log at `debug`) get a `debug` span, which costs nothing when debug is off.
    fn span<B>(&self, request: &http::Request<B>) -> Span {
        let request_id = request
            .headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let route = route_of(request);
        let method = request.method().as_str();
        if self.success_level == Level::INFO && !self.probes.contains(&route) {
            tracing::info_span!(
                "request",
                request_id,
                method,
                route,
                key = tracing::field::Empty
            )
        } else {
            tracing::debug_span!(
                "request",
                request_id,
                method,
                route,
                key = tracing::field::Empty
            )
        }
    }

    /// The access-log line, written when the response is ready.
    fn log<B>(response: &http::Response<B>, latency: Duration, span: &Span) {
        let status = response.status();
        let code = response.extensions().get::<ErrorCode>().map(|c| c.as_str());
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let status_code = status.as_u16();
        if status.is_server_error() {
            tracing::warn!(parent: span, status = status_code, code, micros, "request failed");
        } else if span
            .metadata()
            .is_some_and(|meta| *meta.level() == Level::INFO)
        {
            tracing::info!(parent: span, status = status_code, code, micros, "request completed");
        } else {
            tracing::debug!(parent: span, status = status_code, code, micros, "request completed");
        }
    }
}

/// The route label of a request: its pattern (`/v1/dimensions/{id}`), never the raw path, so
/// log and metric label cardinality stays bounded; `unmatched` when no route matched.
pub fn route_of<B>(request: &http::Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
}

/// The label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// [`route_of`] kept past the request, for metrics middleware that records it once the
/// response is ready. The matched pattern is shared, so keeping it is a reference-count bump,
/// not a copy of the string on every request.
#[derive(Debug, Clone)]
pub struct RouteLabel(Option<MatchedPath>);

impl RouteLabel {
    /// The label of `request`.
    pub fn of<B>(request: &http::Request<B>) -> RouteLabel {
        RouteLabel(request.extensions().get::<MatchedPath>().cloned())
    }

    /// The pattern, or `unmatched`.
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or(UNMATCHED, MatchedPath::as_str)
    }
}

/// Wraps a service's `router` in the layers both services share, outermost first:
/// the request id (an unacceptable client id dropped, then kept or generated, always
/// returned), the tracing span and access log under `access`, the service's own `metrics`
/// layer (inside the span, so every response is counted, framework rejections included), and
/// the JSON shape for errors a framework layer answered in plain text
/// ([`crate::wire::ensure_json_error`]).
pub fn observed<S, L>(router: Router<S>, metrics: L, access: AccessLog) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    L: Layer<Route> + Clone + Send + Sync + 'static,
    L::Service: Service<Request> + Clone + Send + Sync + 'static,
    <L::Service as Service<Request>>::Response: IntoResponse + 'static,
    <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
    <L::Service as Service<Request>>::Future: Send + 'static,
{
    router
        .layer(axum::middleware::map_response(
            crate::wire::ensure_json_error,
        ))
        .layer(metrics)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request| access.span(request))
                .on_request(())
                .on_response(AccessLog::log)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(MapRequestLayer::new(drop_unacceptable_request_id))
}

/// The request id [`observed`]'s layers assigned, as a handler argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Rejection> {
        parts
            .extensions
            .get::<tower_http::request_id::RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(|id| RequestId(id.to_owned()))
            .ok_or_else(|| {
                tracing::error!("no request id: the request-id layer is missing from the router");
                Rejection(ProtocolError::new(ErrorCode::Internal, "internal error"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt as _;

    fn app() -> Router {
        let router = Router::new().route("/id", get(|RequestId(id): RequestId| async move { id }));
        observed(
            router,
            tower::layer::util::Identity::new(),
            AccessLog {
                success_level: Level::INFO,
                probes: &["/health"],
            },
        )
    }

    async fn call(
        request: http::Request<axum::body::Body>,
    ) -> (http::Response<axum::body::Body>, String) {
        let response = app().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        (
            http::Response::from_parts(parts, axum::body::Body::empty()),
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn an_acceptable_client_id_is_kept_and_returned() {
        let request = http::Request::get("/id")
            .header("x-request-id", "client-id-1")
            .body(axum::body::Body::empty())
            .unwrap();
        let (response, body) = call(request).await;
        assert_eq!(body, "client-id-1");
        assert_eq!(response.headers()["x-request-id"], "client-id-1");
    }

    #[tokio::test]
    async fn an_unacceptable_id_is_replaced_by_a_uuid() {
        let request = http::Request::get("/id")
            .header("x-request-id", "has space")
            .body(axum::body::Body::empty())
            .unwrap();
        let (response, body) = call(request).await;
        assert_eq!(body.len(), 36, "{body}");
        assert_eq!(response.headers()["x-request-id"], body.as_str());
    }

    #[tokio::test]
    async fn unknown_routes_get_the_json_error_shape_and_an_id() {
        let request = http::Request::get("/nope")
            .body(axum::body::Body::empty())
            .unwrap();
        let (response, body) = call(request).await;
        assert_eq!(response.status(), 404);
        assert!(response.headers().contains_key("x-request-id"));
        assert!(body.contains("\"code\":\"not_found\""), "{body}");
    }
}
