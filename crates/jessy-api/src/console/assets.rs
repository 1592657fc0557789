//! The console's static files, embedded at compile time from `crates/jessy-api/console/`.
//!
//! **Caching, for first paint.** The stylesheet blocks rendering: a page paints nothing until it
//! has it. Pages therefore link every asset as `/console/assets/{file}?v={VERSION}`, where
//! [`version`] is a digest of all embedded assets, and an asset fetched with the current
//! version is cacheable for a year (`immutable`): after the first page, every navigation paints
//! from the browser's cache without a request, however long the session. A new binary with
//! changed assets has a new version, hence new URLs, so a stale file is never used. A request
//! without the current version (an old page, a hand-typed URL) gets `no-cache` and an `ETag`,
//! so it revalidates with a bodyless 304.

use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

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

/// The assets' version: 16 hex digits of SHA-256 over every asset's name and contents, computed
/// once. Changes exactly when some asset changes.
pub(crate) fn version() -> &'static str {
    static VERSION: LazyLock<String> = LazyLock::new(|| {
        let mut hasher = Sha256::new();
        for (file, _, body) in ASSETS {
            hasher.update(file.as_bytes());
            hasher.update([0]);
            hasher.update(body.as_bytes());
            hasher.update([0]);
        }
        hex::encode(&hasher.finalize()[..8])
    });
    &VERSION
}

/// The query string of an asset request.
#[derive(Debug, Deserialize)]
pub(crate) struct AssetQuery {
    /// The asset version the page was rendered with.
    v: Option<String>,
}

/// A year: the longest lifetime caches honour; `immutable` also stops reload revalidation.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /console/assets/{file}[?v=VERSION]`: immutable when `v` is the current version,
/// otherwise revalidated on every use through its `ETag` (see the module docs).
pub(crate) async fn asset(
    Path(file): Path<String>,
    Query(query): Query<AssetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some((media, body)) = find(&file) else {
        return ApiError::NotFound.into_response();
    };
    let etag = format!("\"{}\"", version());
    let cache = if query.v.as_deref() == Some(version()) {
        IMMUTABLE
    } else {
        "no-cache"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(media))],
            body,
        )
            .into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, etag);
    }
    super::secure(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(file: &str, v: Option<&str>, if_none_match: Option<&str>) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(tag) = if_none_match {
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
        }
        asset(
            Path(file.to_string()),
            Query(AssetQuery {
                v: v.map(str::to_string),
            }),
            headers,
        )
        .await
    }

    fn cache_control(response: &Response) -> &str {
        response.headers()[header::CACHE_CONTROL].to_str().unwrap()
    }

    #[tokio::test]
    async fn the_current_version_is_immutable_and_anything_else_revalidates() {
        let current = get("console.css", Some(version()), None).await;
        assert_eq!(current.status(), StatusCode::OK);
        assert_eq!(cache_control(&current), IMMUTABLE);
        for v in [None, Some("0000000000000000")] {
            let other = get("console.css", v, None).await;
            assert_eq!(other.status(), StatusCode::OK);
            assert_eq!(cache_control(&other), "no-cache");
        }
        let tag = format!("\"{}\"", version());
        let revalidated = get("console.css", None, Some(&format!("\"old\", {tag}"))).await;
        assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            get("console.css", None, Some("\"old\"")).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            get("nope.js", Some(version()), None).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn the_version_is_sixteen_hex_digits() {
        assert_eq!(version().len(), 16);
        assert!(version().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
