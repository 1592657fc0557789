//! The numbers of the contract, one place for both services.

/// Largest request body accepted by default, in bytes (413 `payload_too_large` beyond).
///
/// A query is at most [`MAX_QUERY_BYTES`] plus a few options, and a layer a few KiB; 64 KiB
/// leaves room for JSON escaping (`\uXXXX` is 6 bytes per character) without letting a
/// client make a service buffer megabytes. jessy-core can be given another limit with
/// `--max-body-bytes`; the gateway uses this one.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest query text, in UTF-8 bytes: the limit jessy-core's parser is specified for
/// (422 `query_too_long` beyond).
pub const MAX_QUERY_BYTES: usize = 10_000;

/// Smallest `options.max_iterations`: zero iterations would route nothing.
pub const MIN_ITERATIONS: u32 = 1;

/// Largest `options.max_iterations`: the engine's convergence cap (and its default).
pub const MAX_ITERATIONS: u32 = 9;

/// Longest client-supplied `x-request-id` kept; longer ones are replaced. Ids end up in every
/// log line of the request, so an unbounded one would let a client bloat logs.
pub const MAX_REQUEST_ID_LEN: usize = 128;
