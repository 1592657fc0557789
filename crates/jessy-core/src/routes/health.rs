//! Liveness and readiness.
//!
//! The snapshot is loaded before the listener is bound (see [`crate::serve`] and the binary),
//! so a process that answers at all has a valid generation mapped: `/ready` is 200 from the
//! first request on. It turns 503 once shutdown begins, so a balancer stops routing new
//! traffic here while in-flight requests drain. `/health` stays 200 until the process exits:
//! a draining service is alive and must not be restarted for it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody};
use crate::state::AppState;
use crate::views;

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `healthy` when the process answers.
    pub status: String,
    /// `jessy-core`.
    pub service: String,
    /// The crate version of the running binary.
    pub version: String,
    /// The prefix of the `query_id`s this process issues (`1a2b3c4d`): a gateway in front of
    /// several cores sends feedback naming one of them to this core, the only one that
    /// remembers the query.
    pub query_ids: String,
}

/// `GET /ready`: what is being served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// Always `true` in a 200 answer.
    pub ready: bool,
    /// Current snapshot generation.
    pub generation: u64,
    /// Dimensions in it.
    pub dimensions: usize,
    /// Layers in it.
    pub layers: usize,
    /// Bytes of the current generation's file.
    pub mapped_bytes: u64,
    /// Regions (sections) of the current generation.
    pub regions: usize,
    /// Cluster mode only: why the core is degraded (the cluster database is unreachable; it
    /// keeps serving this generation and catches up when the database returns). Absent when
    /// healthy or standalone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

/// Liveness: the process is up and answering.
#[utoipa::path(
    get,
    path = "/health",
    tag = "ops",
    responses((status = 200, description = "The process is alive", body = Health))
)]
pub(crate) async fn health(State(state): State<AppState>) -> Result<Response, CoreError> {
    json(
        StatusCode::OK,
        &Health {
            status: "healthy".to_string(),
            service: "jessy-core".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            query_ids: state.engine().query_id_prefix(),
        },
    )
}

/// Readiness: a snapshot is loaded and the service is not draining.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "ops",
    responses(
        (status = 200, description = "Serving this generation (in cluster mode, `degraded` says why the cluster database is out of reach)", body = Ready),
        (status = 503, description = "Shutting down (`not_ready`)", body = ErrorBody),
    )
)]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Response, CoreError> {
    if state.is_draining() {
        return Err(CoreError::NotReady(
            "shutting down; finishing in-flight requests".to_string(),
        ));
    }
    // Counts and stats from the same generation, so the answer is self-consistent.
    let snapshot = state.engine().registry();
    let (dimensions, layers) = views::counts(&snapshot);
    json(
        StatusCode::OK,
        &Ready {
            ready: true,
            generation: snapshot.generation(),
            dimensions,
            layers,
            mapped_bytes: snapshot.len_bytes() as u64,
            regions: snapshot.region_count(),
            degraded: state.cluster().and_then(|cluster| cluster.degraded()),
        },
    )
}
