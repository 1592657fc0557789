//! The WebSocket stream and graceful shutdown, on a real loopback socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::*;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/api/v1/stream` with the given bearer key.
pub async fn connect(addr: std::net::SocketAddr, key: &str) -> Socket {
    let mut request = format!("ws://{addr}/api/v1/stream")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket handshake");
    assert!(response.headers().contains_key("x-request-id"));
    socket
}

/// Sends a JSON text message.
pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// Receives the next JSON text message (skipping protocol pings), within the poll timeout.
pub async fn recv(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .expect("message in time")
            .expect("stream open")
            .expect("message");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).expect("json message")
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

#[tokio::test]
async fn stream_sends_iterations_then_the_result_and_survives_bad_messages() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let served = Served::start(config(&[core.url()], &keys)).await;
    let mut socket = connect(served.addr, keys.key(0)).await;

    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut socket).await, json!({"type": "pong"}));

    socket.send(Message::text("{not json")).await.expect("send");
    let error = recv(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "invalid_json");

    send(
        &mut socket,
        json!({"type": "query", "query": "q", "extra": 1}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["error"]["code"], "invalid_body");
    send(&mut socket, json!({"type": "query", "query": "  "})).await;
    assert_eq!(recv(&mut socket).await["error"]["code"], "empty_query");
    send(&mut socket, json!({"type": "dance"})).await;
    assert_eq!(recv(&mut socket).await["error"]["code"], "invalid_body");
    socket
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send");
    assert_eq!(
        recv(&mut socket).await["error"]["code"],
        "unsupported_message"
    );
    assert_eq!(core.queries(), 0);

    send(
        &mut socket,
        json!({"type": "query", "query": "why", "options": {"max_iterations": 2}}),
    )
    .await;
    let first = recv(&mut socket).await;
    assert_eq!(
        first,
        json!({"type": "iteration", "iteration": 1, "confidence": 0.4})
    );
    let second = recv(&mut socket).await;
    assert_eq!(second["type"], "iteration");
    assert_eq!(second["iteration"], 2);
    let result = recv(&mut socket).await;
    assert_eq!(result["type"], "result");
    assert_eq!(result["result"]["query"], "why");
    assert_eq!(
        result["result"]["convergence"]["trace"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        core.behaviour.last_body.lock().expect("lock").clone(),
        Some(json!({"query": "why", "options": {"max_iterations": 2}}))
    );
    let request_id = core
        .behaviour
        .last_request_id
        .lock()
        .expect("lock")
        .clone()
        .expect("request id forwarded");
    assert!(request_id.ends_with(".1"), "{request_id}");

    // A core error is relayed as an error message; the connection stays usable.
    core.set_query_status(422);
    send(&mut socket, json!({"type": "query", "query": "bad"})).await;
    let error = recv(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "fake_failure");
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut socket).await["type"], "pong");

    let metrics = reqwest::get(format!("http://{}/metrics", served.metrics_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains(r#"jessy_api_stream_messages_total{type="iteration"} 2"#));
    socket.close(None).await.expect("close");
    served.stop().await.expect("clean stop");
}

#[tokio::test]
async fn stream_needs_a_key_and_counts_queries_against_the_rate_limit() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let mut config = config(&[core.url()], &keys);
    config.rate_limit = 1.try_into().expect("nz");
    config.burst = 2.try_into().expect("nz");
    let served = Served::start(config).await;

    let request = format!("ws://{}/api/v1/stream", served.addr)
        .into_client_request()
        .expect("request");
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!("expected 401, got {:?}", other.map(|(_, r)| r.status())),
    }

    // The upgrade takes one token, the first query the second, the next query is refused.
    let mut socket = connect(served.addr, keys.key(0)).await;
    send(&mut socket, json!({"type": "query", "query": "one"})).await;
    let mut kinds = Vec::new();
    loop {
        let message = recv(&mut socket).await;
        kinds.push(message["type"].as_str().expect("type").to_owned());
        if message["type"] != "iteration" {
            break;
        }
    }
    assert_eq!(kinds, ["iteration", "iteration", "result"]);
    send(&mut socket, json!({"type": "query", "query": "two"})).await;
    let error = recv(&mut socket).await;
    assert_eq!(error["error"]["code"], "rate_limited");
    assert_eq!(core.queries(), 1);
    served.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_closes_streams_and_serve_returns() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let served = Served::start(config(&[core.url()], &keys)).await;
    let addr = served.addr;
    let mut socket = connect(addr, keys.key(0)).await;
    send(&mut socket, json!({"type": "ping"})).await;
    recv(&mut socket).await;

    let started = std::time::Instant::now();
    served.stop().await.expect("clean stop");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drain took {:?}",
        started.elapsed()
    );
    let closing = tokio::time::timeout(TIMEOUT, socket.next())
        .await
        .expect("close in time");
    match closing {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a going-away close frame, got {other:?}"),
    }
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener still accepting after shutdown"
    );
}

#[tokio::test]
async fn drain_is_bounded_by_the_grace_period() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    core.behaviour
        .query_delay_ms
        .store(2_500, std::sync::atomic::Ordering::SeqCst);
    let mut config = config(&[core.url()], &keys);
    config.shutdown_grace = Duration::from_millis(300);
    let served = Served::start(config).await;
    let url = format!("http://{}/api/v1/query", served.addr);
    let key = keys.key(0).to_owned();
    let slow = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(r#"{"query":"slow"}"#)
            .send()
            .await
    });
    eventually(TIMEOUT, "query in flight", || async { core.queries() == 1 }).await;
    let started = std::time::Instant::now();
    served.stop().await.expect("stop");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2_000),
        "drain not bounded: {took:?}"
    );
    assert!(
        took >= Duration::from_millis(250),
        "did not wait for in-flight work: {took:?}"
    );
    let _ = slow.await;
}
