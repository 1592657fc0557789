//! Browsing the registry: dimensions, their layer trees, one layer in full.
//!
//! Each handler loads the current generation once and builds its whole answer from it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json;
use crate::error::{CoreError, ErrorBody};
use crate::extract::PathParams;
use crate::state::AppState;
use crate::views::{self, DimensionDetail, DimensionList, LayerDetail, LayerLookup};

/// Lists every dimension with its frequency range and layer count.
#[utoipa::path(
    get,
    path = "/v1/dimensions",
    tag = "registry",
    responses(
        (status = 200, description = "Every dimension", body = DimensionList),
        (status = 503, description = "`overloaded` or `timeout`", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, CoreError> {
    json(
        StatusCode::OK,
        &views::dimension_list(&state.engine().registry()),
    )
}

/// One dimension and its layers (without content and examples).
#[utoipa::path(
    get,
    path = "/v1/dimensions/{id}",
    tag = "registry",
    params(("id" = String, Path, description = "Dimension id")),
    responses(
        (status = 200, description = "The dimension", body = DimensionDetail),
        (status = 404, description = "`not_found`: no such dimension", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
) -> Result<Response, CoreError> {
    let detail = views::dimension_detail(&state.engine().registry(), &id)
        .ok_or_else(|| CoreError::NotFound(format!("unknown dimension {id:?}")))?;
    json(StatusCode::OK, &detail)
}

/// One layer with everything: keywords, examples, content, children.
#[utoipa::path(
    get,
    path = "/v1/dimensions/{id}/layers/{layer}",
    tag = "registry",
    params(
        ("id" = String, Path, description = "Dimension id"),
        ("layer" = String, Path, description = "Layer id"),
    ),
    responses(
        (status = 200, description = "The layer", body = LayerDetail),
        (status = 404, description = "`not_found`: no such dimension or layer", body = ErrorBody),
    )
)]
pub(crate) async fn layer(
    State(state): State<AppState>,
    PathParams((dimension, layer)): PathParams<(String, String)>,
) -> Result<Response, CoreError> {
    let detail = views::layer_detail(&state.engine().registry(), &dimension, &layer)
        .map_err(|lookup| lookup_error(lookup, &dimension, &layer))?;
    json(StatusCode::OK, &detail)
}

pub(crate) fn lookup_error(lookup: LayerLookup, dimension: &str, layer: &str) -> CoreError {
    match lookup {
        LayerLookup::UnknownDimension => {
            CoreError::NotFound(format!("unknown dimension {dimension:?}"))
        }
        LayerLookup::UnknownLayer => CoreError::NotFound(format!(
            "unknown layer {layer:?} in dimension {dimension:?}"
        )),
    }
}
