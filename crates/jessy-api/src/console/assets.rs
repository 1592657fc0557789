//! The console's static files, embedded at compile time from `crates/jessy-api/console/`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// `(file name, media type, contents)` of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../../console/console.css"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/common.js"),
    ),
    (
        "signin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/signin.js"),
    ),
    (
        "query.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/query.js"),
    ),
    (
        "registry.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/registry.js"),
    ),
    (
        "quality.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/quality.js"),
    ),
    (
        "feedback.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/feedback.js"),
    ),
    (
        "cluster.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/cluster.js"),
    ),
];

/// The asset named `name`, if there is one.
pub(crate) fn find(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .map(|(_, media, body)| (*media, *body))
}

/// `GET /console/assets/{file}`. Cached for a minute only: the files change with the binary,
/// and a stale script after an upgrade would call routes that changed.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match find(&file) {
        Some((media, body)) => super::secure(
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(media)),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("max-age=60"),
                    ),
                ],
                body,
            )
                .into_response(),
        ),
        None => ApiError::NotFound.into_response(),
    }
}
