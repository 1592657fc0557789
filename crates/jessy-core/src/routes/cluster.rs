//! `GET /v1/cluster`: this core's place in its cluster (see [`crate::cluster`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json;
use crate::error::{CoreError, ErrorBody};
use crate::state::AppState;

/// The cluster generation this core serves, the cluster's current generation, the lag
/// between them and the database connection's state. 404 `not_found` on a standalone core.
#[utoipa::path(
    get,
    path = "/v1/cluster",
    tag = "ops",
    responses(
        (status = 200, description = "This core's cluster status: `generation`, `digest`, `local_generation`, `cluster_generation`, `lag`, `database` ({state: connected|degraded, reason}), `since_secs`"),
        (status = 404, description = "`not_found`: the core does not run in cluster mode", body = ErrorBody),
    )
)]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Response, CoreError> {
    match state.cluster() {
        Some(cluster) => json(StatusCode::OK, &cluster.status()),
        None => Err(CoreError::NotFound(
            "this core does not run in cluster mode (--cluster)".to_string(),
        )),
    }
}
