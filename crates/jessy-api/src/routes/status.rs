//! `GET /api/v1/status`: the gateway's own view of itself and its cores, for operators: it
//! names the internal core URLs, so it needs a key with the `admin` scope.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::{AdminScope, Authorized};
use crate::state::AppState;
use jessy_http::RequestId;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/status", get(status))
}

/// Upstream states and load, requests served, uptime, and the snapshot generation from an
/// up core's `/ready` (`null` when no core is up or ready). The generation lets an operator
/// confirm a registry publish reached the fleet without going around the gateway; `cores`
/// lists every core's generation, so a cluster's lagging core shows.
async fn status(
    _: Authorized<AdminScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Json<Value> {
    let generation = state.upstreams().snapshot_generation(&request_id).await;
    let upstreams = state.upstreams().status();
    let cores = state.upstreams().core_generations(&request_id).await;
    Json(json!({
        "service": "jessy-api",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.uptime().as_secs(),
        "requests_served": state.requests_served(),
        "snapshot_generation": generation,
        "upstreams_up": state.upstreams().healthy_count(),
        "upstreams": upstreams,
        // Each core's generation (and, in cluster mode, why it is degraded, if it is).
        "cores": cores,
    }))
}
