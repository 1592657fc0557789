//! End to end: the jessy-api binary in front of real jessy-cores (in this process, see
//! `jessy_testkit::InProcessCore`; only the gateway under test is a separate process).

use futures_util::StreamExt;
use serde_json::{json, Value};

use jessy_testkit::{InProcessCore, RunningProcess};

use crate::stream::{connect, recv, send};
use crate::support::*;

const QUERY: &str = "my python script crashes with a KeyError";

/// A gateway binary in front of `cores`, with fast health checks and the given extra flags.
fn gateway(cores: &[&InProcessCore], keys: &Keys, extra: &[&str]) -> RunningProcess {
    let urls: Vec<String> = cores.iter().map(|c| c.url()).collect();
    let keys_path = keys.path.to_str().expect("utf8 path").to_owned();
    let mut args: Vec<&str> = vec!["--keys", &keys_path, "--health-interval-secs", "0.1"];
    for url in &urls {
        args.extend(["--core", url]);
    }
    args.extend(extra);
    start_api(&args)
}

/// Alice's key, one core, and a gateway in front of it.
async fn alice_core_gateway() -> (Keys, InProcessCore, RunningProcess) {
    let keys = Keys::new(&["alice"]);
    let core = InProcessCore::start("127.0.0.1:0").await;
    let api = gateway(&[&core], &keys, &[]);
    (keys, core, api)
}

async fn post_query(
    client: &reqwest::Client,
    api: &RunningProcess,
    key: Option<&str>,
    body: &str,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{}/api/v1/query", api.url("")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("request")
}

/// The gateway's `/api/v1/status` document.
async fn gateway_status(client: &reqwest::Client, api: &RunningProcess, key: &str) -> Value {
    client
        .get(format!("{}/api/v1/status", api.url("")))
        .bearer_auth(key)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn real_core_auth_query_dimensions_and_status() {
    let (keys, _core, api) = alice_core_gateway().await;
    let client = reqwest::Client::new();
    let body = json!({"query": QUERY}).to_string();

    let health = client
        .get(format!("{}/api/health", api.url("")))
        .send()
        .await
        .expect("health");
    assert_eq!(
        health.status(),
        200,
        "core was up before the gateway started"
    );

    assert_eq!(post_query(&client, &api, None, &body).await.status(), 401);
    let wrong = post_query(&client, &api, Some("jsy_wrong"), &body).await;
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.expect("json");
    assert_eq!(error["error"]["code"], "unauthorized");

    let ok = client
        .post(format!("{}/api/v1/query", api.url("")))
        .bearer_auth(keys.key(0))
        .header("content-type", "application/json")
        .header("x-request-id", "e2e-1")
        .body(body.clone())
        .send()
        .await
        .expect("query");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-request-id"], "e2e-1");
    let result: Value = ok.json().await.expect("json");
    assert_eq!(result["query"], QUERY);
    assert!(result["convergence"]["trace"].is_array(), "{result}");

    let list = client
        .get(format!("{}/api/v1/dimensions", api.url("")))
        .bearer_auth(keys.key(0))
        .send()
        .await
        .expect("dimensions");
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.expect("json");
    assert!(list.is_object(), "{list}");
    let missing = client
        .get(format!(
            "{}/api/v1/dimensions/no-such-dimension",
            api.url("")
        ))
        .bearer_auth(keys.key(0))
        .send()
        .await
        .expect("dimension");
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.expect("json");
    assert!(missing["error"]["code"].is_string());

    let status: Value = gateway_status(&client, &api, keys.key(0)).await;
    assert!(status["snapshot_generation"].is_u64(), "{status}");
    assert_eq!(status["upstreams"][0]["state"], "up");
    assert!(status["requests_served"].as_u64().expect("count") >= 5);
}

#[tokio::test]
async fn real_core_rate_limit_and_bad_bodies() {
    let keys = Keys::new(&["alice", "bob"]);
    let core = InProcessCore::start("127.0.0.1:0").await;
    let api = gateway(&[&core], &keys, &["--rate-limit", "1", "--burst", "3"]);
    let client = reqwest::Client::new();
    let alice = Some(keys.key(0));

    // Bad bodies (alice's first three tokens), each with the gateway's error code.
    let oversized = format!(r#"{{"query":"{}"}}"#, "a".repeat(65 * 1024));
    for (body, status, code) in [
        ("{oops".to_owned(), 400, "invalid_json"),
        (oversized, 413, "payload_too_large"),
        (
            r#"{"query":"x","unknown":true}"#.to_owned(),
            422,
            "invalid_body",
        ),
    ] {
        let response = post_query(&client, &api, alice, &body).await;
        assert_eq!(response.status(), status, "{code}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], code);
    }
    let limited = post_query(&client, &api, alice, &json!({"query": QUERY}).to_string()).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);

    // Bob's bucket is separate: more validation cases with his tokens.
    let bob = Some(keys.key(1));
    for (body, code) in [
        (r#"{"query":"   "}"#, "empty_query"),
        (
            r#"{"query":"x","options":{"max_iterations":"many"}}"#,
            "invalid_body",
        ),
    ] {
        let response = post_query(&client, &api, bob, body).await;
        assert_eq!(response.status(), 422, "{code}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], code);
    }
    let response = post_query(&client, &api, bob, &json!({"query": QUERY}).to_string()).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn real_core_stream_sends_each_iteration_then_the_result() {
    let (keys, _core, api) = alice_core_gateway().await;
    let mut socket = connect(api.addr, keys.key(0)).await;

    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(recv(&mut socket).await, json!({"type": "pong"}));
    send(&mut socket, json!({"type": "query"})).await;
    assert_eq!(recv(&mut socket).await["type"], "error");

    send(
        &mut socket,
        json!({"type": "query", "query": QUERY, "options": {"max_iterations": 9}}),
    )
    .await;
    let mut iterations = Vec::new();
    let result = loop {
        let message = recv(&mut socket).await;
        match message["type"].as_str() {
            Some("iteration") => iterations.push(message),
            Some("result") => break message,
            other => panic!("unexpected message type {other:?}: {message}"),
        }
    };
    let trace = result["result"]["convergence"]["trace"]
        .as_array()
        .expect("trace array")
        .clone();
    assert_eq!(iterations.len(), trace.len());
    assert!(!trace.is_empty());
    for (message, entry) in iterations.iter().zip(&trace) {
        assert_eq!(message["iteration"], entry["iteration"]);
    }
    socket.close(None).await.expect("close");
    while socket.next().await.is_some() {}
}

#[tokio::test]
async fn real_core_failover_when_one_of_two_cores_is_killed() {
    let keys = Keys::new(&["alice"]);
    let a = InProcessCore::start("127.0.0.1:0").await;
    let b = InProcessCore::start("127.0.0.1:0").await;
    let api = gateway(&[&a, &b], &keys, &[]);
    let client = reqwest::Client::new();
    let body = json!({"query": QUERY}).to_string();
    for _ in 0..6 {
        assert_eq!(
            post_query(&client, &api, Some(keys.key(0)), &body)
                .await
                .status(),
            200
        );
    }

    // Queries keep flowing while core A dies: none may fail.
    let killed = a.kill();
    let load = async {
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                post_query(&client, &api, Some(keys.key(0)), &body)
                    .await
                    .status(),
            );
        }
        statuses
    };
    let (_, statuses) = tokio::join!(killed, load);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let status: Value = gateway_status(&client, &api, keys.key(0)).await;
    assert_eq!(status["upstreams"][0]["state"], "down", "{status}");
    assert_eq!(status["upstreams"][1]["state"], "up");
    let health = client
        .get(format!("{}/api/health", api.url("")))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn real_core_all_down_gives_503_and_a_restart_recovers() {
    let (keys, core, api) = alice_core_gateway().await;
    let client = reqwest::Client::new();
    let body = json!({"query": QUERY}).to_string();
    assert_eq!(
        post_query(&client, &api, Some(keys.key(0)), &body)
            .await
            .status(),
        200
    );

    let addr = core.kill().await;
    // The first query after the kill finds the core gone (passive ejection) or the health
    // checker has already marked it down; either way the answer is a JSON 503.
    eventually(
        TIMEOUT,
        "queries answered with 503 no_healthy_upstream",
        || async {
            let response = post_query(&client, &api, Some(keys.key(0)), &body).await;
            if response.status() != 503 {
                return false;
            }
            let error: Value = response.json().await.expect("json");
            error["error"]["code"] == "no_healthy_upstream"
        },
    )
    .await;
    let health = client
        .get(format!("{}/api/health", api.url("")))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 503);

    let restarted = InProcessCore::start(addr).await;
    assert_eq!(restarted.addr, addr);
    eventually(TIMEOUT, "gateway sees the restarted core", || async {
        client
            .get(format!("{}/api/health", api.url("")))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let response = post_query(&client, &api, Some(keys.key(0)), &body).await;
    assert_eq!(response.status(), 200);
}

/// Feedback naming a query by id reaches the core that answered the query, whichever core the
/// balancer would pick: each core reports its query-id prefix in its health answer and the
/// gateway pins the feedback to it. (Balanced instead, about half of these would be `404`.)
#[tokio::test]
async fn feedback_by_query_id_reaches_the_core_that_answered() {
    let keys = Keys::new(&["alice"]);
    let open = |config: &mut jessy_core::Config| config.allow_unauthenticated_writes = true;
    let a = InProcessCore::start_with("127.0.0.1:0", open).await;
    let b = InProcessCore::start_with("127.0.0.1:0", open).await;
    let api = gateway(&[&a, &b], &keys, &[]);
    let client = reqwest::Client::new();
    let body = json!({"query": QUERY}).to_string();
    let mut ids: Vec<String> = Vec::new();
    for _ in 0..40 {
        let response = post_query(&client, &api, Some(keys.key(0)), &body).await;
        assert_eq!(response.status(), 200);
        let result: Value = response.json().await.expect("json");
        ids.push(result["query_id"].as_str().expect("query_id").to_string());
    }
    let prefixes: std::collections::BTreeSet<&str> =
        ids.iter().filter_map(|id| id.split('-').next()).collect();
    assert_eq!(prefixes.len(), 2, "both cores answered: {ids:?}");
    // Grouped by core, so the balancer's rotation cannot line up with the issuers by chance.
    ids.sort();
    for id in &ids {
        let response = client
            .post(format!("{}/api/v1/feedback", api.url("")))
            .bearer_auth(keys.key(0))
            .json(&json!({"query_id": id, "layer": null}))
            .send()
            .await
            .expect("feedback");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "feedback for {id}: {text}");
    }
}
