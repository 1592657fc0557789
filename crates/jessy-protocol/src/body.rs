//! Reading a JSON request body: the content-type rule and the mapping of decoding failures to
//! codes, shared by both services (and by the gateway's WebSocket messages).

use http::HeaderMap;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::{ErrorCode, ProtocolError};
use crate::query::QueryRequest;

/// Whether a `Content-Type` value is JSON: `application/json` or `application/*+json`, any
/// case, with or without parameters.
pub fn is_json_content_type(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
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

/// 415 `unsupported_media_type` when a `Content-Type` is present and not JSON. An absent one
/// is accepted: curl and load generators often omit it.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ProtocolError> {
    match headers.get(http::header::CONTENT_TYPE) {
        Some(value) if !is_json_content_type(value.as_bytes()) => {
            Err(ProtocolError::unsupported_media_type())
        }
        _ => Ok(()),
    }
}

/// The media types a JSONL upload (`POST /v1/eval`, the console's quality upload) may carry.
pub const JSONL_MEDIA_TYPES: [&str; 4] = [
    "application/x-ndjson",
    "application/jsonl",
    "application/json",
    "text/plain",
];

/// 415 `unsupported_media_type` when a `Content-Type` is present and not one of
/// [`JSONL_MEDIA_TYPES`] (any case, parameters ignored). An absent one is accepted.
pub fn check_jsonl_content_type(headers: &HeaderMap) -> Result<(), ProtocolError> {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if JSONL_MEDIA_TYPES.contains(&media.as_str()) {
        Ok(())
    } else {
        Err(ProtocolError::new(
            ErrorCode::UnsupportedMediaType,
            "the upload must be JSONL (application/x-ndjson, application/jsonl, application/json or text/plain)",
        ))
    }
}

/// Decodes a body that must be one JSON object: not UTF-8 → 400 `invalid_utf8`; not JSON →
/// 400 `invalid_json`; JSON that is not an object, or of the wrong shape (unknown field,
/// wrong type, missing field) → 422 `invalid_body`.
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidUtf8,
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    if !text.trim_start().starts_with('{') {
        // Tell "not JSON" (400) from "JSON, but not an object" (422). serde would otherwise
        // accept a struct written as an array of its fields.
        serde_json::from_str::<IgnoredAny>(text).map_err(syntax_error)?;
        return Err(ProtocolError::new(
            ErrorCode::InvalidBody,
            "expected a JSON object",
        ));
    }
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ProtocolError::new(
            ErrorCode::InvalidBody,
            format!("request body has the wrong shape: {e}"),
        ),
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => syntax_error(e),
    })
}

fn syntax_error(error: serde_json::Error) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::InvalidJson,
        format!("body is not valid JSON: {error}"),
    )
}

/// Decodes and validates a query body: [`parse_json_object`], then
/// [`QueryRequest::validate`]. What both services run on `POST` query bodies.
pub fn decode_query(bytes: &[u8]) -> Result<QueryRequest, ProtocolError> {
    let request: QueryRequest = parse_json_object(bytes)?;
    request.validate()?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &[u8]) -> ErrorCode {
        decode_query(body).unwrap_err().code
    }

    #[test]
    fn syntax_and_encoding_are_400() {
        for body in [&b""[..], b"{", b"not json", b"{\"query\": \"a\",}", b"   "] {
            assert_eq!(code(body), ErrorCode::InvalidJson, "{body:?}");
        }
        assert_eq!(code(b"{\"query\":\"\xff\xfe\"}"), ErrorCode::InvalidUtf8);
        assert_eq!(code(b"\xff\xfe"), ErrorCode::InvalidUtf8);
    }

    #[test]
    fn shapes_are_422() {
        for body in [
            &br#"{"query":"a","extra":1}"#[..],
            br#"{"query":42}"#,
            br#"{"query":"a","options":{"max_iterations":"3"}}"#,
            br#"{"query":"a","options":{"token_budget":-1}}"#,
            br#"{"query":"a","options":[]}"#,
            br#"{"options":{}}"#,
            br#"["query"]"#,
            b" \"text\" ",
            b"null",
            b"42",
        ] {
            assert_eq!(
                code(body),
                ErrorCode::InvalidBody,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(code(br#"{"query":"  "}"#), ErrorCode::EmptyQuery);
        assert_eq!(
            code(br#"{"query":"a","options":{"max_iterations":300}}"#),
            ErrorCode::InvalidOption
        );
        decode_query(br#" {"query":"rust"} "#).unwrap();
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_content_type(b"application/json"));
        assert!(is_json_content_type(b"Application/JSON; charset=utf-8"));
        assert!(is_json_content_type(b"application/merge-patch+json"));
        assert!(!is_json_content_type(b"text/plain"));
        assert!(!is_json_content_type(b"application/x-www-form-urlencoded"));
        assert!(!is_json_content_type(b"\xff"));
        let mut headers = HeaderMap::new();
        assert!(check_content_type(&headers).is_ok());
        headers.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(
            check_content_type(&headers).unwrap_err().code,
            ErrorCode::UnsupportedMediaType
        );
    }
}
