//! Request validation: nothing malformed reaches a core.
//!
//! The gateway checks size, encoding, JSON syntax, shape and ranges itself, so bad input costs
//! a core nothing and every client gets the same answer whichever core would have served it.
//! The rules (see [`crate::error`] for the status table):
//!
//! - body larger than [`MAX_BODY_BYTES`] → 413 `payload_too_large`;
//! - a `Content-Type` that is present and not JSON → 415 (an absent one is accepted, so
//!   `curl --data` without `-H` still works);
//! - body not UTF-8 → 400 `invalid_utf8`; not JSON → 400 `invalid_json`;
//! - JSON of the wrong shape — unknown field, wrong type, missing `query` — → 422 `invalid_body`;
//! - blank query → 422 `empty_query`; query over [`MAX_QUERY_BYTES`] → 422 `query_too_long`;
//!   `max_iterations` outside [`MAX_ITERATIONS`] → 422 `invalid_option`.
//!
//! What is forwarded is the re-serialised [`QueryRequest`], not the client's bytes, so only
//! fields the gateway understood ever reach a core.

use std::ops::RangeInclusive;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Largest request body accepted. A query is at most [`MAX_QUERY_BYTES`] plus a few options;
/// 64 KiB leaves room for JSON escaping (`\uXXXX` is 6 bytes per char) without letting a
/// client make the gateway buffer megabytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest query text in bytes (UTF-8), the limit jessy-core's parser is specified for.
pub const MAX_QUERY_BYTES: usize = 10_000;

/// Allowed `options.max_iterations`: the engine's convergence loop runs at most nine
/// iterations, and zero would mean "do nothing".
pub const MAX_ITERATIONS: RangeInclusive<u8> = 1..=9;

/// Body of `POST /api/v1/query`, also the payload of a WebSocket `query` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Natural-language query text; must not be blank.
    pub query: String,
    /// Tuning knobs; every one is optional and the core applies its defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<QueryOptions>,
}

/// Optional per-query settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryOptions {
    /// Upper bound on convergence iterations, within [`MAX_ITERATIONS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u8>,
    /// Upper bound on tokens of content returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u32>,
    /// Whether layer content is included in the result or only references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_content: Option<bool>,
}

impl QueryRequest {
    /// Checks the rules that types alone cannot express.
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.query.trim().is_empty() {
            return Err(ApiError::unprocessable(
                "empty_query",
                "query must contain non-whitespace text",
            ));
        }
        if self.query.len() > MAX_QUERY_BYTES {
            return Err(ApiError::unprocessable(
                "query_too_long",
                format!(
                    "query is {} bytes; the limit is {MAX_QUERY_BYTES}",
                    self.query.len()
                ),
            ));
        }
        if let Some(n) = self.options.as_ref().and_then(|o| o.max_iterations) {
            if !MAX_ITERATIONS.contains(&n) {
                return Err(ApiError::unprocessable(
                    "invalid_option",
                    format!(
                        "options.max_iterations must be between {} and {}, got {n}",
                        MAX_ITERATIONS.start(),
                        MAX_ITERATIONS.end()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Decodes a JSON *object* with the gateway's error mapping: not UTF-8 → 400, not JSON → 400,
/// JSON of the wrong shape → 422. Shared by the HTTP extractor and WebSocket messages.
///
/// The object check comes first because serde would otherwise accept a struct written as an
/// array of its fields in order (`["text"]`), a shape no client means to send.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_utf8",
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    if !text.trim_start().starts_with('{') {
        // Tell "not JSON" (400) from "JSON but not an object" (422).
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(syntax_error)?;
        return Err(ApiError::unprocessable(
            "invalid_body",
            "expected a JSON object",
        ));
    }
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable("invalid_body", e.to_string()),
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => syntax_error(e),
    })
}

fn syntax_error(error: serde_json::Error) -> ApiError {
    ApiError::bad_request("invalid_json", format!("body is not valid JSON: {error}"))
}

/// Accepts `application/json`, `application/*+json`, with or without parameters.
fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Extractor for a query body that has passed every rule in this module.
#[derive(Debug, Clone)]
pub struct ValidatedQuery(pub QueryRequest);

impl<S: Send + Sync> FromRequest<S> for ValidatedQuery {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
            let ok = content_type.to_str().is_ok_and(is_json_content_type);
            if !ok {
                return Err(ApiError::UnsupportedMediaType);
            }
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        limit: MAX_BODY_BYTES,
                    }
                } else {
                    ApiError::bad_request("unreadable_body", "the request body could not be read")
                }
            })?;
        let query: QueryRequest = parse_json(&bytes)?;
        query.validate()?;
        Ok(Self(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(result: Result<QueryRequest, ApiError>) -> (StatusCode, &'static str) {
        let error = result.and_then(|q| q.validate().map(|()| q)).unwrap_err();
        (error.status(), error.code())
    }

    fn parse(text: &[u8]) -> Result<QueryRequest, ApiError> {
        parse_json(text)
    }

    #[test]
    fn accepts_minimal_and_full_bodies() {
        let q = parse(br#"{"query":"hello"}"#).expect("minimal");
        assert_eq!(q.options, None);
        q.validate().expect("valid");
        let q = parse(
            br#"{"query":" x ","options":{"max_iterations":9,"token_budget":4000,"include_content":false}}"#,
        )
        .expect("full");
        q.validate().expect("valid");
        assert_eq!(
            q.options,
            Some(QueryOptions {
                max_iterations: Some(9),
                token_budget: Some(4000),
                include_content: Some(false)
            })
        );
        // Forwarded form keeps only known, present fields.
        let json =
            serde_json::to_value(parse(br#"{"query":"a","options":{}}"#).expect("p")).expect("ser");
        assert_eq!(json, serde_json::json!({"query":"a","options":{}}));
    }

    #[test]
    fn syntax_and_encoding_errors_are_400() {
        for body in [&b""[..], b"{", b"not json", b"{\"query\": \"a\",}"] {
            assert_eq!(code(parse(body)), (StatusCode::BAD_REQUEST, "invalid_json"));
        }
        assert_eq!(
            code(parse(b"{\"query\":\"\xff\xfe\"}")),
            (StatusCode::BAD_REQUEST, "invalid_utf8")
        );
    }

    #[test]
    fn shape_and_type_errors_are_422() {
        for body in [
            &br#"{"query":"a","extra":1}"#[..],
            br#"{"query":"a","options":{"max_iterations":3,"bogus":true}}"#,
            br#"{"query":42}"#,
            br#"{"query":"a","options":{"max_iterations":"3"}}"#,
            br#"{"query":"a","options":{"token_budget":-1}}"#,
            br#"{"query":"a","options":{"include_content":"yes"}}"#,
            br#"{"query":"a","options":{"max_iterations":300}}"#,
            br#"{"options":{}}"#,
            br#"["query"]"#,
            b" \"text\" ",
            b"null",
        ] {
            assert_eq!(
                code(parse(body)),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn value_rules_are_422() {
        assert_eq!(
            code(parse(br#"{"query":"  \n\t "}"#)),
            (StatusCode::UNPROCESSABLE_ENTITY, "empty_query")
        );
        let long = format!(r#"{{"query":"{}"}}"#, "é".repeat(MAX_QUERY_BYTES / 2 + 1));
        assert_eq!(
            code(parse(long.as_bytes())),
            (StatusCode::UNPROCESSABLE_ENTITY, "query_too_long")
        );
        let exact = format!(r#"{{"query":"{}"}}"#, "a".repeat(MAX_QUERY_BYTES));
        parse(exact.as_bytes())
            .expect("parse")
            .validate()
            .expect("at limit");
        for n in [0, 10] {
            let body = format!(r#"{{"query":"a","options":{{"max_iterations":{n}}}}}"#);
            assert_eq!(
                code(parse(body.as_bytes())),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_option")
            );
        }
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }
}
