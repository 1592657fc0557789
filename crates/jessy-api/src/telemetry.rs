//! The gateway's per-request metrics ([`observe`]). The request id, the span and the access
//! log around it are jessy-http's, shared with the core ([`jessy_http::observed`]).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::caller::KeyName;
use crate::error::ErrorCode;
use crate::state::AppState;

/// Records each request's metrics (by route template, method, status and key name), counts
/// rejections by code, and counts the request as served.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = jessy_http::observe::RouteLabel::of(&request);
    let method = request.method().clone();
    let response = next.run(request).await;
    let key = response
        .extensions()
        .get::<KeyName>()
        .map_or("anonymous", KeyName::as_str);
    state.metrics().record_request(
        route.as_str(),
        method.as_str(),
        response.status().as_u16(),
        key,
        started.elapsed(),
    );
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics().record_rejection(code.as_str());
    }
    state.count_served();
    response
}
