//! Feedback bodies (`POST /v1/feedback`, `POST /api/v1/feedback`): decoded and validated the
//! same way by both services, so the gateway refuses what the core would.
//!
//! A body is one item or an array of up to [`MAX_FEEDBACK_ITEMS`] items. An item names its
//! query by `query_id` (from a recent result) or by `text` — exactly one of the two — and
//! says where it should have gone with `layer`: `"dimension/layer"`, or `null` for "this
//! should have been `no_match`". `layer` must be present: a missing label is a mistake, not a
//! vote for `no_match`.

use serde_json::Value;

use crate::error::{ErrorCode, ProtocolError};
use crate::limits::MAX_QUERY_BYTES;

/// Most items in one feedback body.
pub const MAX_FEEDBACK_ITEMS: usize = 1_000;

/// Largest feedback body: a full batch of ordinary queries fits with room to spare.
pub const MAX_FEEDBACK_BODY_BYTES: usize = 1024 * 1024;

/// How an item names its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackQuery {
    /// A `query_id` from a recent result.
    QueryId(String),
    /// The query text.
    Text(String),
}

/// One decoded feedback item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// The query.
    pub query: FeedbackQuery,
    /// `dimension/layer`, or `None` for no-match.
    pub layer: Option<String>,
}

/// Decodes a feedback body: not UTF-8 → 400 `invalid_utf8`; not JSON → 400 `invalid_json`;
/// more than [`MAX_FEEDBACK_ITEMS`] items → 413 `payload_too_large`; any other problem (an
/// empty array, an item of the wrong shape) → 422 `invalid_body` naming the item.
pub fn decode_feedback(bytes: &[u8]) -> Result<Vec<Feedback>, ProtocolError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidUtf8,
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("body is not valid JSON: {e}"),
        )
    })?;
    let (items, batch) = match value {
        Value::Array(items) => (items, true),
        object @ Value::Object(_) => (vec![object], false),
        _ => {
            return Err(invalid(
                "expected a feedback object or an array of them".to_string(),
            ))
        }
    };
    if items.is_empty() {
        return Err(invalid("the feedback array is empty".to_string()));
    }
    if items.len() > MAX_FEEDBACK_ITEMS {
        return Err(ProtocolError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "{} feedback items; at most {MAX_FEEDBACK_ITEMS} per request",
                items.len()
            ),
        ));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            decode_item(item).map_err(|message| {
                invalid(if batch {
                    format!("item {i}: {message}")
                } else {
                    message
                })
            })
        })
        .collect()
}

fn invalid(message: String) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidBody, message)
}

fn decode_item(item: Value) -> Result<Feedback, String> {
    let Value::Object(mut fields) = item else {
        return Err("expected an object".to_string());
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "query_id" | "text" | "layer"))
    {
        return Err(format!(
            "unknown field {unknown:?} (expected query_id or text, and layer)"
        ));
    }
    let layer = match fields.remove("layer") {
        None => {
            return Err(
                "missing field \"layer\" (\"dimension/layer\", or null for no_match)".into(),
            )
        }
        Some(Value::Null) => None,
        Some(Value::String(layer)) => {
            let well_formed = layer
                .split_once('/')
                .is_some_and(|(d, l)| !d.is_empty() && !l.is_empty());
            if !well_formed {
                return Err(format!("layer {layer:?} is not \"dimension/layer\""));
            }
            Some(layer)
        }
        Some(_) => return Err("\"layer\" must be a string or null".into()),
    };
    let query = match (fields.remove("query_id"), fields.remove("text")) {
        (Some(Value::String(id)), None) if !id.is_empty() && id.len() <= 64 => {
            FeedbackQuery::QueryId(id)
        }
        (None, Some(Value::String(text))) if !text.trim().is_empty() => {
            if text.len() > MAX_QUERY_BYTES {
                return Err(format!("the text is longer than {MAX_QUERY_BYTES} bytes"));
            }
            FeedbackQuery::Text(text)
        }
        (Some(_), Some(_)) => return Err("give query_id or text, not both".into()),
        (None, None) => return Err("missing query_id or text".into()),
        _ => return Err("query_id or text must be a non-empty string".into()),
    };
    Ok(Feedback { query, layer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> ErrorCode {
        decode_feedback(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn one_item_or_a_batch() {
        let one = decode_feedback(br#"{"query_id": "ab-1", "layer": "bank/balance"}"#).unwrap();
        assert_eq!(
            one,
            vec![Feedback {
                query: FeedbackQuery::QueryId("ab-1".into()),
                layer: Some("bank/balance".into())
            }]
        );
        let batch =
            decode_feedback(br#"[{"text": "hi", "layer": null}, {"text": "yo", "layer": "a/b"}]"#)
                .unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].layer, None);
    }

    #[test]
    fn bad_bodies_get_their_codes() {
        assert_eq!(code("{"), ErrorCode::InvalidJson);
        assert_eq!(
            decode_feedback(b"\xff").unwrap_err().code,
            ErrorCode::InvalidUtf8
        );
        assert_eq!(code("[]"), ErrorCode::InvalidBody);
        assert_eq!(code("3"), ErrorCode::InvalidBody);
        assert_eq!(
            code(r#"{"text": "hi"}"#),
            ErrorCode::InvalidBody,
            "layer is required"
        );
        assert_eq!(
            code(r#"{"text": "hi", "layer": "nolayer"}"#),
            ErrorCode::InvalidBody
        );
        assert_eq!(
            code(r#"{"text": "hi", "query_id": "x", "layer": null}"#),
            ErrorCode::InvalidBody
        );
        assert_eq!(
            code(r#"{"text": " ", "layer": null}"#),
            ErrorCode::InvalidBody
        );
        assert_eq!(
            code(r#"{"text": "a", "layer": null, "x": 1}"#),
            ErrorCode::InvalidBody
        );
        let big = format!("[{}]", vec![r#"{"text":"a","layer":null}"#; 1001].join(","));
        assert_eq!(code(&big), ErrorCode::PayloadTooLarge);
        let message = decode_feedback(br#"[{"text":"a","layer":null},{"layer":null}]"#)
            .unwrap_err()
            .message;
        assert!(message.contains("item 1"), "{message}");
    }
}
