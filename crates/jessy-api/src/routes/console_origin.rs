//! The Origin check on writes: the console's half of its CSRF defence.
//!
//! A cross-site request forgery needs a credential the browser attaches by itself: a cookie
//! or HTTP auth. The gateway has neither. Its only credential is `Authorization: Bearer
//! <key>`, which the console keeps in `sessionStorage` (per tab, per origin) and adds to each
//! `fetch` in its own script; a page on another site can make the browser send a request, but
//! cannot read that storage or make the browser add the header. A forged request therefore
//! arrives without a key and is 401. Cross-origin `fetch` with an `Authorization` header also
//! needs a CORS preflight, which the gateway refuses unless the operator listed the origin.
//!
//! This middleware is defence in depth for the day a key leaks into a place a browser sends
//! by itself: a request that changes something (any method but `GET`, `HEAD`, `OPTIONS`) and
//! carries an `Origin` header is refused with 403 `forbidden` unless that origin is the
//! gateway's own (`Origin` names the same host and port as `Host`) or one of the configured
//! CORS origins. Requests without `Origin` (curl, SDKs, server-to-server) are not browsers'
//! cross-site requests and pass; browsers always send `Origin` on cross-origin writes.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jessy_protocol::{ErrorCode, ProtocolError};

use crate::error::ApiError;
use crate::state::AppState;

/// Middleware: refuses cross-origin writes from browsers (see the module docs).
pub(crate) async fn same_origin_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if is_safe(request.method()) || origin_allowed(request.headers(), state.cors_origins()) {
        return next.run(request).await;
    }
    ApiError::Request(ProtocolError::new(
        ErrorCode::Forbidden,
        "cross-origin write refused: the Origin header names another site",
    ))
    .into_response()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request's `Origin` (if any) may write.
fn origin_allowed(headers: &HeaderMap, cors_origins: &[axum::http::HeaderValue]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    if cors_origins.iter().any(|allowed| allowed == origin) {
        return true;
    }
    let (Ok(origin), Some(host)) = (
        origin.to_str(),
        headers.get(header::HOST).and_then(|h| h.to_str().ok()),
    ) else {
        return false;
    };
    // `null` (sandboxed frames, file: pages) has no authority and is never the gateway.
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        if let Some(origin) = origin {
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).expect("origin"),
            );
        }
        headers
    }

    #[test]
    fn same_origin_and_listed_origins_pass_others_do_not() {
        let listed = [HeaderValue::from_static("https://app.example")];
        let host = "127.0.0.1:3000";
        assert!(origin_allowed(&headers(None, host), &[]));
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:3000"), host),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("http://127.0.0.1:3001"), host),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(Some("https://evil.example"), host),
            &[]
        ));
        assert!(!origin_allowed(&headers(Some("null"), host), &[]));
        assert!(origin_allowed(
            &headers(Some("https://app.example"), host),
            &listed
        ));
        assert!(is_safe(&Method::GET) && !is_safe(&Method::PUT) && !is_safe(&Method::POST));
    }
}
