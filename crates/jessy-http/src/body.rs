//! Reading request bodies: whole, within a deadline, within a size limit; the one middleware
//! both services put in front of their handlers ([`read_body_in_time`]); and the extractors
//! for the two body kinds the services accept (a JSON object's bytes, a JSONL upload).
//!
//! Why the body is read before the handler runs: a client that stalls or trickles must get
//! 408 `request_timeout` for its own slowness, with `Connection: close` (the rest of its body
//! is never read), instead of holding a handler until the service's request timeout answers
//! 503 for it. Reading stops just past the limit, so an oversized body costs at most the
//! limit.

use std::pin::pin;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body;
use jessy_protocol::ProtocolError;

use crate::wire::Rejection;

/// Default time a client has to send a complete request body once its head has arrived.
/// Bodies are at most 64 KiB (4 MiB for an evaluation upload), which takes well under a
/// second on any working link; ten seconds leaves room for a slow mobile link and still frees
/// a stalled request quickly.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest JSONL upload (an evaluation file): 4 MiB, about 50,000 short labelled lines;
/// CLINC150's test split is 0.4 MB. The core evaluates it and the gateway relays it, so both
/// take the same bound from here.
pub const MAX_UPLOAD_BYTES: usize = 4 * 1024 * 1024;

/// How much of a body [`read_body_in_time`] reads, and how long it waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRead {
    /// Bytes read at most (see [`read_body`]).
    pub limit: usize,
    /// The body read timeout.
    pub timeout: Duration,
}

/// Reads a whole request body, which must arrive within `timeout` (the body read timeout).
///
/// Reading stops as soon as more than `limit` bytes have arrived: the bytes so far are
/// returned, so the caller's own size check answers 413 in its usual place in the order of
/// checks (after the content type). A body whose `Content-Length` is over `limit` should not
/// be read at all; the caller can check that first.
///
/// Errors: 408 `request_timeout` when the deadline passes first, 400 `unreadable_body` when
/// the body fails (the client hung up mid-body).
pub async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, ProtocolError>
where
    B: Body<Data = Bytes>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut body = pin!(body);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while len <= limit {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(ProtocolError::request_timeout(timeout)),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(ProtocolError::unreadable_body()),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len();
                    chunks.push(data);
                }
            }
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

/// Buffers an axum request's body with [`read_body`], so the handler sees a body that has
/// fully arrived. A request without a body (a WebSocket upgrade included), or one whose
/// declared length is already over `limit` (its extractor answers 413 at once), is returned
/// untouched.
pub async fn buffer_request(
    request: Request,
    limit: usize,
    timeout: Duration,
) -> Result<Request, ProtocolError> {
    let declared_too_large = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64);
    if request.body().is_end_stream() || declared_too_large {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = read_body(body, limit, timeout).await?;
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Middleware: buffers the request body under `read` before the rest of the stack runs; a
/// body that is too slow is answered here (408, `Connection: close`). Requests without a body
/// (a WebSocket upgrade included) and bodies whose declared length is already over the limit
/// (413 at once, in the extractor) pass untouched. For `axum::middleware::from_fn_with_state`.
pub async fn read_body_in_time(
    State(read): State<BodyRead>,
    request: Request,
    next: Next,
) -> Response {
    buffer_then_run(read, request, next).await
}

/// What [`read_body_in_time`] does, for a service that chooses the limit per request (the
/// gateway's feedback route allows a larger body than its other routes).
pub async fn buffer_then_run(read: BodyRead, request: Request, next: Next) -> Response {
    match buffer_request(request, read.limit, read.timeout).await {
        Ok(request) => next.run(request).await,
        Err(error) => {
            let mut response = Rejection(error).into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// The bytes of a buffered body, with a body over `limit` as 413 `payload_too_large` (naming
/// the limit) and a body that failed as 400 `unreadable_body`. Content-type checks are the
/// caller's, before this (415 comes before 413 in the contract's order of checks).
pub async fn body_bytes<S: Send + Sync>(
    request: Request,
    state: &S,
    limit: usize,
) -> Result<Bytes, ProtocolError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ProtocolError::payload_too_large(limit)
            } else {
                ProtocolError::unreadable_body()
            }
        })
}

/// A JSONL upload: a JSONL, JSON or plain-text media type (or none; 415 otherwise), at most
/// [`MAX_UPLOAD_BYTES`] (413). Its lines are the engine's to judge. The route must allow the
/// size with `DefaultBodyLimit::max(MAX_UPLOAD_BYTES)`.
#[derive(Debug, Clone)]
pub struct JsonlUpload(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonlUpload {
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Rejection> {
        jessy_protocol::body::check_jsonl_content_type(request.headers())?;
        Ok(JsonlUpload(
            body_bytes(request, state, MAX_UPLOAD_BYTES).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Frame;
    use jessy_protocol::ErrorCode;
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body of `chunks`, which then ends or, with `stall`, never sends anything again (a
    /// client that stopped sending).
    struct TestBody {
        chunks: VecDeque<Bytes>,
        stall: bool,
    }

    impl TestBody {
        fn new(chunks: &[&'static [u8]], stall: bool) -> TestBody {
            TestBody {
                chunks: chunks.iter().map(|c| Bytes::from_static(c)).collect(),
                stall,
            }
        }
    }

    impl Body for TestBody {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            let this = self.get_mut();
            match this.chunks.pop_front() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None if this.stall => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    #[tokio::test]
    async fn a_body_that_arrives_is_read_whole() {
        let body = TestBody::new(&[b"{\"query\":", b"\"x\"}"], false);
        let bytes = read_body(body, 100, Duration::from_secs(5)).await.unwrap();
        assert_eq!(&bytes[..], b"{\"query\":\"x\"}");
    }

    #[tokio::test]
    async fn reading_stops_just_past_the_limit() {
        let body = TestBody::new(&[b"abcd".as_slice(); 10], true);
        let bytes = read_body(body, 6, Duration::from_secs(5)).await.unwrap();
        assert_eq!(bytes.len(), 8, "two chunks: just over the limit, no more");
    }

    #[tokio::test]
    async fn a_stalled_body_is_a_408() {
        let body = TestBody::new(&[b"{\"query\":"], true);
        let err = read_body(body, 100, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::RequestTimeout);
        assert_eq!(err.status().as_u16(), 408);
        assert_eq!(err.message, "the request body did not arrive within 50 ms");
    }
}
