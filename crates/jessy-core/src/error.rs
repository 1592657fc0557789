//! The one error type every handler returns, and its JSON shape.
//!
//! Every error leaves the service as `{"error": {"code": "snake_case", "message": "..."}}`, the
//! shape jessy-api uses too, so a client parses one format whichever service refused it.
//!
//! | status | code | when |
//! | --- | --- | --- |
//! | 400 | `invalid_json` | the body is not JSON (syntax error, truncated, not UTF-8) |
//! | 400 | `empty_query` | the query has no words |
//! | 400 | `invalid_path` | a path segment could not be decoded |
//! | 404 | `not_found` | unknown route, dimension or layer |
//! | 405 | `method_not_allowed` | the route exists, not with this method |
//! | 413 | `payload_too_large` | body over `--max-body-bytes` |
//! | 413 | `query_too_long` | query over the engine's limit (10,000 bytes) |
//! | 415 | `unsupported_media_type` | a `Content-Type` that is not JSON |
//! | 422 | `invalid_request` | JSON of the wrong shape: unknown field, wrong type, value out of range |
//! | 422 | `invalid_layer` | a layer write the registry rejects; every problem is listed |
//! | 500 | `internal` | a failure inside the service: details go to the log, never to the client |
//! | 503 | `overloaded` | more than `--max-concurrency` requests at once |
//! | 503 | `timeout` | a read took longer than `--request-timeout-ms` |
//! | 503 | `not_ready` | the service is shutting down |
//!
//! 400 means "I could not read it", 422 "I read it and it is wrong". Timeouts are 503, not 408:
//! 408 tells a client it was too slow to send, while here the server is the one out of time.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Marker put in the extensions of every error response, so the request middleware can count
/// errors by code without parsing bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// Everything a request can fail with. Client mistakes carry a specific message; internal
/// failures carry their cause for the log only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The request could not be read (bad JSON, empty query, undecodable path).
    #[error("{message}")]
    BadRequest {
        /// Machine-readable reason.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// No such route, dimension or layer.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The body, or the query in it, is larger than accepted.
    #[error("{message}")]
    TooLarge {
        /// `payload_too_large` or `query_too_long`.
        code: &'static str,
        /// What the limit is.
        message: String,
    },
    /// A `Content-Type` other than JSON.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// The request was read but its content is wrong.
    #[error("{message}")]
    Unprocessable {
        /// `invalid_request` or `invalid_layer`.
        code: &'static str,
        /// Every problem found.
        message: String,
    },
    /// The concurrency limit is reached; the request was not started.
    #[error("server is at its concurrency limit; retry shortly")]
    Overloaded,
    /// The request ran out of time.
    #[error("request did not complete within {after_ms} ms")]
    Timeout {
        /// The configured limit.
        after_ms: u64,
    },
    /// The service is draining for shutdown.
    #[error("{0}")]
    NotReady(String),
    /// A failure inside the service. Shown to the client as a generic message only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable reason, e.g. `empty_query` (see the table in the crate docs).
    pub code: String,
    /// Human-readable explanation; for `internal` a generic text without internal detail.
    pub message: String,
}

impl CoreError {
    /// Wraps an internal failure; its details reach the log, not the client.
    pub fn internal(error: impl Into<anyhow::Error>) -> CoreError {
        CoreError::Internal(error.into())
    }

    /// A 422 `invalid_request` with this message.
    pub fn invalid_request(message: impl Into<String>) -> CoreError {
        CoreError::Unprocessable {
            code: "invalid_request",
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            CoreError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            CoreError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CoreError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CoreError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CoreError::Overloaded | CoreError::Timeout { .. } | CoreError::NotReady(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::BadRequest { code, .. }
            | CoreError::TooLarge { code, .. }
            | CoreError::Unprocessable { code, .. } => code,
            CoreError::NotFound(_) => "not_found",
            CoreError::MethodNotAllowed => "method_not_allowed",
            CoreError::UnsupportedMediaType => "unsupported_media_type",
            CoreError::Overloaded => "overloaded",
            CoreError::Timeout { .. } => "timeout",
            CoreError::NotReady(_) => "not_ready",
            CoreError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for CoreError {
    fn into_response(self) -> Response {
        if let CoreError::Internal(cause) = &self {
            // Runs inside the request's span, so the log line carries the request id.
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
        let code = self.code();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: self.to_string(),
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec()
        });
        let mut response = (self.status(), bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if matches!(self, CoreError::Overloaded | CoreError::NotReady(_)) {
            // Overload and draining pass quickly: tell well-behaved clients when to come back.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response.extensions_mut().insert(ErrorCode(code));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: CoreError) -> (StatusCode, serde_json::Value, Response) {
        let response = error.into_response();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap(),
            Response::from_parts(parts, axum::body::Body::empty()),
        )
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let error = CoreError::internal(anyhow::anyhow!("disk /secret/path exploded"));
        let (status, json, response) = body_of(error).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"]["code"], "internal");
        assert!(!json.to_string().contains("secret"), "{json}");
        assert_eq!(
            response.extensions().get::<ErrorCode>(),
            Some(&ErrorCode("internal"))
        );
    }

    #[tokio::test]
    async fn every_variant_has_the_documented_status_and_shape() {
        let cases = [
            (
                CoreError::BadRequest {
                    code: "empty_query",
                    message: "m".into(),
                },
                400,
                "empty_query",
            ),
            (CoreError::NotFound("x".into()), 404, "not_found"),
            (CoreError::MethodNotAllowed, 405, "method_not_allowed"),
            (
                CoreError::TooLarge {
                    code: "query_too_long",
                    message: "m".into(),
                },
                413,
                "query_too_long",
            ),
            (
                CoreError::UnsupportedMediaType,
                415,
                "unsupported_media_type",
            ),
            (CoreError::invalid_request("bad"), 422, "invalid_request"),
            (CoreError::Overloaded, 503, "overloaded"),
            (CoreError::Timeout { after_ms: 5 }, 503, "timeout"),
            (CoreError::NotReady("draining".into()), 503, "not_ready"),
        ];
        for (error, status, code) in cases {
            let message = error.to_string();
            let (got_status, json, response) = body_of(error).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(json["error"]["code"], code);
            assert_eq!(json["error"]["message"], message.as_str());
            assert_eq!(json.as_object().unwrap().len(), 1);
            assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        }
    }
}
