//! JSON bodies for the errors the HTTP parser answers by itself.
//!
//! hyper answers a request it cannot parse before any service code runs: a request target over
//! its limit gets `414`, a header section over its buffer (or with more than 100 fields) gets
//! `431`, a malformed request line or header byte gets `400`, each with an empty body, and the
//! connection is closed. Neither axum nor a middleware ever sees those requests, so the shared
//! `{"error": {"code", "message"}}` shape cannot be produced there.
//!
//! [`JsonErrorIo`] wraps a connection and rewrites exactly those responses on their way out:
//! a write that starts with an HTTP/1 status line of 400, 414 or 431 and whose head declares
//! `content-length: 0` is replaced by the same status with a JSON body
//! (`bad_request`, `uri_too_long`, `headers_too_large`), `content-type: application/json`,
//! `connection: close` and a fresh `x-request-id`. The services never send such a head
//! themselves (every error they produce has a non-empty JSON body), so nothing else is touched.
//! [`crate::serve`] applies the wrapper to every connection it accepts.
//!
//! A limit: hyper's automatic response is recognised when it starts a write, which is the case
//! unless a client pipelines a malformed request behind one whose response is still unsent.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use jessy_protocol::request_id::REQUEST_ID_HEADER;
use jessy_protocol::{ErrorBody, ErrorCode, ProtocolError};

/// The statuses hyper answers on its own, with the code and message each one gets.
fn parser_error(status: &[u8]) -> Option<(ErrorCode, &'static str)> {
    match status {
        b"400" => Some((
            ErrorCode::BadRequest,
            "the request could not be parsed: malformed request line or header",
        )),
        b"414" => Some((
            ErrorCode::UriTooLong,
            "the request target is longer than this server accepts",
        )),
        b"431" => Some((
            ErrorCode::HeadersTooLarge,
            "the request headers are larger than this server accepts",
        )),
        _ => None,
    }
}

/// If `bytes` begins with a complete response head that is one of hyper's automatic parse-error
/// answers, returns the length of that head and the replacement response.
pub fn rewrite_parser_error(bytes: &[u8]) -> Option<(usize, Vec<u8>)> {
    if !bytes.starts_with(b"HTTP/1.") || bytes.len() < 12 {
        return None;
    }
    let (code, message) = parser_error(&bytes[9..12])?;
    let head_len = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = &bytes[..head_len];
    let mut lines = head[..head_len - 4].split(|&b| b == b'\n');
    let status_line = lines.next()?;
    let mut kept = Vec::new();
    let mut empty_body = false;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let lower = line.to_ascii_lowercase();
        if lower.starts_with(b"content-length:") {
            empty_body = lower[b"content-length:".len()..].trim_ascii() == b"0";
            continue;
        }
        if lower.starts_with(b"connection:") || lower.starts_with(b"content-type:") {
            continue;
        }
        kept.push(line);
    }
    if !empty_body {
        return None;
    }
    let body = ErrorBody::new(code, message).to_json_vec();
    let mut out = Vec::with_capacity(head_len + body.len() + 160);
    out.extend_from_slice(status_line);
    out.push(b'\n');
    for line in kept {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n");
    out.extend_from_slice(
        format!("{}: {}\r\n\r\n", REQUEST_ID_HEADER, uuid::Uuid::new_v4()).as_bytes(),
    );
    out.extend_from_slice(&body);
    Some((head_len, out))
}

/// A connection whose automatic parse-error responses get JSON bodies (see the module docs).
#[derive(Debug)]
pub struct JsonErrorIo<T> {
    inner: T,
    /// A replacement response still being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> JsonErrorIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> JsonErrorIo<T> {
        JsonErrorIo {
            inner,
            pending: None,
        }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncWrite + Unpin> JsonErrorIo<T> {
    /// Writes what is left of a replacement response.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Starts a replacement when `buf` is an automatic parse-error response; returns how many
    /// bytes of `buf` it stands for.
    fn intercept(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<io::Result<usize>> {
        let (consumed, replacement) = rewrite_parser_error(buf)?;
        self.pending = Some((replacement, 0));
        // Written now as far as the socket takes it; the rest on the next write or flush.
        match self.poll_pending(cx) {
            Poll::Ready(Err(error)) => Some(Err(error)),
            _ => Some(Ok(consumed)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some(result) = this.intercept(cx, buf) {
            return Poll::Ready(result);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(result) = this.intercept(cx, first) {
                return Poll::Ready(result);
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The contract's error response, as either service sends it for its own errors: the status
/// of `code`, the `{"error":{"code","message"}}` body as JSON, and `code` in the response's
/// extensions, so metrics middleware counts errors by code without parsing bodies.
pub fn error_response(code: ErrorCode, message: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (code.status(), ErrorBody::new(code, message).to_json_vec()).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(code);
    response
}

/// Gives an error response made outside the service's own error type (a framework rejection in
/// plain text, an empty 4xx/5xx) the shared JSON shape: status kept, code from
/// [`ErrorCode::for_status`], a message naming the status. Responses that already are JSON,
/// and every non-error response, pass unchanged. For `axum::middleware::map_response`.
pub async fn ensure_json_error(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| jessy_protocol::body::is_json_content_type(v.as_bytes()));
    if is_json {
        return response;
    }
    let code = response
        .extensions()
        .get::<ErrorCode>()
        .copied()
        .unwrap_or_else(|| ErrorCode::for_status(status));
    let message = status.canonical_reason().map_or_else(
        || format!("request failed with status {}", status.as_u16()),
        |r| r.to_ascii_lowercase(),
    );
    let (mut parts, _) = response.into_parts();
    let body = ErrorBody::new(code, message).to_json_vec();
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.extensions.insert(code);
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// A [`ProtocolError`] as a response: the rejection of this crate's extractors and body
/// middleware, and what a service's own error type can defer to for the contract's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub ProtocolError);

impl From<ProtocolError> for Rejection {
    fn from(error: ProtocolError) -> Rejection {
        Rejection(error)
    }
}

impl axum::response::IntoResponse for Rejection {
    fn into_response(self) -> axum::response::Response {
        error_response(self.0.code, self.0.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_error_responses_become_json() {
        use axum::response::IntoResponse;
        let plain = (http::StatusCode::BAD_REQUEST, "Invalid URL: bad utf-8").into_response();
        let response = ensure_json_error(plain).await;
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["error"]["code"], "bad_request");
        let ok = ensure_json_error((http::StatusCode::OK, "fine").into_response()).await;
        assert_eq!(
            axum::body::to_bytes(ok.into_body(), 10).await.unwrap(),
            "fine"
        );
    }

    #[test]
    fn automatic_parse_errors_get_json_bodies() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n";
        let (consumed, out) = rewrite_parser_error(head).unwrap();
        assert_eq!(consumed, head.len());
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(
            head.contains("\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT"),
            "{head}"
        );
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains("connection: close"));
        assert!(head.contains("x-request-id: "));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "headers_too_large");
        for (status, code) in [
            ("400 Bad Request", "bad_request"),
            ("414 URI Too Long", "uri_too_long"),
        ] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            let (_, out) = rewrite_parser_error(head.as_bytes()).unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains(&format!("\"code\":\"{code}\"")), "{out}");
        }
    }

    #[test]
    fn the_services_own_responses_are_untouched() {
        for bytes in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 52\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"HTTP/1.1 400\"}",
            b"",
        ] {
            assert!(
                rewrite_parser_error(bytes).is_none(),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
