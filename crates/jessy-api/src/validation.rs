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
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jessy_http::body::BodyRead;
use jessy_protocol::body::{check_content_type, decode_query, parse_json_object};
use serde::de::DeserializeOwned;

pub use jessy_protocol::limits::{MAX_BODY_BYTES, MAX_ITERATIONS, MAX_QUERY_BYTES};
pub use jessy_protocol::{QueryOptions, QueryRequest};

use crate::error::ApiError;
use crate::state::AppState;

/// Reads the request body within the body read timeout before the handler runs: a client that
/// stalls or trickles gets 408 `request_timeout` (with `Connection: close`, since the rest of
/// its body is never read) instead of holding a task and a connection forever. Requests
/// without a body (the WebSocket upgrade included) and bodies whose declared length is
/// already over [`MAX_BODY_BYTES`] (413 at once, in the extractor) pass untouched. Runs after
/// authentication, so a client without a key cannot make the gateway wait for its body.
pub async fn read_body_in_time(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Feedback batches (up to 1,000 items) are the one body allowed to be larger.
    let limit = if request.uri().path() == "/api/v1/feedback" {
        jessy_protocol::feedback::MAX_FEEDBACK_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    };
    let read = BodyRead {
        limit,
        timeout: state.body_read_timeout(),
    };
    jessy_http::body::buffer_then_run(read, request, next).await
}

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
        Ok(Self(decode_query(&json_body_bytes(request, state).await?)?))
    }
}

/// The bytes of a JSON request body, after the contract's content-type and size checks (the
/// rest of the checks are the caller's, on the bytes).
pub(crate) async fn json_body_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<Bytes, ApiError> {
    check_content_type(request.headers())?;
    Ok(jessy_http::body::body_bytes(request, state, MAX_BODY_BYTES).await?)
}
