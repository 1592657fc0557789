//! Extractors whose rejections use the service's error shape.
//!
//! axum's own `Json` and `Path` answer malformed input with plain-text bodies and their own
//! status choices; these wrappers read the same input but fail with [`CoreError`], so a client
//! sees `{"error": {...}}` for every mistake, and 400 vs 422 follows the rule in
//! [`crate::error`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::CoreError;

/// A JSON request body, limited by the router's `DefaultBodyLimit`.
///
/// A missing `Content-Type` is accepted (curl and load generators often omit it); a present one
/// must be JSON.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = CoreError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
            if !is_json(content_type.as_bytes()) {
                return Err(CoreError::UnsupportedMediaType);
            }
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    CoreError::TooLarge {
                        code: "payload_too_large",
                        message: "request body is larger than this server accepts".to_string(),
                    }
                } else {
                    CoreError::BadRequest {
                        code: "invalid_body",
                        message: rejection.body_text(),
                    }
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a body: syntax problems are 400 `invalid_json`, shape problems 422 `invalid_request`.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                CoreError::invalid_request(format!("request body has the wrong shape: {e}"))
            }
            Category::Syntax | Category::Eof | Category::Io => CoreError::BadRequest {
                code: "invalid_json",
                message: format!("request body is not valid JSON: {e}"),
            },
        }
    })
}

fn is_json(content_type: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(content_type) else {
        return false;
    };
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Path parameters, with decoding failures as 400 `invalid_path`.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = CoreError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(|rejection| CoreError::BadRequest {
                code: "invalid_path",
                message: rejection.body_text(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        a: u32,
    }

    #[test]
    fn syntax_is_400_and_shape_is_422() {
        let code = |bytes: &[u8]| parse_json::<Shape>(bytes).unwrap_err().code();
        assert_eq!(code(b"{"), "invalid_json");
        assert_eq!(code(b"not json"), "invalid_json");
        assert_eq!(code(b"\xff\xfe"), "invalid_json");
        assert_eq!(code(br#"{"a": "x"}"#), "invalid_request");
        assert_eq!(code(br#"{"a": 1, "b": 2}"#), "invalid_request");
        assert_eq!(code(br#"{}"#), "invalid_request");
        assert_eq!(parse_json::<Shape>(br#"{"a": 7}"#).unwrap().a, 7);
    }

    #[test]
    fn json_media_types() {
        assert!(is_json(b"application/json"));
        assert!(is_json(b"Application/JSON; charset=utf-8"));
        assert!(is_json(b"application/merge-patch+json"));
        assert!(!is_json(b"text/plain"));
        assert!(!is_json(b"application/x-www-form-urlencoded"));
    }
}
