//! The one error type every handler returns.
//!
//! Codes, statuses and the body shape are jessy-protocol's: one table for jessy-core and
//! jessy-api (see [`jessy_protocol`]'s crate docs), so a client parses one format and gets the
//! same answer whichever service refused it. This module only adds the core's own failures
//! (not found, overload, timeout, draining, internal) and turns errors into responses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
pub use jessy_protocol::{ErrorBody, ErrorCode, ErrorDetail, ProtocolError};

/// Everything a request can fail with. Client mistakes carry a specific message; internal
/// failures carry their cause for the log only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The request breaks the shared contract: unreadable or ill-shaped body, empty or
    /// over-long query, option out of range, invalid layer, undecodable path.
    #[error("{0}")]
    Request(ProtocolError),
    /// No such route, dimension or layer.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
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

impl From<ProtocolError> for CoreError {
    fn from(error: ProtocolError) -> CoreError {
        CoreError::Request(error)
    }
}

impl CoreError {
    /// Wraps an internal failure; its details reach the log, not the client.
    pub fn internal(error: impl Into<anyhow::Error>) -> CoreError {
        CoreError::Internal(error.into())
    }

    /// A contract error with this code and message.
    pub fn request(code: ErrorCode, message: impl Into<String>) -> CoreError {
        CoreError::Request(ProtocolError::new(code, message))
    }

    /// The HTTP status: the code's, from the shared table.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::Request(error) => error.code,
            CoreError::NotFound(_) => ErrorCode::NotFound,
            CoreError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            CoreError::Overloaded => ErrorCode::Overloaded,
            CoreError::Timeout { .. } => ErrorCode::Timeout,
            CoreError::NotReady(_) => ErrorCode::NotReady,
            CoreError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl IntoResponse for CoreError {
    fn into_response(self) -> Response {
        if let CoreError::Internal(cause) = &self {
            // Runs inside the request's span, so the log line carries the request id.
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
        let mut response = jessy_http::wire::error_response(self.code(), self.to_string());
        if matches!(self, CoreError::Overloaded | CoreError::NotReady(_)) {
            // Overload and draining pass quickly: tell well-behaved clients when to come back.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
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
            Some(&ErrorCode::Internal)
        );
    }

    #[tokio::test]
    async fn every_variant_has_the_documented_status_and_shape() {
        let cases = [
            (
                CoreError::request(ErrorCode::EmptyQuery, "m"),
                422,
                "empty_query",
            ),
            (CoreError::NotFound("x".into()), 404, "not_found"),
            (CoreError::MethodNotAllowed, 405, "method_not_allowed"),
            (
                CoreError::request(ErrorCode::QueryTooLong, "m"),
                422,
                "query_too_long",
            ),
            (
                CoreError::request(ErrorCode::PayloadTooLarge, "m"),
                413,
                "payload_too_large",
            ),
            (
                ProtocolError::unsupported_media_type().into(),
                415,
                "unsupported_media_type",
            ),
            (
                CoreError::request(ErrorCode::InvalidBody, "bad"),
                422,
                "invalid_body",
            ),
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
