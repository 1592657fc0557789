//! The error codes, their statuses, and the error body.

use std::fmt;

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// A stable, machine-readable error reason. Serialized in snake_case (`empty_query`); the
/// HTTP status is [`ErrorCode::status`], the one table both services answer with (see the
/// crate docs for when each code is used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    InvalidJson,
    /// 400: the body is not UTF-8.
    InvalidUtf8,
    /// 400: the body could not be read.
    UnreadableBody,
    /// 400: a path segment could not be decoded.
    InvalidPath,
    /// 400: the stream route needs a WebSocket upgrade.
    WebsocketRequired,
    /// 400: a WebSocket message that is not JSON text.
    UnsupportedMessage,
    /// 400: the request itself could not be parsed (request line or header bytes).
    BadRequest,
    /// 401: missing or unknown credential (API key, or the core's admin token).
    Unauthorized,
    /// 403: the credential is valid but lacks the scope this route needs.
    Forbidden,
    /// 403: layer writes are disabled on this core (no admin token configured).
    WritesDisabled,
    /// 404: unknown route, dimension or layer.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 408: the client did not send its whole body within the body read timeout.
    RequestTimeout,
    /// 413: the body is over the size limit.
    PayloadTooLarge,
    /// 414: the request target (path and query) is over the server's limit.
    UriTooLong,
    /// 415: a `Content-Type` that is not JSON.
    UnsupportedMediaType,
    /// 422: JSON of the wrong shape.
    InvalidBody,
    /// 422: the query is blank (visible text without a word is a `no_match` answer instead).
    EmptyQuery,
    /// 422: the query is over [`crate::limits::MAX_QUERY_BYTES`].
    QueryTooLong,
    /// 422: an option out of its range.
    InvalidOption,
    /// 422: a layer write the registry rejects.
    InvalidLayer,
    /// 429: the key's rate limit, or the client's failed-authentication limit, is exhausted.
    RateLimited,
    /// 431: the request headers are over the server's limit.
    HeadersTooLarge,
    /// 500: a failure inside the service.
    Internal,
    /// 502: the upstream connection failed.
    BadGateway,
    /// 503: the concurrency limit is reached.
    Overloaded,
    /// 503: the service is draining for shutdown.
    NotReady,
    /// 503: the service ran out of its own request time.
    Timeout,
    /// 503: no upstream is up.
    NoHealthyUpstream,
    /// 504: the upstream did not answer in time.
    UpstreamTimeout,
}

impl ErrorCode {
    /// Every code, in table order.
    pub const ALL: [ErrorCode; 30] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidUtf8,
        ErrorCode::UnreadableBody,
        ErrorCode::InvalidPath,
        ErrorCode::WebsocketRequired,
        ErrorCode::UnsupportedMessage,
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::WritesDisabled,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::InvalidBody,
        ErrorCode::EmptyQuery,
        ErrorCode::QueryTooLong,
        ErrorCode::InvalidOption,
        ErrorCode::InvalidLayer,
        ErrorCode::RateLimited,
        ErrorCode::HeadersTooLarge,
        ErrorCode::Internal,
        ErrorCode::BadGateway,
        ErrorCode::Overloaded,
        ErrorCode::NotReady,
        ErrorCode::Timeout,
        ErrorCode::NoHealthyUpstream,
        ErrorCode::UpstreamTimeout,
    ];

    /// The HTTP status of this code: the one table both services use.
    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidJson
            | ErrorCode::InvalidUtf8
            | ErrorCode::UnreadableBody
            | ErrorCode::InvalidPath
            | ErrorCode::WebsocketRequired
            | ErrorCode::UnsupportedMessage
            | ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::WritesDisabled => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidBody
            | ErrorCode::EmptyQuery
            | ErrorCode::QueryTooLong
            | ErrorCode::InvalidOption
            | ErrorCode::InvalidLayer => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorCode::Overloaded
            | ErrorCode::NotReady
            | ErrorCode::Timeout
            | ErrorCode::NoHealthyUpstream => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The wire form, e.g. `"empty_query"`; also the label metrics count errors by.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::UnreadableBody => "unreadable_body",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::WebsocketRequired => "websocket_required",
            ErrorCode::UnsupportedMessage => "unsupported_message",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::WritesDisabled => "writes_disabled",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::EmptyQuery => "empty_query",
            ErrorCode::QueryTooLong => "query_too_long",
            ErrorCode::InvalidOption => "invalid_option",
            ErrorCode::InvalidLayer => "invalid_layer",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::Internal => "internal",
            ErrorCode::BadGateway => "bad_gateway",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NoHealthyUpstream => "no_healthy_upstream",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
        }
    }
}

impl ErrorCode {
    /// The code a bare error status stands for, for responses made by a framework layer rather
    /// than by the service's own error type (an empty 400 from the HTTP parser, a plain-text
    /// rejection): the first code of the table with this status, or `internal`/`bad_request`
    /// for a 5xx/4xx status the table does not list.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            413 => ErrorCode::PayloadTooLarge,
            414 => ErrorCode::UriTooLong,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::InvalidBody,
            429 => ErrorCode::RateLimited,
            431 => ErrorCode::HeadersTooLarge,
            502 => ErrorCode::BadGateway,
            503 => ErrorCode::Overloaded,
            504 => ErrorCode::UpstreamTimeout,
            500..=599 => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request the contract refuses: its code and a message for the client. Returned by the
/// shared decoding and validation functions; each service turns it into its own response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// Why; also decides the status.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl ProtocolError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status, from the table.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 413: the body is over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> ProtocolError {
        ProtocolError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body exceeds {limit} bytes"),
        )
    }

    /// 415: the declared content type is not JSON.
    pub fn unsupported_media_type() -> ProtocolError {
        ProtocolError::new(
            ErrorCode::UnsupportedMediaType,
            "content type must be application/json",
        )
    }

    /// 408: the body did not arrive within `after` (the body read timeout).
    pub fn request_timeout(after: std::time::Duration) -> ProtocolError {
        ProtocolError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} ms",
                after.as_millis()
            ),
        )
    }

    /// 400: the body could not be read.
    pub fn unreadable_body() -> ProtocolError {
        ProtocolError::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code, self.message.clone())
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtocolError {}

/// The JSON body of every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable machine-readable reason (see the table in the crate docs).
    pub code: ErrorCode,
    /// Human-readable explanation; for `internal` a generic text without internal detail.
    pub message: String,
}

impl ErrorBody {
    /// A body with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }

    /// The body as JSON bytes. Serializing a code and a string cannot fail; if it ever did,
    /// the result is the generic `internal` body rather than a half-written one.
    pub fn to_json_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_and_every_code_has_a_client_or_server_status() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
            let back: ErrorCode = serde_json::from_value(json).unwrap();
            assert_eq!(back, code);
            let status = code.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code}"
            );
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len(), "codes are unique");
    }

    #[test]
    fn the_documented_table() {
        let expect = [
            ("invalid_json", 400),
            ("invalid_utf8", 400),
            ("unreadable_body", 400),
            ("request_timeout", 408),
            ("bad_request", 400),
            ("unauthorized", 401),
            ("forbidden", 403),
            ("writes_disabled", 403),
            ("payload_too_large", 413),
            ("uri_too_long", 414),
            ("unsupported_media_type", 415),
            ("headers_too_large", 431),
            ("invalid_body", 422),
            ("empty_query", 422),
            ("query_too_long", 422),
            ("invalid_option", 422),
            ("internal", 500),
            ("overloaded", 503),
            ("upstream_timeout", 504),
        ];
        for (name, status) in expect {
            let code: ErrorCode = serde_json::from_value(name.into()).unwrap();
            assert_eq!(code.status().as_u16(), status, "{name}");
        }
    }

    #[test]
    fn bare_statuses_map_to_a_code_with_that_status() {
        for status in [
            400u16, 401, 403, 404, 405, 413, 414, 415, 422, 429, 431, 500, 502, 503, 504,
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(ErrorCode::for_status(status).status(), status, "{status}");
        }
        assert_eq!(
            ErrorCode::for_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::BadRequest
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::NOT_IMPLEMENTED),
            ErrorCode::Internal
        );
    }

    #[test]
    fn body_shape() {
        let body = ProtocolError::new(ErrorCode::EmptyQuery, "blank").body();
        let json: serde_json::Value = serde_json::from_slice(&body.to_json_vec()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "empty_query", "message": "blank"}})
        );
    }
}
