//! `POST /v1/query` (core) and `POST /api/v1/query` (gateway): the request body.
//!
//! `Deserialize` is written by hand for both types: the derived one would also accept a JSON
//! array of the fields in order (`["text"]`, `"options": [3]`), a shape no client means to
//! send and which the two services used to answer differently. Here both must be objects;
//! unknown and duplicate fields are refused.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, ProtocolError};
use crate::limits::{MAX_ITERATIONS, MAX_QUERY_BYTES, MIN_ITERATIONS};

/// The body of a query request, and the payload of a WebSocket `query` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueryRequest {
    /// The text to route: not blank, at most [`MAX_QUERY_BYTES`] bytes.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "my python script crashes with a KeyError")
    )]
    pub query: String,
    /// Per-query options; each one defaults to the engine's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<QueryOptions>,
}

/// Per-query options. Absent fields take the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueryOptions {
    /// Convergence iteration cap, [`MIN_ITERATIONS`]–[`MAX_ITERATIONS`] (default 9).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9))]
    pub max_iterations: Option<u32>,
    /// Token budget of the assembled context (default 2,000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u32>,
    /// Whether layer content goes into the context (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_content: Option<bool>,
}

impl QueryRequest {
    /// A request for `query` with default options.
    pub fn new(query: impl Into<String>) -> QueryRequest {
        QueryRequest {
            query: query.into(),
            options: None,
        }
    }

    /// Checks the rules types cannot express, in this order: query length (422
    /// `query_too_long`), blank query (422 `empty_query`), option ranges (422
    /// `invalid_option`).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let len = self.query.len();
        if len > MAX_QUERY_BYTES {
            return Err(ProtocolError::new(
                ErrorCode::QueryTooLong,
                format!("query is {len} bytes; the limit is {MAX_QUERY_BYTES}"),
            ));
        }
        if self.query.trim().is_empty() {
            return Err(ProtocolError::new(
                ErrorCode::EmptyQuery,
                "query must contain non-whitespace text",
            ));
        }
        if let Some(options) = &self.options {
            options.validate()?;
        }
        Ok(())
    }
}

impl QueryOptions {
    /// Checks the option ranges (422 `invalid_option`).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if let Some(n) = self.max_iterations {
            if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&n) {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidOption,
                    format!(
                        "options.max_iterations is {n}; it must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

const REQUEST_FIELDS: &[&str] = &["query", "options"];
const OPTION_FIELDS: &[&str] = &["max_iterations", "token_budget", "include_content"];

/// Reads one object key as its index in `fields`; other names are `unknown field` errors.
struct FieldIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldIndex {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for FieldIndex {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "one of the fields {:?}", self.0)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|field| *field == name)
            .ok_or_else(|| E::unknown_field(name, self.0))
    }
}

/// Stores a field's value, refusing a second occurrence.
fn set_once<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Deserialize<'de> for QueryRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<QueryRequest, D::Error> {
        struct RequestVisitor;

        impl<'de> Visitor<'de> for RequestVisitor {
            type Value = QueryRequest;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with a \"query\" string")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<QueryRequest, A::Error> {
                let mut query: Option<String> = None;
                // Outer Option: seen or not; inner: `null` or an object.
                let mut options: Option<Option<QueryOptions>> = None;
                while let Some(index) = map.next_key_seed(FieldIndex(REQUEST_FIELDS))? {
                    match index {
                        0 => set_once(&mut query, map.next_value()?, "query")?,
                        _ => set_once(&mut options, map.next_value()?, "options")?,
                    }
                }
                Ok(QueryRequest {
                    query: query.ok_or_else(|| de::Error::missing_field("query"))?,
                    options: options.flatten(),
                })
            }
        }

        deserializer.deserialize_map(RequestVisitor)
    }
}

impl<'de> Deserialize<'de> for QueryOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<QueryOptions, D::Error> {
        struct OptionsVisitor;

        impl<'de> Visitor<'de> for OptionsVisitor {
            type Value = QueryOptions;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of query options")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<QueryOptions, A::Error> {
                // Outer Option: seen or not; inner: `null` or a value.
                let mut max_iterations: Option<Option<u32>> = None;
                let mut token_budget: Option<Option<u32>> = None;
                let mut include_content: Option<Option<bool>> = None;
                while let Some(index) = map.next_key_seed(FieldIndex(OPTION_FIELDS))? {
                    match index {
                        0 => set_once(&mut max_iterations, map.next_value()?, "max_iterations")?,
                        1 => set_once(&mut token_budget, map.next_value()?, "token_budget")?,
                        _ => set_once(&mut include_content, map.next_value()?, "include_content")?,
                    }
                }
                Ok(QueryOptions {
                    max_iterations: max_iterations.flatten(),
                    token_budget: token_budget.flatten(),
                    include_content: include_content.flatten(),
                })
            }
        }

        deserializer.deserialize_map(OptionsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<QueryRequest, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn objects_only_with_known_fields_once() {
        let full = parse(
            r#"{"query":"a","options":{"max_iterations":3,"token_budget":10,"include_content":false}}"#,
        )
        .unwrap();
        assert_eq!(
            full.options,
            Some(QueryOptions {
                max_iterations: Some(3),
                token_budget: Some(10),
                include_content: Some(false)
            })
        );
        assert_eq!(
            parse(r#"{"query":"a","options":null}"#).unwrap().options,
            None
        );
        for bad in [
            r#"["a"]"#,
            r#"{"query":"a","options":[3]}"#,
            r#"{"query":"a","options":[]}"#,
            r#"{"query":"a","extra":1}"#,
            r#"{"query":"a","options":{"bogus":1}}"#,
            r#"{"query":"a","query":"b"}"#,
            r#"{"options":{}}"#,
            r#"{"query":null}"#,
            r#"{"query":"a","options":{"max_iterations":-1}}"#,
        ] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.classify(), serde_json::error::Category::Data, "{bad}");
        }
        assert!(parse(r#"{"query":"a","x":1}"#)
            .unwrap_err()
            .to_string()
            .contains("unknown field `x`"));
    }

    #[test]
    fn forwarded_form_keeps_only_present_fields() {
        let request = parse(r#"{"query":"a","options":{}}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::json!({"query":"a","options":{}})
        );
        assert_eq!(
            serde_json::to_value(QueryRequest::new("b")).unwrap(),
            serde_json::json!({"query":"b"})
        );
    }

    #[test]
    fn value_rules() {
        let code = |r: QueryRequest| r.validate().unwrap_err().code;
        assert_eq!(code(QueryRequest::new(" \n\t")), ErrorCode::EmptyQuery);
        assert_eq!(code(QueryRequest::new("")), ErrorCode::EmptyQuery);
        let long = QueryRequest::new("é".repeat(MAX_QUERY_BYTES / 2 + 1));
        assert_eq!(code(long), ErrorCode::QueryTooLong);
        QueryRequest::new("a".repeat(MAX_QUERY_BYTES))
            .validate()
            .unwrap();
        for n in [0, 10, 300, u32::MAX] {
            let mut request = QueryRequest::new("a");
            request.options = Some(QueryOptions {
                max_iterations: Some(n),
                ..QueryOptions::default()
            });
            assert_eq!(code(request), ErrorCode::InvalidOption, "{n}");
        }
    }
}
