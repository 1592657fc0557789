//! Forwarding one request to a core, with at most one retry on another core; the policy is
//! documented on [`UpstreamPool::forward`].

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Url;

use super::UpstreamPool;
use crate::error::ApiError;

/// Header carrying the request id to the core, which logs it next to its own lines.
pub(crate) use jessy_protocol::request_id::REQUEST_ID_HEADER;

/// A request to send to some core: method, path below the core's base URL, optional body.
#[derive(Debug, Clone)]
pub struct UpstreamCall {
    method: Method,
    segments: Vec<String>,
    body: Option<Bytes>,
    /// `Authorization` value sent to the core (the admin token on layer writes).
    authorization: Option<HeaderValue>,
    /// Whether the call changes the registry (see [`UpstreamCall::as_write`]).
    write: bool,
}

/// How long a call that changes the registry may take. A write retrains the routing model
/// (seconds on a large registry, more on a loaded machine); the gateway's `--upstream-timeout`
/// is sized for queries, which take microseconds.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

impl UpstreamCall {
    /// A `GET` of the given path segments (each percent-encoded as one segment, so a client's
    /// `{id}` containing `/` or `..` cannot reach another core route).
    pub fn get<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        Self {
            method: Method::GET,
            segments: segments.into_iter().map(Into::into).collect(),
            body: None,
            authorization: None,
            write: false,
        }
    }

    /// A `POST` of a JSON body to the given path segments.
    pub fn post_json<S: Into<String>>(segments: impl IntoIterator<Item = S>, body: Bytes) -> Self {
        Self {
            method: Method::POST,
            segments: segments.into_iter().map(Into::into).collect(),
            body: Some(body),
            authorization: None,
            write: false,
        }
    }

    /// A `PUT` of a JSON body (a layer write) to the given path segments.
    pub fn put_json<S: Into<String>>(segments: impl IntoIterator<Item = S>, body: Bytes) -> Self {
        Self {
            method: Method::PUT,
            write: true,
            ..Self::post_json(segments, body)
        }
    }

    /// A `DELETE` of the given path segments.
    pub fn delete<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Self {
        Self {
            method: Method::DELETE,
            write: true,
            ..Self::get(segments)
        }
    }

    /// Marks a `POST` that changes the registry (feedback, learning, accepting a suggestion):
    /// like `PUT` and `DELETE`, it is never retried once it may have reached a core, and it
    /// gets [`WRITE_TIMEOUT`] instead of the query timeout.
    pub fn as_write(mut self) -> Self {
        self.write = true;
        self
    }

    /// Sends `Authorization: Bearer <token>` with the call. A token that is not a valid header
    /// value cannot come from a validated configuration; it is dropped rather than sent mangled.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.authorization =
            HeaderValue::from_str(&format!("Bearer {token}"))
                .ok()
                .map(|mut value| {
                    value.set_sensitive(true);
                    value
                });
        self
    }

    /// Whether the call changes the registry: then only a failure to connect, where nothing
    /// reached the core, is retried.
    fn is_write(&self) -> bool {
        self.write
    }

    /// The full URL of this call on the core at `base`.
    fn url_on(&self, base: &Url) -> Url {
        let mut url = base.clone();
        // Base URLs are validated as http(s) with a host, which always have path segments.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(&self.segments);
        }
        url
    }
}

/// A core's answer, relayed to the client as is.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    /// The core's status code.
    pub status: StatusCode,
    /// The core's body (JSON by contract).
    pub body: Bytes,
}

impl UpstreamResponse {
    /// Parses the body as JSON, for routes that look inside the answer (stream, status).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl IntoResponse for UpstreamResponse {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// How one attempt ended.
enum Attempt {
    Answered(UpstreamResponse),
    Failed(Failure),
}

/// Failures where no answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Connect,
    Timeout,
    Transport,
}

impl Attempt {
    fn is_retryable(&self, write: bool) -> bool {
        if write {
            // A write may have landed even when no answer came back: never send it twice.
            return matches!(self, Self::Failed(Failure::Connect));
        }
        match self {
            Self::Failed(Failure::Timeout) => false,
            Self::Failed(Failure::Connect | Failure::Transport) => true,
            Self::Answered(response) => matches!(
                response.status,
                StatusCode::INTERNAL_SERVER_ERROR
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::GATEWAY_TIMEOUT
            ),
        }
    }
}

impl UpstreamPool {
    /// Sends `call` to the least-loaded up core, retrying once on another core when that is
    /// useful. `request_id` is sent as `x-request-id`.
    ///
    /// Reads (`POST /v1/query` computes a result from an immutable snapshot and changes
    /// nothing; the catalogue `GET`s) can be sent twice harmlessly, so their retry policy is
    /// about *usefulness*, not safety (layer writes, `PUT`/`DELETE`, are retried only after a
    /// connect error, when nothing reached the first core):
    ///
    /// | first attempt | retried on another core? | core state |
    /// | --- | --- | --- |
    /// | connect error (refused, unreachable) | yes | ejected at once |
    /// | connection dropped / body cut short | yes | one failure counted |
    /// | timeout | **no**: the core is slow or overloaded, a second try doubles the client's wait and adds load | one failure counted |
    /// | 500, 502, 504 | yes: a crash or proxy fault on that core says nothing about the others | unchanged |
    /// | 503 | **no**: jessy-core's 503 means "overloaded / not ready" — load shedding that a retry would defeat; relayed as is | unchanged |
    /// | any other status (2xx, 4xx) | no: that is the answer | unchanged |
    ///
    /// If no other core is up, the first outcome stands. When every attempt failed without an
    /// answer, the client gets 503 `no_healthy_upstream` if the failures left no core up, else
    /// 504 `upstream_timeout` or 502 `bad_gateway`. Answers from a core (any status) are relayed
    /// with their body untouched: the core speaks the same error format as the gateway.
    pub async fn forward(
        &self,
        call: &UpstreamCall,
        request_id: &str,
    ) -> Result<UpstreamResponse, ApiError> {
        let first = self.pick(None).ok_or(ApiError::NoHealthyUpstream)?;
        let outcome = self.attempt(first, call, request_id).await;
        if !outcome.is_retryable(call.is_write()) {
            return self.conclude(outcome);
        }
        let Some(second) = self.pick(Some(first)) else {
            return self.conclude(outcome);
        };
        self.metrics.record_retry();
        tracing::info!(
            from = %self.upstreams[first].label,
            to = %self.upstreams[second].label,
            "retrying on another upstream"
        );
        let retried = self.attempt(second, call, request_id).await;
        self.conclude(retried)
    }

    /// Forwards `call` to the up core whose query ids start with `prefix` (feedback naming a
    /// query by id: only the core that answered the query remembers it), or, when no up core
    /// claims the prefix, like [`Self::forward`]. The pinned attempt is not retried elsewhere:
    /// another core could only answer `404` for the id.
    pub async fn forward_to_issuer(
        &self,
        call: &UpstreamCall,
        request_id: &str,
        prefix: &str,
    ) -> Result<UpstreamResponse, ApiError> {
        let issuer = self
            .upstreams
            .iter()
            .position(|u| u.up.load(std::sync::atomic::Ordering::Relaxed) && u.issues(prefix));
        match issuer {
            Some(index) => {
                let outcome = self.attempt(index, call, request_id).await;
                self.conclude(outcome)
            }
            None => self.forward(call, request_id).await,
        }
    }

    /// Turns the final attempt into the handler's result.
    fn conclude(&self, outcome: Attempt) -> Result<UpstreamResponse, ApiError> {
        match outcome {
            Attempt::Answered(response) => Ok(response),
            Attempt::Failed(_) if self.healthy_count() == 0 => Err(ApiError::NoHealthyUpstream),
            Attempt::Failed(Failure::Timeout) => Err(ApiError::UpstreamTimeout),
            Attempt::Failed(Failure::Connect | Failure::Transport) => Err(ApiError::BadGateway),
        }
    }

    /// One request to core `index`, updating its health on transport failures.
    async fn attempt(&self, index: usize, call: &UpstreamCall, request_id: &str) -> Attempt {
        let upstream = &self.upstreams[index];
        let _in_flight = self.begin(index);
        let mut request = self
            .client
            .request(call.method.clone(), call.url_on(&upstream.url))
            .header(REQUEST_ID_HEADER, request_id);
        if call.is_write() {
            request = request.timeout(WRITE_TIMEOUT);
        }
        if let Some(value) = &call.authorization {
            request = request.header(header::AUTHORIZATION, value.clone());
        }
        if let Some(body) = &call.body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        match result {
            Ok((status, body)) => {
                let outcome = if status.is_server_error() {
                    "error_status"
                } else {
                    "ok"
                };
                self.metrics
                    .record_upstream_attempt(&upstream.label, outcome);
                if status.is_server_error() {
                    tracing::warn!(upstream = %upstream.label, %status, "upstream answered with an error");
                }
                Attempt::Answered(UpstreamResponse { status, body })
            }
            Err(error) => {
                let failure = if error.is_connect() {
                    Failure::Connect
                } else if error.is_timeout() {
                    Failure::Timeout
                } else {
                    Failure::Transport
                };
                let (outcome, reason) = match failure {
                    Failure::Connect => ("connect_error", "connection failed"),
                    Failure::Timeout => ("timeout", "request timed out"),
                    Failure::Transport => ("transport_error", "connection lost"),
                };
                self.metrics
                    .record_upstream_attempt(&upstream.label, outcome);
                tracing::warn!(
                    upstream = %upstream.label,
                    error = %error_chain(&error),
                    reason,
                    "upstream request failed"
                );
                if failure == Failure::Connect {
                    self.eject(index, reason);
                } else {
                    self.mark_failure(index, reason);
                }
                Attempt::Failed(failure)
            }
        }
    }
}

/// A reqwest error with its sources, which carry the useful part ("connection refused").
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_below_the_base_path() {
        let call = UpstreamCall::get(["v1", "dimensions", "a/../b c"]);
        let base = Url::parse("http://core:8080").expect("url");
        assert_eq!(
            call.url_on(&base).as_str(),
            "http://core:8080/v1/dimensions/a%2F..%2Fb%20c"
        );
        let prefixed = Url::parse("http://core:8080/jessy/").expect("url");
        assert_eq!(
            call.url_on(&prefixed).as_str(),
            "http://core:8080/jessy/v1/dimensions/a%2F..%2Fb%20c"
        );
    }

    #[test]
    fn retry_policy() {
        let answered = |status| {
            Attempt::Answered(UpstreamResponse {
                status,
                body: Bytes::new(),
            })
        };
        assert!(answered(StatusCode::INTERNAL_SERVER_ERROR).is_retryable(false));
        assert!(answered(StatusCode::BAD_GATEWAY).is_retryable(false));
        assert!(!answered(StatusCode::SERVICE_UNAVAILABLE).is_retryable(false));
        assert!(!answered(StatusCode::OK).is_retryable(false));
        assert!(!answered(StatusCode::NOT_FOUND).is_retryable(false));
        assert!(Attempt::Failed(Failure::Connect).is_retryable(false));
        assert!(Attempt::Failed(Failure::Transport).is_retryable(false));
        assert!(!Attempt::Failed(Failure::Timeout).is_retryable(false));
        // Writes: only when nothing reached the core.
        assert!(Attempt::Failed(Failure::Connect).is_retryable(true));
        assert!(!Attempt::Failed(Failure::Transport).is_retryable(true));
        assert!(!answered(StatusCode::INTERNAL_SERVER_ERROR).is_retryable(true));
    }
}
