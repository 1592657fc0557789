//! Every error code over real HTTP, each in the `{"error": {"code", "message"}}` shape.

use std::time::{Duration, Instant};

use jessy_testkit::eventually;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{
    assert_error, client, get_json, layer_body, prepared_dir, start_core, status_json,
};

#[tokio::test]
async fn request_errors_have_their_codes() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let query = server.url("/v1/query");
    let post_raw = |body: &'static str| {
        http.post(&query)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    assert_error(post_raw("{").await.unwrap(), 400, "invalid_json").await;
    assert_error(post_raw("").await.unwrap(), 400, "invalid_json").await;
    assert_error(
        http.post(&query)
            .json(&json!({"query": ""}))
            .send()
            .await
            .unwrap(),
        422,
        "empty_query",
    )
    .await;
    assert_error(
        http.post(&query)
            .json(&json!({"query": "  \n\t "}))
            .send()
            .await
            .unwrap(),
        422,
        "empty_query",
    )
    .await;

    let long = "word ".repeat(2_001); // 10,005 bytes, under the 64 KiB body limit
    let message = assert_error(
        http.post(&query)
            .json(&json!({"query": long}))
            .send()
            .await
            .unwrap(),
        422,
        "query_too_long",
    )
    .await;
    assert!(
        message.contains("10000") || message.contains("10,000") || message.contains("10 000"),
        "{message}"
    );
    let huge = "a".repeat(70 * 1024);
    assert_error(
        http.post(&query)
            .json(&json!({"query": huge}))
            .send()
            .await
            .unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    for (wrong, code) in [
        (json!({"query": "rust", "bogus": 1}), "invalid_body"),
        (
            json!({"query": "rust", "options": {"bogus": true}}),
            "invalid_body",
        ),
        (
            json!({"query": "rust", "options": {"max_iterations": 0}}),
            "invalid_option",
        ),
        (
            json!({"query": "rust", "options": {"max_iterations": 10}}),
            "invalid_option",
        ),
        (json!({"query": 5}), "invalid_body"),
        (json!({"options": {}}), "invalid_body"),
        (json!(["rust"]), "invalid_body"),
        (json!({"query": "rust", "options": [9]}), "invalid_body"),
    ] {
        let response = http.post(&query).json(&wrong).send().await.unwrap();
        assert_error(response, 422, code).await;
    }
    let response = http
        .post(&query)
        .header("content-type", "text/plain")
        .body(r#"{"query":"rust"}"#)
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;
    // No content type at all is accepted.
    assert_eq!(
        http.post(&query)
            .body(r#"{"query":"rust code"}"#)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    for path in [
        "/nope",
        "/v1/dimensions/nope",
        "/v1/dimensions/nope/layers/x",
        "/v1/dimensions/technical/layers/nope",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_error(response, 404, "not_found").await;
    }
    assert_error(
        http.delete(server.url("/v1/dimensions/technical/layers/nope"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let put_unknown_dimension = http
        .put(server.url("/v1/dimensions/nope/layers/x"))
        .json(&layer_body("X", "xyz"))
        .send();
    assert_error(put_unknown_dimension.await.unwrap(), 404, "not_found").await;

    let response = http.delete(&query).send().await.unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    assert_error(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn invalid_layers_list_every_problem() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let before: Value = get_json(&http, server.url("/ready")).await;

    let broken = json!({"name": "Broken", "parent": "no-such-layer", "frequency": 0.5, "keywords": [], "examples": []});
    let response = http
        .put(server.url("/v1/dimensions/technical/layers/broken"))
        .json(&broken)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 422, "invalid_layer").await;
    for problem in ["unknown parent", "frequency", "keyword or example"] {
        assert!(
            message.contains(problem),
            "{problem:?} missing from {message}"
        );
    }

    let response = http
        .put(server.url("/v1/dimensions/technical/layers/Not%20A%20Slug"))
        .json(&layer_body("X", "xyz"))
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 422, "invalid_layer").await;
    assert!(message.contains("slug"), "{message}");

    let weightless =
        json!({"name": "W", "frequency": 3.0, "keywords": [{"term": "w", "weight": -1.0}]});
    let response = http
        .put(server.url("/v1/dimensions/technical/layers/weightless"))
        .json(&weightless)
        .send()
        .await
        .unwrap();
    assert_error(response, 422, "invalid_layer").await;

    let missing_name = json!({"frequency": 3.0, "keywords": ["x"]});
    let response = http
        .put(server.url("/v1/dimensions/technical/layers/x"))
        .json(&missing_name)
        .send()
        .await
        .unwrap();
    assert_error(response, 422, "invalid_body").await;

    // Depth: extend the deepest chain of the dimension until a layer would sit at depth 4.
    let detail: Value = get_json(&http, server.url("/v1/dimensions/technical")).await;
    let deepest = detail["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["depth"].as_u64().unwrap())
        .unwrap();
    let (mut parent, mut depth) = (
        deepest["id"].as_str().unwrap().to_string(),
        deepest["depth"].as_u64().unwrap(),
    );
    let mut accepted = 0;
    while depth < 3 {
        let id = format!("deep-{depth}");
        let mut body = layer_body("Deep", &format!("deepword{depth}"));
        body["parent"] = json!(parent);
        let response = http
            .put(server.url(&format!("/v1/dimensions/technical/layers/{id}")))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        accepted += 1;
        parent = id;
        depth += 1;
    }
    let mut body = layer_body("Too deep", "toodeepword");
    body["parent"] = json!(parent);
    let response = http
        .put(server.url("/v1/dimensions/technical/layers/too-deep"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 422, "invalid_layer").await;
    assert!(message.contains("depth"), "{message}");

    // Rejected writes publish nothing.
    let after: Value = get_json(&http, server.url("/ready")).await;
    assert_eq!(
        after["generation"].as_u64().unwrap(),
        before["generation"].as_u64().unwrap() + accepted
    );
}

/// Opens a request whose body never completes: it holds its handler (and its concurrency
/// permit) until the stream is dropped.
async fn stalled_query(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /v1/query HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn overload_is_shed_with_503_and_health_still_answers() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &["--max-concurrency", "1"]);
    let http = client();
    // The stalled request reaches its handler asynchronously; poll until it holds the permit.
    // If it arrived while a poll held the permit, it was the one shed (answered 503 and closed
    // without reading its body): then a new one is stalled, so the race cannot end the test.
    let held = tokio::sync::Mutex::new(stalled_query(server.addr).await);
    let shed = eventually(Duration::from_secs(10), "a query shed with 503", || async {
        {
            let mut stalled = held.lock().await;
            let mut byte = [0u8; 1];
            if !matches!(stalled.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                *stalled = stalled_query(server.addr).await;
            }
        }
        let response = http
            .post(server.url("/v1/query"))
            .json(&json!({"query": "rust code"}))
            .send()
            .await
            .unwrap();
        (response.status() == 503).then_some(response)
    })
    .await;
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_error(shed, 503, "overloaded").await;
    let (status, _) = status_json(http.get(server.url("/health")).send().await.unwrap()).await;
    assert_eq!(
        status, 200,
        "liveness is not subject to the concurrency limit"
    );
    assert_eq!(
        http.get(server.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A body that stalls is the client's fault: 408 with the JSON error body, and the connection
/// closed, not the 503 `timeout` that blamed the service (and not after the request timeout).
#[tokio::test]
async fn a_stalled_body_is_answered_408_with_a_json_body() {
    let dir = prepared_dir();
    let server = start_core(
        dir.path(),
        &[
            "--body-read-timeout-ms",
            "300",
            "--request-timeout-ms",
            "60000",
        ],
    );
    let started = Instant::now();
    let mut stream = stalled_query(server.addr).await;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("an answer, then the connection closed, before the test's own timeout");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(
        text.ends_with(
            r#"{"error":{"code":"request_timeout","message":"the request body did not arrive within 300 ms"}}"#
        ),
        "{text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}
