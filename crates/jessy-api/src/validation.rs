//! Request validation: nothing malformed reaches a core.
//!
//! The gateway checks size, encoding, JSON syntax, shape and ranges itself, so bad input costs
//! a core nothing. The rules, codes and statuses are jessy-protocol's, the very functions
//! jessy-core runs on the same bodies, so a bad request gets the same answer from either port
//! (see [`jessy_protocol`] for the table and the order of checks).
//!
//! What is forwarded is the re-serialised [`QueryRequest`], not the client's bytes, so only
//! fields the gateway understood ever reach a core.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use jessy_protocol::body::{check_content_type, decode_query, parse_json_object};
use jessy_protocol::ProtocolError;
use serde::de::DeserializeOwned;

pub use jessy_protocol::limits::{MAX_BODY_BYTES, MAX_ITERATIONS, MAX_QUERY_BYTES};
pub use jessy_protocol::{QueryOptions, QueryRequest};

use crate::error::ApiError;

/// Decodes a JSON *object* with the shared error mapping: not UTF-8 → 400, not JSON → 400,
/// JSON of the wrong shape → 422. Used for WebSocket messages; HTTP bodies go through
/// [`ValidatedQuery`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    Ok(parse_json_object(bytes)?)
}

/// Extractor for a query body that has passed every rule of the contract.
#[derive(Debug, Clone)]
pub struct ValidatedQuery(pub QueryRequest);

impl<S: Send + Sync> FromRequest<S> for ValidatedQuery {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ProtocolError::payload_too_large(MAX_BODY_BYTES)
                } else {
                    ProtocolError::unreadable_body()
                }
            })?;
        Ok(Self(decode_query(&bytes)?))
    }
}
