//! `GET /api/v1/stream`: queries over a WebSocket, with the convergence trace sent step by
//! step.
//!
//! Authentication is the same bearer header as every `/api/v1` route, checked on the upgrade
//! request (browsers cannot set headers on WebSockets; browser clients go through a backend
//! that holds the key, which is also where a key belongs). Protocol, all JSON text messages:
//!
//! - client `{"type":"query","query":"...","options":{...}}` → the gateway validates it like
//!   `POST /api/v1/query`, takes a token from the key's rate-limit bucket, calls a core's
//!   `POST /v1/query`, then sends one `{"type":"iteration", ...}` per entry of the result's
//!   `convergence.trace` (the entry's own fields, with `type` set to `"iteration"`; an entry
//!   that is not an object is sent as `{"type":"iteration","value":...}`), then
//!   `{"type":"result","result":{...}}` with the full result;
//! - client `{"type":"ping"}` → `{"type":"pong"}`;
//! - anything invalid (bad JSON, unknown type or field, failed validation, rate limit, core
//!   error) → `{"type":"error","error":{"code","message"}}`, and the connection stays open;
//! - a message over [`MAX_BODY_BYTES`] → the socket is closed with code 1009 (message too
//!   big), since the rest of that message cannot be skipped.
//!
//! The upgrade needs a key with the `query` scope.
//!
//! The upgrade request itself passes the `/api/v1` rate limiter like any request (one
//! token), and each `query` message takes one more, so a socket is no way around the limit;
//! pings are free. Messages are handled one at a time in arrival order, so replies never
//! interleave. On
//! shutdown each session sends a close frame (1001, going away) instead of holding the drain.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::Instrument;

use super::query::query_call;
use crate::auth::{Authorized, KeyName, QueryScope};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::validation::{parse_json, QueryOptions, QueryRequest, MAX_BODY_BYTES};
use jessy_http::RequestId;

/// WebSocket close code for "server going away" (RFC 6455 §7.4.1).
const CLOSE_GOING_AWAY: u16 = 1001;

/// WebSocket close code for "message too big" (RFC 6455 §7.4.1).
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;

/// Whether a receive error is a message (or frame) over the size limit.
fn is_too_big(error: axum::Error) -> bool {
    error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/stream", get(upgrade))
}

/// What a client may send.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    /// Run a query and stream its trace.
    Query {
        query: String,
        #[serde(default)]
        options: Option<QueryOptions>,
    },
    /// Keep-alive at the application level.
    Ping,
}

async fn upgrade(
    Authorized(caller, _): Authorized<QueryScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::request(
            ErrorCode::WebsocketRequired,
            "this endpoint needs a WebSocket upgrade request",
        )
        .into_response();
    };
    let key = caller.name;
    let span = tracing::info_span!("stream", request_id = %request_id, key = %key);
    let session = Session {
        state,
        key,
        request_id,
        sequence: 0,
    };
    upgrade
        .max_message_size(MAX_BODY_BYTES)
        .on_upgrade(move |socket| session.run(socket).instrument(span))
}

/// One client connection.
struct Session {
    state: AppState,
    key: KeyName,
    request_id: String,
    /// Queries sent so far; the core sees `{request_id}.{sequence}` so each query of a session
    /// is distinguishable in its logs and still traceable to the upgrade request.
    sequence: u64,
}

impl Session {
    async fn run(mut self, mut socket: WebSocket) {
        tracing::info!("stream opened");
        let shutdown = self.state.shutdown_signal();
        loop {
            let message = tokio::select! {
                message = socket.recv() => message,
                () = shutdown.cancelled() => {
                    let frame = CloseFrame {
                        code: CLOSE_GOING_AWAY,
                        reason: "server shutting down".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
            };
            let open = match message {
                None | Some(Ok(Message::Close(_))) => false,
                Some(Err(error)) => {
                    tracing::debug!(%error, "stream receive failed");
                    if is_too_big(error) {
                        let frame = CloseFrame {
                            code: CLOSE_MESSAGE_TOO_BIG,
                            reason: format!("message over {MAX_BODY_BYTES} bytes").into(),
                        };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                    }
                    false
                }
                Some(Ok(Message::Text(text))) => self.handle(&mut socket, text.as_str()).await,
                Some(Ok(Message::Binary(_))) => {
                    let error = ApiError::request(
                        ErrorCode::UnsupportedMessage,
                        "send JSON as text messages, not binary",
                    );
                    send_error(&self.state, &mut socket, &error).await
                }
                // Protocol-level pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
            };
            if !open {
                break;
            }
        }
        tracing::info!("stream closed");
    }

    /// Handles one text message; returns false when the socket is gone.
    async fn handle(&mut self, socket: &mut WebSocket, text: &str) -> bool {
        match parse_json::<ClientMessage>(text.as_bytes()) {
            Err(error) => send_error(&self.state, socket, &error).await,
            Ok(ClientMessage::Ping) => {
                send(&self.state, socket, "pong", json!({"type": "pong"})).await
            }
            Ok(ClientMessage::Query { query, options }) => {
                let request = QueryRequest { query, options };
                match self.query(&request).await {
                    Ok(result) => self.send_result(socket, result).await,
                    Err(StreamError::Api(error)) => send_error(&self.state, socket, &error).await,
                    Err(StreamError::Core(error)) => {
                        let message = json!({"type": "error", "error": error});
                        send(&self.state, socket, "error", message).await
                    }
                }
            }
        }
    }

    /// Validates, rate-limits and runs one query; returns the core's result object.
    async fn query(&mut self, request: &QueryRequest) -> Result<Value, StreamError> {
        request.validate().map_err(ApiError::from)?;
        self.state.rate_limits().local().admit(&self.key)?;
        self.sequence += 1;
        let request_id = format!("{}.{}", self.request_id, self.sequence);
        let response = self
            .state
            .upstreams()
            .forward(&query_call(request)?, &request_id)
            .await?;
        let body = response.json();
        if !response.status.is_success() {
            // The core's own error object (same shape as ours) tells the client what it did
            // wrong; anything else from a failing core is reported generically.
            let error = body
                .as_ref()
                .and_then(|b| b.get("error"))
                .filter(|e| e.get("code").is_some_and(Value::is_string))
                .cloned()
                .unwrap_or_else(|| ApiError::BadGateway.to_json());
            return Err(StreamError::Core(error));
        }
        match body {
            Some(result @ Value::Object(_)) => Ok(result),
            _ => {
                tracing::error!(status = %response.status, "core returned a result that is not a JSON object");
                Err(StreamError::Api(ApiError::BadGateway))
            }
        }
    }

    /// Sends each trace entry, then the full result.
    async fn send_result(&self, socket: &mut WebSocket, result: Value) -> bool {
        let trace = result
            .pointer("/convergence/trace")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_else(|| {
                tracing::warn!(
                    "core result has no convergence.trace array; sending the result only"
                );
                Vec::new()
            });
        for entry in trace {
            if !send(&self.state, socket, "iteration", iteration_message(entry)).await {
                return false;
            }
        }
        send(
            &self.state,
            socket,
            "result",
            json!({"type": "result", "result": result}),
        )
        .await
    }
}

/// Why a streamed query failed: the gateway refused it, or the core answered with an error.
enum StreamError {
    Api(ApiError),
    Core(Value),
}

impl From<ApiError> for StreamError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

/// A trace entry as a message: its fields plus `"type": "iteration"` (which wins over an
/// entry field of the same name).
fn iteration_message(entry: Value) -> Value {
    match entry {
        Value::Object(mut fields) => {
            fields.insert("type".to_owned(), Value::from("iteration"));
            Value::Object(fields)
        }
        other => json!({"type": "iteration", "value": other}),
    }
}

/// Sends one JSON message; false when the client is gone.
async fn send(
    state: &AppState,
    socket: &mut WebSocket,
    kind: &'static str,
    message: Value,
) -> bool {
    state.metrics().record_stream_message(kind);
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .is_ok()
}

/// Sends `{"type":"error","error":{...}}` for a gateway error (counted as a rejection).
async fn send_error(state: &AppState, socket: &mut WebSocket, error: &ApiError) -> bool {
    if let ApiError::Internal(cause) = error {
        tracing::error!(error = format!("{cause:#}"), "internal error in stream");
    }
    state.metrics().record_rejection(error.code().as_str());
    let message = json!({"type": "error", "error": error.to_json()});
    send(state, socket, "error", message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_strictly() {
        assert_eq!(
            parse_json::<ClientMessage>(br#"{"type":"ping"}"#).expect("ping"),
            ClientMessage::Ping
        );
        assert_eq!(
            parse_json::<ClientMessage>(
                br#"{"type":"query","query":"q","options":{"max_iterations":2}}"#
            )
            .expect("query"),
            ClientMessage::Query {
                query: "q".into(),
                options: Some(QueryOptions {
                    max_iterations: Some(2),
                    ..QueryOptions::default()
                })
            }
        );
        for bad in [
            &br#"{"type":"query","query":"q","bogus":1}"#[..],
            br#"{"type":"query","query":"q","options":{"bogus":1}}"#,
            br#"{"type":"unknown"}"#,
            br#"{"query":"q"}"#,
            br#"{"type":"query"}"#,
        ] {
            let error = parse_json::<ClientMessage>(bad).unwrap_err();
            assert_eq!(
                error.code(),
                ErrorCode::InvalidBody,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_json::<ClientMessage>(b"{nope").unwrap_err().code(),
            ErrorCode::InvalidJson
        );
    }

    #[test]
    fn iteration_messages_carry_the_entry_fields() {
        assert_eq!(
            iteration_message(json!({"iteration": 1, "confidence": 0.5, "type": "x"})),
            json!({"type": "iteration", "iteration": 1, "confidence": 0.5})
        );
        assert_eq!(
            iteration_message(json!(3)),
            json!({"type": "iteration", "value": 3})
        );
    }
}
