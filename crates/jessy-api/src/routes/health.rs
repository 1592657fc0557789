//! `GET /api/health`: liveness for load balancers and orchestrators, no authentication.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

/// 200 when at least one core is up (the gateway can serve), 503 otherwise, with each core's
/// URL and state so an operator sees which one is missing. Reads the health checker's view
/// and makes no upstream call, so probing it costs nothing and cannot hang.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let upstreams = state.upstreams().status();
    let healthy = state.upstreams().healthy_count() > 0;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "service": "jessy-api",
        "version": env!("CARGO_PKG_VERSION"),
        "upstreams": upstreams
            .iter()
            .map(|u| json!({ "url": u.url, "state": u.state }))
            .collect::<Vec<_>>(),
    });
    (status, Json(body))
}
