//! Who may do what through the gateway, and how it refuses, on real sockets.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use jessy_testkit::TestStack;

use crate::stream::connect;
use crate::support::*;

fn layer_body(word: &str) -> Value {
    json!({
        "name": "Gateway write",
        "frequency": 3.0,
        "keywords": [word],
        "examples": [format!("how do i set up {word}"), format!("{word} keeps failing")],
        "content": format!("About {word}."),
    })
}

#[tokio::test]
async fn scopes_decide_and_writes_reach_the_core_with_its_admin_token() {
    let keys = Keys::scoped(&[
        ("reader", Scopes::DEFAULT),
        ("writer", Scopes::of(&[jessy_api::auth::Scope::Write])),
    ]);
    let path = keys.path.clone();
    let stack = TestStack::start(move |api| api.keys_file = Some(path)).await;
    let (reader, writer, dev) = (keys.key(0), keys.key(1), stack.key());
    let http = reqwest::Client::new();
    let layer = stack.url("/api/v1/dimensions/technical/layers/gw-written");

    let refused = http
        .put(&layer)
        .bearer_auth(reader)
        .json(&layer_body("gwword"))
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("write"));
    for (path, key, status) in [
        ("/api/v1/status", reader, 403),
        ("/api/v1/status", dev, 200),
        ("/api/health", reader, 403),
        ("/api/v1/dimensions", writer, 403),
        ("/api/v1/dimensions", reader, 200),
    ] {
        let response = http
            .get(stack.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), status, "{path}");
    }

    // The writer's PUT is forwarded with the core's admin token: the core accepts it.
    let created = http
        .put(&layer)
        .bearer_auth(writer)
        .json(&layer_body("gwword"))
        .send()
        .await
        .expect("put");
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let read = http
        .get(&layer)
        .bearer_auth(reader)
        .send()
        .await
        .expect("get");
    assert_eq!(read.status(), 200);
    // Straight to the core port, without the token, the same write is refused.
    let direct = format!(
        "http://{}/v1/dimensions/technical/layers/gw-written",
        stack.stack().core_addr()
    );
    let response = http.delete(&direct).send().await.expect("delete");
    assert_eq!(response.status(), 401);
    // The gateway rejects a body that is not a JSON object before forwarding.
    let bad = http
        .put(&layer)
        .bearer_auth(writer)
        .header("content-type", "application/json")
        .body("[1]")
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), 422);
    let deleted = http
        .delete(&layer)
        .bearer_auth(dev)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);
}

#[tokio::test]
async fn failed_authentication_is_throttled_per_client_address() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let mut config = config(&[core.url()], &keys);
    config.auth_failure_limit = 3.try_into().expect("nz");
    config.auth_failure_window = Duration::from_secs(60);
    let served = Served::start(config).await;
    let url = format!("http://{}/api/v1/dimensions", served.addr);
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().expect("ip"))
            .build()
            .expect("client")
    };
    let attacker = from("127.0.0.1");
    for _ in 0..3 {
        let response = attacker
            .get(&url)
            .bearer_auth("jsy_guess")
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 401);
    }
    let throttled = attacker
        .get(&url)
        .bearer_auth("jsy_guess")
        .send()
        .await
        .expect("get");
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse::<u64>()
        .is_ok_and(|secs| (1..=60).contains(&secs)));
    let body: Value = throttled.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Keys are not even checked while throttled: a good key gets 429 too.
    let good = attacker
        .get(&url)
        .bearer_auth(keys.key(0))
        .send()
        .await
        .expect("get");
    assert_eq!(good.status(), 429);
    // Another address is unaffected (127.0.0.0/8 is all loopback on Linux).
    let other = from("127.0.0.2");
    let response = other
        .get(&url)
        .bearer_auth(keys.key(0))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    served.stop().await.expect("stop");
}

#[tokio::test]
async fn the_parsers_refusals_and_bad_paths_have_json_bodies() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let served = Served::start(config(&[core.url()], &keys)).await;
    for (what, request, status, code) in jessy_testkit::unparsable_requests() {
        // The gateway's health route stands in for the core's.
        let request = String::from_utf8_lossy(&request)
            .replacen("GET /health ", "GET /api/health ", 1)
            .into_bytes();
        let response = jessy_testkit::raw_http(served.addr, request).await;
        assert_eq!(response.status, status, "{what}: {}", response.head);
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        assert_eq!(response.json()["error"]["code"], code, "{what}");
    }
    let request = format!(
        "GET /api/v1/dimensions/%ff HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        keys.key(0)
    );
    let response = jessy_testkit::raw_http(served.addr, request.into_bytes()).await;
    assert_eq!(response.status, 400, "{}", response.head);
    assert_eq!(response.json()["error"]["code"], "invalid_path");
    served.stop().await.expect("stop");
}

#[tokio::test]
async fn a_websocket_message_over_the_limit_closes_with_1009() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let served = Served::start(config(&[core.url()], &keys)).await;
    let mut socket = connect(served.addr, keys.key(0)).await;
    let big = json!({"type": "query", "query": "x".repeat(jessy_api::validation::MAX_BODY_BYTES)});
    socket
        .send(Message::text(big.to_string()))
        .await
        .expect("send");
    let close = loop {
        let message = tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .expect("answer in time")
            .expect("a close frame, not a dropped connection")
            .expect("a close frame, not a protocol error");
        match message {
            Message::Close(frame) => break frame.expect("close frame with a code"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Size);
    assert_eq!(u16::from(close.code), 1009);
    assert_eq!(core.queries(), 0);
    served.stop().await.expect("stop");
}
