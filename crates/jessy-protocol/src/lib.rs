//! # jessy-protocol
//!
//! The HTTP contract that jessy-core and jessy-api share, so the same request gets the same
//! answer from either port: the request types with their limits ([`QueryRequest`],
//! [`QueryOptions`], [`limits`]), the body rules ([`body`]), the request-id rules
//! ([`request_id`]) and one error-code table ([`ErrorCode::status`]). Both services decode
//! query bodies with [`body::decode_query`]; the gateway does it before forwarding, the core
//! before querying the engine, and neither has error rules of its own for those inputs.
//!
//! The crate is framework-light: serde, serde_json and the `http` types. Each service turns a
//! [`ProtocolError`] into its own response type. One optional feature: `openapi` derives
//! `utoipa::ToSchema` for jessy-core's OpenAPI document. How the services *serve* this
//! contract (accept loop, deadlines, request ids, access log, JSON bodies for the errors
//! hyper answers by itself) is the `jessy-http` crate's.
//!
//! ## Errors
//!
//! Every error leaves either service as `{"error": {"code": "snake_case", "message": "..."}}`
//! ([`ErrorBody`]). The status is a function of the code alone:
//!
//! | code | status | when | from |
//! | --- | --- | --- | --- |
//! | `invalid_json` | 400 | the body is not JSON: syntax error, truncated, empty | both |
//! | `invalid_utf8` | 400 | the body is not UTF-8 | both |
//! | `unreadable_body` | 400 | the body could not be read (connection cut mid-body) | both |
//! | `invalid_path` | 400 | a path segment could not be decoded (not UTF-8, e.g. `%ff`) | both |
//! | `websocket_required` | 400 | the stream route was called without an upgrade | gateway |
//! | `unsupported_message` | 400 | a binary WebSocket message | gateway |
//! | `bad_request` | 400 | the request line or a header could not be parsed (bad bytes); any other 400 a framework layer answered | both |
//! | `unauthorized` | 401 | missing or unknown API key (gateway); missing or wrong admin token on a write (core) | both |
//! | `forbidden` | 403 | the API key lacks the scope the route needs (`query`, `write`, `admin`) | gateway |
//! | `writes_disabled` | 403 | a layer write to a core started without an admin token (and without `--allow-unauthenticated-writes`) | core |
//! | `not_found` | 404 | unknown route, dimension or layer | both |
//! | `method_not_allowed` | 405 | the route exists, not with this method | both |
//! | `request_timeout` | 408 | the body did not arrive within the body read timeout (`--body-read-timeout-ms`) | both |
//! | `payload_too_large` | 413 | body over [`limits::MAX_BODY_BYTES`] (core: `--max-body-bytes`) | both |
//! | `uri_too_long` | 414 | a request target over the HTTP parser's limit (64 KiB) | both |
//! | `unsupported_media_type` | 415 | a `Content-Type` that is present and not JSON | both |
//! | `invalid_body` | 422 | JSON of the wrong shape: not an object, unknown field, wrong type, missing `query`, `options` not an object | both |
//! | `empty_query` | 422 | the query is blank (whitespace, control and invisible characters only); visible text without a word is a `no_match`, not an error | both |
//! | `query_too_long` | 422 | the query is over [`limits::MAX_QUERY_BYTES`] | both |
//! | `invalid_option` | 422 | an option out of its range (`max_iterations` outside 1–9) | both |
//! | `invalid_layer` | 422 | a layer write the registry rejects | core |
//! | `rate_limited` | 429 | the key's token bucket is empty, or the client address failed authentication too often (`Retry-After` set) | gateway |
//! | `headers_too_large` | 431 | a header section over the HTTP parser's limit (about 400 KiB, or over 100 fields) | both |
//! | `internal` | 500 | a failure inside the service; details only in its log | both |
//! | `bad_gateway` | 502 | the core connection failed even after the retry | gateway |
//! | `overloaded` | 503 | concurrency limit reached (`Retry-After` set) | core |
//! | `not_ready` | 503 | the core is draining for shutdown | core |
//! | `timeout` | 503 | the core ran out of its own request time | core |
//! | `no_healthy_upstream` | 503 | no core is up | gateway |
//! | `upstream_timeout` | 504 | the core did not answer the gateway in time | gateway |
//!
//! The rule behind the 4xx choices: **400** means "I could not read it" (bytes that are not
//! JSON text), **422** means "I read it and it is wrong" (valid JSON whose shape or values
//! break the contract). A blank or over-long query is therefore 422: the body was read and
//! parsed, one field's value is wrong, exactly like an out-of-range option. **413** is kept
//! for the body-size limit, which is enforced before anything is parsed; a client that gets
//! 413 must send fewer bytes, one that gets `query_too_long` must shorten one field.
//! **415** is a declared media type that is not JSON (an absent `Content-Type` is accepted,
//! so `curl --data` works). **408** means exactly "you were too slow to send": the body did
//! not arrive within the body read timeout. The service's own slowness is 503 `timeout` (the
//! core) or 504 (the gateway waiting for a core), never 408.
//!
//! The order of checks, identical in both services: the body must arrive in time (408; it is
//! read before anything is decided about it), then content type (415), body size (413),
//! UTF-8 (400), JSON syntax (400), shape (422), then the values: query length, blank query,
//! options (422).

pub mod body;
mod error;
pub mod feedback;
pub mod limits;
mod query;
pub mod request_id;

pub use error::{ErrorBody, ErrorCode, ErrorDetail, ProtocolError};
pub use query::{QueryOptions, QueryRequest};
