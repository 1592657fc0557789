//! The HTTP routes driven in-process (`app()` + `oneshot`) against fake cores.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn health_is_503_without_a_reachable_core_and_200_with_one() {
    let keys = Keys::new(&["alice"]);
    let dead = dead_url().await;
    let state = state(&config(std::slice::from_ref(&dead), &keys)).await;
    let reply = call(&state, get_req("/api/health", None)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, json!({"status": "unhealthy"}));
    // Details (core URLs) only for a key with the admin scope.
    let reply = call(&state, get_req("/api/health", Some(keys.key(0)))).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["status"], "unhealthy");
    assert_eq!(reply.body["upstreams"][0]["url"], format!("{dead}/"));
    assert_eq!(reply.body["upstreams"][0]["state"], "down");

    let core = FakeCore::start("a").await;
    let state = self::state(&config(&[dead.clone(), core.url()], &keys)).await;
    let reply = call(&state, get_req("/api/health", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body, json!({"status": "healthy"}));
    let reply = call(&state, get_req("/api/health", Some(keys.key(0)))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["upstreams"][0]["state"], "down");
    assert_eq!(reply.body["upstreams"][1]["state"], "up");
}

#[tokio::test]
async fn v1_routes_need_a_known_bearer_key() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let state = state(&config(&[core.url()], &keys)).await;
    let body = r#"{"query":"hello"}"#;

    let wrong = format!("{}x", keys.key(0));
    for key in [None, Some("jsy_0000"), Some(wrong.as_str())] {
        let reply = call(&state, post_req("/api/v1/query", key, body)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(reply.body["error"]["code"], "unauthorized");
        assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let basic = Request::get("/api/v1/dimensions")
        .header(header::AUTHORIZATION, format!("Basic {}", keys.key(0)))
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&state, basic).await.status, StatusCode::UNAUTHORIZED);
    for path in ["/api/v1/dimensions", "/api/v1/status", "/api/v1/stream"] {
        let reply = call(&state, get_req(path, None)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(core.queries(), 0, "unauthenticated query reached the core");

    let reply = call(&state, post_req("/api/v1/query", Some(keys.key(0)), body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(core.queries(), 1);
}

#[tokio::test]
async fn a_key_file_without_keys_refuses_everyone() {
    let keys = Keys::new(&[]);
    let core = FakeCore::start("a").await;
    let mut config = config(&[core.url()], &keys);
    config.keys_file = None;
    let state = state(&config).await;
    let reply = call(&state, get_req("/api/v1/dimensions", Some("jsy_anything"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn query_is_relayed_with_request_id_and_sanitised_body() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let state = state(&config(&[core.url()], &keys)).await;

    let request = Request::post("/api/v1/query")
        .header(header::AUTHORIZATION, format!("Bearer {}", keys.key(0)))
        .header("x-request-id", "client-req-42")
        .body(Body::from(
            r#"  {"query": "why is my build slow",  "options": {"max_iterations": 3}} "#,
        ))
        .expect("request");
    let reply = call(&state, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.headers["x-request-id"], "client-req-42");
    assert_eq!(reply.body["served_by"], "a");
    assert_eq!(reply.body["convergence"]["trace"][1]["iteration"], 2);
    assert_eq!(
        core.behaviour
            .last_request_id
            .lock()
            .expect("lock")
            .as_deref(),
        Some("client-req-42")
    );
    assert_eq!(
        core.behaviour.last_body.lock().expect("lock").clone(),
        Some(json!({"query": "why is my build slow", "options": {"max_iterations": 3}}))
    );

    // Without a client id, a UUID v4 is generated, returned and forwarded.
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"x"}"#),
    )
    .await;
    let id = reply.headers["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).expect("uuid").get_version_num(),
        4
    );
    assert_eq!(
        core.behaviour
            .last_request_id
            .lock()
            .expect("lock")
            .as_deref(),
        Some(id.as_str())
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_before_reaching_a_core() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let state = state(&config(&[core.url()], &keys)).await;
    let key = Some(keys.key(0));

    let oversized = format!(r#"{{"query":"{}"}}"#, "a".repeat(70 * 1024));
    let long_query = format!(r#"{{"query":"{}"}}"#, "a".repeat(10_001));
    let cases: Vec<(Body, StatusCode, &str)> = vec![
        (
            Body::from("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (Body::from(""), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            Body::from(&b"{\"query\":\"\xc3\x28\"}"[..]),
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
        ),
        (
            Body::from(oversized),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Body::from(r#"{"query":"a","mode":"fast"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Body::from(r#"{"query":["a"]}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Body::from(r#"{"query":"a","options":{"include_content":1}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            Body::from(r#"{"query":"   "}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_query",
        ),
        (
            Body::from(long_query),
            StatusCode::UNPROCESSABLE_ENTITY,
            "query_too_long",
        ),
        (
            Body::from(r#"{"query":"a","options":{"max_iterations":10}}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_option",
        ),
    ];
    for (body, status, code) in cases {
        let reply = call(&state, post_req("/api/v1/query", key, body)).await;
        assert_eq!(reply.status, status, "{code}: {}", reply.text);
        assert_eq!(reply.body["error"]["code"], code, "{}", reply.text);
        assert!(reply.body["error"]["message"].is_string());
    }

    let text_plain = Request::post("/api/v1/query")
        .header(header::AUTHORIZATION, format!("Bearer {}", keys.key(0)))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"query":"a"}"#))
        .expect("request");
    let reply = call(&state, text_plain).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(core.queries(), 0);
}

#[tokio::test]
async fn rate_limit_per_key_name_gives_429_with_retry_after() {
    let keys = Keys::new(&["alice", "bob"]);
    let core = FakeCore::start("a").await;
    let mut config = config(&[core.url()], &keys);
    config.rate_limit = 1.try_into().expect("nz");
    config.burst = 2.try_into().expect("nz");
    let state = state(&config).await;

    for _ in 0..2 {
        let reply = call(&state, get_req("/api/v1/dimensions", Some(keys.key(0)))).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let reply = call(&state, get_req("/api/v1/dimensions", Some(keys.key(0)))).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.body["error"]["code"], "rate_limited");
    let retry_after: u64 = reply.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert_eq!(retry_after, 1);
    // Another key name has its own bucket; an invalid key is refused before the limiter.
    let reply = call(&state, get_req("/api/v1/dimensions", Some(keys.key(1)))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = call(&state, get_req("/api/v1/dimensions", Some("jsy_bad"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn dimension_routes_forward_their_paths() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let state = state(&config(&[core.url()], &keys)).await;
    let key = Some(keys.key(0));

    for (path, forwarded) in [
        ("/api/v1/dimensions", "/v1/dimensions"),
        ("/api/v1/dimensions/D01", "/v1/dimensions/D01"),
        (
            "/api/v1/dimensions/D01/layers/L2",
            "/v1/dimensions/D01/layers/L2",
        ),
        ("/api/v1/dimensions/a%20b", "/v1/dimensions/a%20b"),
    ] {
        let reply = call(&state, get_req(path, key)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        assert_eq!(reply.body["path"], forwarded);
    }
    // The core's 404 is relayed with its own error body.
    let reply = call(&state, get_req("/api/v1/dimensions/missing", key)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["error"]["message"], "no such dimension");
    // Dot segments never become another core route.
    *core.behaviour.last_path.lock().expect("lock") = None;
    let reply = call(&state, get_req("/api/v1/dimensions/..", key)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["error"]["code"], "not_found");
    assert!(core.behaviour.last_path.lock().expect("lock").is_none());
    // Other methods than the catalogue's and the layer writes' are refused by the gateway.
    let post = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/dimensions/D01/layers/L2")
        .header(header::AUTHORIZATION, format!("Bearer {}", keys.key(0)))
        .body(Body::empty())
        .expect("request");
    let reply = call(&state, post).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn unknown_routes_are_json_404() {
    let keys = Keys::new(&["alice"]);
    let state = state(&config(&[dead_url().await], &keys)).await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/query"] {
        let reply = call(&state, get_req(path, Some(keys.key(0)))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.body["error"]["code"], "not_found");
        assert!(reply.headers.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn status_aggregates_upstreams_counters_and_generation() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let dead = dead_url().await;
    let state = state(&config(&[core.url(), dead.clone()], &keys)).await;
    call(&state, get_req("/api/health", None)).await;
    let reply = call(&state, get_req("/api/v1/status", Some(keys.key(0)))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.body;
    assert_eq!(body["snapshot_generation"], 7);
    assert_eq!(
        body["requests_served"], 1,
        "the status request itself is counted after it"
    );
    assert!(body["uptime_seconds"].is_u64());
    assert_eq!(body["upstreams_up"], 1);
    assert_eq!(body["upstreams"][0]["url"], format!("{}/", core.url()));
    assert_eq!(body["upstreams"][0]["state"], "up");
    assert_eq!(body["upstreams"][0]["in_flight"], 0);
    assert_eq!(body["upstreams"][1]["state"], "down");
    assert_eq!(state.requests_served(), 2);

    // No core up: generation is null, status still answers.
    core.stop().await;
    let state = self::state(&config(&[dead], &keys)).await;
    let reply = call(&state, get_req("/api/v1/status", Some(keys.key(0)))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body["snapshot_generation"].is_null());
}

#[tokio::test]
async fn metrics_count_routes_keys_rejections_and_upstream_health() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let dead = dead_url().await;
    let state = state(&config(&[core.url(), dead.clone()], &keys)).await;
    call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":" "}"#),
    )
    .await;
    call(&state, get_req("/api/v1/dimensions/D1", None)).await;

    // Not on the public port: it names keys and counts each client's requests.
    let public = call(&state, get_req("/metrics", None)).await;
    assert_eq!(public.status, StatusCode::NOT_FOUND);
    let reply = call_metrics(&state).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.headers[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let text = reply.text;
    for expected in [
        r#"jessy_api_requests_total{route="/api/v1/query",method="POST",status="200",key="alice"} 1"#,
        r#"jessy_api_requests_total{route="/api/v1/query",method="POST",status="422",key="alice"} 1"#,
        r#"jessy_api_requests_total{route="/api/v1/dimensions/{id}",method="GET",status="401",key="anonymous"} 1"#,
        r#"jessy_api_rejections_total{reason="empty_query"} 1"#,
        r#"jessy_api_rejections_total{reason="unauthorized"} 1"#,
        "jessy_api_request_duration_seconds_bucket{route=\"/api/v1/query\",method=\"POST\",le=",
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
    assert!(text.contains(&format!(
        "jessy_api_upstream_healthy{{upstream=\"{}/\"}} 1",
        core.url()
    )));
    assert!(text.contains(&format!(
        "jessy_api_upstream_healthy{{upstream=\"{dead}/\"}} 0"
    )));
}

#[tokio::test]
async fn cors_is_closed_by_default_and_opens_for_configured_origins() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let preflight = || {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/query")
            .header(header::ORIGIN, "https://app.example.com")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,content-type",
            )
            .body(Body::empty())
            .expect("request")
    };

    let closed = state(&config(&[core.url()], &keys)).await;
    let reply = call(&closed, preflight()).await;
    assert!(!reply
        .headers
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    let mut open_config = config(&[core.url()], &keys);
    open_config.cors_origins = vec!["https://app.example.com".parse().expect("origin")];
    let open = state(&open_config).await;
    let reply = call(&open, preflight()).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(
        reply.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let other = Request::get("/api/health")
        .header(header::ORIGIN, "https://evil.example.com")
        .body(Body::empty())
        .expect("request");
    let reply = call(&open, other).await;
    assert!(!reply
        .headers
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn a_failing_core_is_retried_once_on_another() {
    let keys = Keys::new(&["alice"]);
    let a = FakeCore::start("a").await;
    let b = FakeCore::start("b").await;
    let state = state(&config(&[a.url(), b.url()], &keys)).await;
    a.set_query_status(500);
    b.set_query_status(500);

    // Both fail with 500: each request tries two cores, and the last 500 is relayed.
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body["error"]["code"], "fake_failure");
    assert_eq!(a.queries() + b.queries(), 2);

    b.set_query_status(200);
    for _ in 0..4 {
        let reply = call(
            &state,
            post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["served_by"], "b");
    }
    // A 500 is not a health failure: both cores stay in rotation.
    assert_eq!(state.upstreams().healthy_count(), 2);
    let metrics = call_metrics(&state).await.text;
    assert!(metrics.contains("jessy_api_upstream_retries_total"));

    // 503 (core overloaded) is relayed, not retried.
    let (before_a, before_b) = (a.queries(), b.queries());
    a.set_query_status(503);
    b.set_query_status(503);
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "fake_failure");
    assert_eq!(a.queries() + b.queries(), before_a + before_b + 1);
}

#[tokio::test]
async fn a_core_that_refuses_connections_is_ejected_and_the_query_retried() {
    let keys = Keys::new(&["alice"]);
    let a = FakeCore::start("a").await;
    let b = FakeCore::start("b").await;
    // Slow health checks: ejection must come from the failed forward, not from polling.
    let mut config = config(&[a.url(), b.url()], &keys);
    config.health_interval = Duration::from_secs(60);
    let state = state(&config).await;
    assert_eq!(state.upstreams().healthy_count(), 2);
    a.stop().await;

    for _ in 0..6 {
        let reply = call(
            &state,
            post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["served_by"], "b");
    }
    let status = state.upstreams().status();
    assert_eq!(status[0].state, jessy_api::upstream::UpstreamState::Down);
    assert_eq!(status[1].state, jessy_api::upstream::UpstreamState::Up);
    assert_eq!(b.queries(), 6);

    // With the last core gone too, the client gets 503 no_healthy_upstream.
    b.stop().await;
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "no_healthy_upstream");
    let reply = call(&state, get_req("/api/health", None)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn health_checks_take_a_core_down_after_three_failures_and_back_on_one_success() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let state = state(&config(&[core.url()], &keys)).await;
    let _checker = state.spawn_background_tasks();
    assert_eq!(state.upstreams().healthy_count(), 1);

    core.set_health(500);
    eventually(TIMEOUT, "core marked down", || async {
        state.upstreams().healthy_count() == 0
    })
    .await;
    assert!(state.upstreams().status()[0].consecutive_failures >= 3);
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["error"]["code"], "no_healthy_upstream");
    assert_eq!(core.queries(), 0);

    core.set_health(200);
    eventually(TIMEOUT, "core back up", || async {
        state.upstreams().healthy_count() == 1
    })
    .await;
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    state.begin_shutdown();
}

#[tokio::test]
async fn a_restarted_core_on_the_same_address_rejoins_by_itself() {
    let keys = Keys::new(&["alice"]);
    let core = FakeCore::start("a").await;
    let state = state(&config(&[core.url()], &keys)).await;
    let checker = state.spawn_background_tasks();
    let addr = core.stop().await;
    eventually(TIMEOUT, "core marked down", || async {
        state.upstreams().healthy_count() == 0
    })
    .await;

    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let restarted = FakeCore::start_on("a2", listener).await;
    eventually(TIMEOUT, "core back up", || async {
        state.upstreams().healthy_count() == 1
    })
    .await;
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.body["served_by"], "a2");
    assert_eq!(restarted.queries(), 1);
    state.begin_shutdown();
    tokio::time::timeout(TIMEOUT, checker)
        .await
        .expect("background tasks stop on shutdown")
        .expect("join");
}

#[tokio::test]
async fn a_slow_core_times_out_with_504_and_is_not_retried() {
    let keys = Keys::new(&["alice"]);
    let a = FakeCore::start("a").await;
    let b = FakeCore::start("b").await;
    let mut config = config(&[a.url(), b.url()], &keys);
    config.upstream_timeout = Duration::from_millis(200);
    let state = state(&config).await;
    a.behaviour
        .query_delay_ms
        .store(2_000, std::sync::atomic::Ordering::SeqCst);
    b.behaviour
        .query_delay_ms
        .store(2_000, std::sync::atomic::Ordering::SeqCst);
    let reply = call(
        &state,
        post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.text);
    assert_eq!(reply.body["error"]["code"], "upstream_timeout");
    assert_eq!(a.queries() + b.queries(), 1);
}

#[tokio::test]
async fn least_in_flight_balancing_spreads_concurrent_queries() {
    let keys = Keys::new(&["alice"]);
    let a = FakeCore::start("a").await;
    let b = FakeCore::start("b").await;
    let state = state(&config(&[a.url(), b.url()], &keys)).await;
    for core in [&a, &b] {
        core.behaviour
            .query_delay_ms
            .store(100, std::sync::atomic::Ordering::SeqCst);
    }
    let requests = (0..8).map(|_| {
        call(
            &state,
            post_req("/api/v1/query", Some(keys.key(0)), r#"{"query":"q"}"#),
        )
    });
    let replies = futures_util::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!((a.queries(), b.queries()), (4, 4));
}
