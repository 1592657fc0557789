//! `GET /v1/generations`: the snapshot generations and what changed in each (see
//! [`crate::history`] for where the notes come from and what they cover).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json;
use crate::error::{CoreError, ErrorBody};
use crate::history::GenerationNote;
use crate::state::AppState;

/// The answer of `GET /v1/generations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GenerationList {
    /// The generation queries are answered from.
    pub current: u64,
    /// Known generations, newest first (at most [`crate::history::MAX_LISTED`]).
    pub generations: Vec<GenerationNote>,
}

/// Lists the snapshot generations, newest first, with their change notes.
#[utoipa::path(
    get,
    path = "/v1/generations",
    tag = "registry",
    responses(
        (status = 200, description = "Generations, newest first", body = GenerationList),
        (status = 503, description = "`overloaded` or `timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, CoreError> {
    let stats = state.engine().stats();
    let task_state = state.clone();
    // Reads a small file and lists a directory: off the async workers all the same.
    let generations = tokio::task::spawn_blocking(move || {
        task_state
            .history()
            .list(task_state.engine(), stats.generation, stats.mapped_bytes)
    })
    .await
    .map_err(|join| CoreError::internal(anyhow::anyhow!("history task failed: {join}")))?;
    json(
        StatusCode::OK,
        &GenerationList {
            current: stats.generation,
            generations,
        },
    )
}
