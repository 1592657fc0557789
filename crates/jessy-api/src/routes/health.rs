//! `GET /api/health`: liveness for load balancers and orchestrators, no authentication.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::auth::{client_ip, Scope};
use crate::error::ApiError;
use crate::state::AppState;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

/// 200 `{"status":"healthy"}` when at least one core is up (the gateway can serve), 503
/// `{"status":"unhealthy"}` otherwise; nothing more for an anonymous caller, since the
/// public port must not describe the internal network. With a key that has the `admin` scope
/// the body adds the service, version and each core's URL and state (a key without it is 403,
/// a bad key 401, like every authenticated route). Reads the health checker's view and makes
/// no upstream call, so probing it costs nothing and cannot hang.
async fn health(State(state): State<AppState>, request: Request) -> Response {
    let healthy = state.upstreams().healthy_count() > 0;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if healthy { "healthy" } else { "unhealthy" };
    // Cluster mode: whether shared rate limits work, and what the policy does when not.
    let rate_limits = state.rate_limits().shared().map(|limiter| limiter.health());
    if !request.headers().contains_key(header::AUTHORIZATION) {
        let mut body = json!({ "status": word });
        if let Some(limits) = &rate_limits {
            // State and policy only: the error text may name internal hosts, which the
            // public port does not describe (admins see it below).
            let mut limits = limits.clone();
            if let Some(object) = limits.as_object_mut() {
                object.remove("error");
            }
            body["rate_limits"] = limits;
        }
        return (status, Json(body)).into_response();
    }
    let caller = match state
        .auth()
        .authenticate(request.headers(), client_ip(&request))
    {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if !caller.scopes.contains(Scope::Admin) {
        return ApiError::Forbidden {
            scope: Scope::Admin,
        }
        .into_response();
    }
    let upstreams = state.upstreams().status();
    let mut body = json!({
        "status": word,
        "service": "jessy-api",
        "version": env!("CARGO_PKG_VERSION"),
        "upstreams": upstreams
            .iter()
            .map(|u| json!({ "url": u.url, "state": u.state }))
            .collect::<Vec<_>>(),
    });
    if let Some(limits) = rate_limits {
        body["rate_limits"] = limits;
    }
    (status, Json(body)).into_response()
}
