//! The one error type every handler returns, and its JSON shape.
//!
//! Every error leaves the gateway as `{"error": {"code": "snake_case_code", "message": "..."}}`,
//! the same shape jessy-core uses, so a client parses one format whether the gateway or the core
//! refused its request. Status codes are chosen per variant:
//!
//! | status | when |
//! | --- | --- |
//! | 400 | the body is not JSON at all (syntax error, truncated document) or not UTF-8 |
//! | 401 | missing or unknown API key |
//! | 404 / 405 | unknown route or method |
//! | 413 | body larger than [`crate::validation::MAX_BODY_BYTES`] |
//! | 415 | a `Content-Type` that is not JSON |
//! | 422 | well-formed JSON of the wrong shape (unknown field, wrong type, missing field) or a value out of range |
//! | 429 | the key's token bucket is empty (with `Retry-After`) |
//! | 500 | a bug or unexpected failure inside the gateway: logged with details, answered generically |
//! | 502 / 504 | a core failed or timed out even after the retry |
//! | 503 | no healthy core |
//!
//! The split between 400 and 422 is deliberate and consistent: 400 means "I could not read it",
//! 422 means "I read it and it is wrong".

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Marker put in the response extensions of every gateway-generated error, so the request
/// middleware can count rejections by reason without parsing bodies. Responses relayed from a
/// core do not carry it: they are the core's answer, not a gateway rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// Everything a request handled by the gateway can fail with.
///
/// Variants that are the client's fault keep a specific message; upstream and internal failures
/// carry only what is safe to show, and [`ApiError::Internal`] keeps its cause for the log alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No `Authorization: Bearer` header, or a key that is not in the keys file.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// The key's token bucket is empty; the client may retry after this many seconds.
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until one more request is allowed (at least 1).
        retry_after_secs: u64,
    },
    /// The body is larger than the gateway accepts.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes, so the client knows what to aim for.
        limit: usize,
    },
    /// The request declared a media type other than JSON.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// The request could not be read: not UTF-8, not JSON, unreadable body, bad upgrade.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable reason, e.g. `invalid_json`.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// The request was read but its content is wrong: shape, types, ranges.
    #[error("{message}")]
    Unprocessable {
        /// Machine-readable reason, e.g. `empty_query`.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// No route matches the path.
    #[error("no such route")]
    NotFound,
    /// The path exists but not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// Every configured core is marked down.
    #[error("no healthy jessy-core upstream is available")]
    NoHealthyUpstream,
    /// The core did not answer within the upstream timeout.
    #[error("the upstream did not answer in time")]
    UpstreamTimeout,
    /// The core connection failed even after the retry. Details are logged, not returned.
    #[error("the upstream request failed")]
    BadGateway,
    /// An unexpected failure inside the gateway. The cause is logged; the client sees a
    /// generic message so internals (paths, addresses, library errors) never leak.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// Shorthand for a 422 with the given code, used by validation.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for a 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoHealthyUpstream => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable snake_case code clients switch on; also the `reason` label of the
    /// rejection counter.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BadRequest { code, .. } | Self::Unprocessable { code, .. } => code,
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NoHealthyUpstream => "no_healthy_upstream",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::BadGateway => "bad_gateway",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The inner `{"code", "message"}` object, shared by HTTP responses and WebSocket
    /// `{"type":"error"}` messages so both transports report errors identically.
    pub fn to_json(&self) -> serde_json::Value {
        json!({ "code": self.code(), "message": self.to_string() })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            // The request span (request id, route) is the current span here, so this log line
            // can be matched to the generic 500 the client received.
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let status = self.status();
        let body = axum::Json(json!({ "error": self.to_json() }));
        let mut response = (status, body).into_response();
        match &self {
            Self::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unauthorized => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"jessy\""),
                );
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorCode(self.code()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_json(error: ApiError) -> (StatusCode, Response<()>, serde_json::Value) {
        let response = error.into_response();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.expect("body");
        let value = serde_json::from_slice(&bytes).expect("json body");
        (parts.status, Response::from_parts(parts, ()), value)
    }

    #[tokio::test]
    async fn errors_have_the_shared_json_shape() {
        let (status, parts, value) =
            body_json(ApiError::unprocessable("empty_query", "query is empty")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            value,
            json!({"error": {"code": "empty_query", "message": "query is empty"}})
        );
        assert_eq!(
            parts.extensions().get::<ErrorCode>(),
            Some(&ErrorCode("empty_query"))
        );
        assert_eq!(
            parts.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let cause = anyhow::anyhow!("connection to /var/secret/db refused");
        let (status, _, value) = body_json(ApiError::Internal(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(value["error"]["code"], "internal_error");
        assert!(!value.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn rate_limited_sets_retry_after_and_unauthorized_sets_challenge() {
        let (status, parts, value) = body_json(ApiError::RateLimited {
            retry_after_secs: 3,
        })
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(parts.headers()[header::RETRY_AFTER], "3");
        assert_eq!(value["error"]["code"], "rate_limited");

        let (status, parts, _) = body_json(ApiError::Unauthorized).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(parts.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
