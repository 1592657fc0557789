//! The one error type every handler returns.
//!
//! Codes, statuses and the body shape are jessy-protocol's: one table for jessy-api and
//! jessy-core (see [`jessy_protocol`]'s crate docs), so a client parses one format and gets
//! the same status and code whether the gateway or the core refused its request. This module
//! adds the gateway's own failures (auth, rate limit, upstreams, internal) and turns errors
//! into responses.
//!
//! A leaf of the crate: it imports only [`crate::caller`] (to name the scope a caller lacked),
//! so every other module can return an [`ApiError`] without an import circle.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
pub use jessy_protocol::{ErrorCode, ErrorDetail, ProtocolError};

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
    /// The key is valid but lacks the scope the route needs.
    #[error("this API key lacks the `{scope}` scope")]
    Forbidden {
        /// The scope the route needs.
        scope: crate::caller::Scope,
    },
    /// The client address failed authentication too often; keys are not checked until the
    /// window ends.
    #[error(
        "too many failed authentication attempts from this address; retry in {retry_after_secs} s"
    )]
    AuthThrottled {
        /// Whole seconds until the address may try again (at least 1).
        retry_after_secs: u64,
    },
    /// The key's token bucket is empty; the client may retry after this many seconds.
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds until one more request is allowed (at least 1).
        retry_after_secs: u64,
    },
    /// The request breaks the shared contract: media type, size, encoding, JSON, shape,
    /// values; or a bad WebSocket request or message.
    #[error("{0}")]
    Request(ProtocolError),
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

impl From<ProtocolError> for ApiError {
    fn from(error: ProtocolError) -> Self {
        Self::Request(error)
    }
}

impl ApiError {
    /// A contract error with this code and message.
    pub fn request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Request(ProtocolError::new(code, message))
    }

    /// The HTTP status this error is answered with: the code's, from the shared table.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The stable code clients switch on; also the `reason` label of the rejection counter.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::RateLimited { .. } | Self::AuthThrottled { .. } => ErrorCode::RateLimited,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
            Self::Request(error) => error.code,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::NoHealthyUpstream => ErrorCode::NoHealthyUpstream,
            Self::UpstreamTimeout => ErrorCode::UpstreamTimeout,
            Self::BadGateway => ErrorCode::BadGateway,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The inner `{"code", "message"}` object, shared by HTTP responses and WebSocket
    /// `{"type":"error"}` messages so both transports report errors identically.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(ErrorDetail {
            code: self.code(),
            message: self.to_string(),
        })
        .unwrap_or_else(|_| serde_json::json!({"code": "internal", "message": "internal error"}))
    }
}

/// Whole seconds to tell a client in `Retry-After` for a wait of `wait`: rounded *up*, so a
/// client that honours it succeeds, and never 0, which would invite an immediate retry. Used
/// for [`ApiError::RateLimited`] and [`ApiError::AuthThrottled`] alike.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            // The request span (request id, route) is the current span here, so this log line
            // can be matched to the generic 500 the client received.
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let mut response = jessy_http::wire::error_response(self.code(), self.to_string());
        match &self {
            Self::RateLimited { retry_after_secs } | Self::AuthThrottled { retry_after_secs } => {
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
        // The code in the extensions lets the request middleware count rejections by reason.
        // Responses relayed from a core do not carry it: they are the core's answer.
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use serde_json::json;

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
            body_json(ApiError::request(ErrorCode::EmptyQuery, "query is empty")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            value,
            json!({"error": {"code": "empty_query", "message": "query is empty"}})
        );
        assert_eq!(
            parts.extensions().get::<ErrorCode>(),
            Some(&ErrorCode::EmptyQuery)
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
        assert_eq!(value["error"]["code"], "internal");
        assert!(!value.to_string().contains("secret"));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
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
