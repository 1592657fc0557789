//! The router without a socket: `jessy_core::app` driven with `tower::ServiceExt::oneshot`
//! over the embedded default registry in memory.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use jessy_core::{app, route_list, AppState, Config};
use jessy_engine::{Engine, QueryOptions};
use serde_json::{json, Value};
use tower::ServiceExt;

/// The in-memory default engine, compiled once per test binary (a build trains the model).
fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| Arc::new(Engine::default_in_memory().expect("default registry")))
        .clone()
}

fn state_with(config: Config) -> AppState {
    AppState::new(engine(), config)
}

async fn send(state: &AppState, method: Method, uri: &str, body: Option<Value>) -> Response {
    let mut request = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(value) => {
            request = request.header("content-type", "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    app(state.clone())
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap()
}

async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes))),
    )
}

#[tokio::test]
async fn query_response_is_exactly_the_engine_result() {
    let state = state_with(Config::default());
    let text = "i feel anxious about my exam tomorrow";
    let options = QueryOptions {
        max_iterations: 3,
        token_budget: 300,
        include_content: true,
    };
    let body = json!({"query": text, "options": {"max_iterations": 3, "token_budget": 300}});
    let (status, served) = json_of(send(&state, Method::POST, "/v1/query", Some(body)).await).await;
    assert_eq!(status, StatusCode::OK);
    // Through text, as a client sees it (f32 values widen differently via `to_value`).
    let direct = serde_json::to_string(&engine().query(text, &options).unwrap()).unwrap();
    let mut direct: Value = serde_json::from_str(&direct).unwrap();
    let mut served = served;
    // Timings differ run to run; everything else must be identical.
    direct.as_object_mut().unwrap().remove("timings_us");
    let timings = served
        .as_object_mut()
        .unwrap()
        .remove("timings_us")
        .expect("timings present");
    assert!(timings["total"].as_f64().unwrap() > 0.0);
    // Every query gets its own id; both have one, and they differ.
    let ids = [&mut direct, &mut served].map(|v| v.as_object_mut().unwrap().remove("query_id"));
    assert!(ids.iter().all(|id| id
        .as_ref()
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())));
    assert_ne!(ids[0], ids[1]);
    assert_eq!(served, direct);
}

#[tokio::test]
async fn openapi_documents_exactly_the_routes_served() {
    let state = state_with(Config::default());
    let (status, doc) = json_of(send(&state, Method::GET, "/openapi.json", None).await).await;
    assert_eq!(status, StatusCode::OK);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = route_list()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // And every listed route really is routed: none falls through to the 404/405 fallbacks.
    for (method, path) in route_list() {
        let uri = path
            .replace("{id}", "technical")
            .replace("{layer}", "programming-nope");
        let response = send(&state, method.clone(), &uri, None).await;
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if response.status() == StatusCode::NOT_FOUND {
            let (_, body) = json_of(response).await;
            assert!(
                !body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("no route"),
                "{method} {path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn query_result_schema_names_every_field() {
    let state = state_with(Config::default());
    let (_, doc) = json_of(send(&state, Method::GET, "/openapi.json", None).await).await;
    let schema = &doc["components"]["schemas"]["QueryResult"];
    let documented: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    // A matched result and a no-match one (which adds `no_match_reason`) cover every field.
    let mut seen = BTreeSet::new();
    for text in ["refactor my rust code", "how many grams of flour in a cup"] {
        let result =
            serde_json::to_value(engine().query(text, &QueryOptions::default()).unwrap()).unwrap();
        let fields: BTreeSet<String> = result.as_object().unwrap().keys().cloned().collect();
        assert!(
            required.is_subset(&fields),
            "documented as required but absent: {:?}",
            required.difference(&fields)
        );
        seen.extend(fields);
    }
    assert_eq!(seen, documented);
}

#[tokio::test]
async fn errors_and_request_ids_through_the_router() {
    let state = state_with(Config::default());
    let response = send(&state, Method::GET, "/v1/nope", None).await;
    assert!(uuid_like(
        response.headers()["x-request-id"].to_str().unwrap()
    ));
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    let request = Request::builder()
        .uri("/health")
        .header("x-request-id", "abc")
        .body(Body::empty())
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc");
    // Ids that are not short visible ASCII are replaced, not echoed into logs.
    for bad in ["has space".to_string(), "a".repeat(129)] {
        let request = Request::builder()
            .uri("/health")
            .header("x-request-id", bad.as_str())
            .body(Body::empty())
            .unwrap();
        let response = app(state.clone()).oneshot(request).await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid_like(id), "{bad:?} was kept as {id:?}");
    }

    let response = send(&state, Method::PATCH, "/v1/dimensions/technical", None).await;
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    let (status, body) = json_of(response).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|&c| c == '-').count() == 4
}

#[tokio::test]
async fn ready_turns_503_when_draining_while_health_stays_200() {
    let state = state_with(Config::default());
    assert_eq!(
        send(&state, Method::GET, "/ready", None).await.status(),
        StatusCode::OK
    );
    state.begin_drain();
    let (status, body) = json_of(send(&state, Method::GET, "/ready", None).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(
        send(&state, Method::GET, "/health", None).await.status(),
        StatusCode::OK
    );
}

/// A request body that sends nothing until `release` is dropped, holding its handler open.
fn pending_body() -> (Body, tokio::sync::mpsc::Sender<Bytes>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(chunk), rx))
    });
    (Body::from_stream(stream), tx)
}

#[tokio::test]
async fn the_concurrency_limit_is_shared_across_routes() {
    let state = state_with(Config {
        max_concurrency: 1,
        ..Config::default()
    });
    let router = app(state.clone());
    let (body, release) = pending_body();
    let held = tokio::spawn(
        router
            .clone()
            .oneshot(Request::post("/v1/query").body(body).unwrap()),
    );
    // Another *route* is refused too: one semaphore, not one per route.
    let mut shed = None;
    for _ in 0..200 {
        let response = router
            .clone()
            .oneshot(Request::get("/v1/dimensions").body(Body::empty()).unwrap())
            .await
            .unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, body) = json_of(shed.expect("second request shed")).await;
    assert_eq!(body["error"]["code"], "overloaded");
    let health = router
        .clone()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    release
        .send(Bytes::from_static(br#"{"query":"rust code"}"#))
        .await
        .unwrap();
    drop(release);
    assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::OK);
    let after = router
        .oneshot(Request::get("/v1/dimensions").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::OK, "the permit is returned");
}

#[tokio::test]
async fn two_apps_in_one_process_keep_their_own_metrics() {
    let a = state_with(Config::default());
    let b = state_with(Config::default());
    send(&a, Method::GET, "/health", None).await;
    send(&a, Method::GET, "/health", None).await;
    let text_a = axum::body::to_bytes(
        send(&a, Method::GET, "/metrics", None).await.into_body(),
        usize::MAX,
    )
    .await
    .unwrap();
    let text_b = axum::body::to_bytes(
        send(&b, Method::GET, "/metrics", None).await.into_body(),
        usize::MAX,
    )
    .await
    .unwrap();
    let (text_a, text_b) = (
        String::from_utf8_lossy(&text_a),
        String::from_utf8_lossy(&text_b),
    );
    assert!(
        text_a.contains(
            r#"jessy_core_http_requests_total{method="GET",route="/health",status="200"} 2"#
        ),
        "{text_a}"
    );
    assert!(!text_b.contains(r#"route="/health""#), "{text_b}");
}

#[tokio::test]
async fn writes_work_on_an_in_memory_engine_and_bump_the_generation() {
    // A private engine: this test changes it. Writes need a token or the explicit opt-out.
    let engine = Arc::new(Engine::default_in_memory().unwrap());
    let config = Config {
        allow_unauthenticated_writes: true,
        ..Config::default()
    };
    let state = AppState::new(engine.clone(), config);
    let g0 = engine.stats().generation;
    let body = json!({"name": "Mem", "frequency": 3.0, "keywords": ["memlayerword"]});
    let (status, out) = json_of(
        send(
            &state,
            Method::PUT,
            "/v1/dimensions/technical/layers/mem",
            Some(body),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    assert_eq!(out["generation"], g0 + 1);
    assert_eq!(engine.stats().generation, g0 + 1);
    let (status, _) = json_of(
        send(
            &state,
            Method::DELETE,
            "/v1/dimensions/technical/layers/mem",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(engine.stats().generation, g0 + 2);
}

#[tokio::test]
async fn bodies_over_the_configured_limit_are_413() {
    let state = state_with(Config {
        max_body_bytes: 32,
        ..Config::default()
    });
    let (status, body) = json_of(
        send(
            &state,
            Method::POST,
            "/v1/query",
            Some(json!({"query": "a query longer than thirty-two bytes"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

async fn write_with(
    state: &AppState,
    authorization: Option<&str>,
) -> (StatusCode, Value, Response) {
    let mut request = Request::builder()
        .method(Method::DELETE)
        .uri("/v1/dimensions/technical/layers/no-such-layer");
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = app(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap();
    (
        parts.status,
        json,
        Response::from_parts(parts, Body::empty()),
    )
}

#[tokio::test]
async fn writes_are_disabled_without_a_token_unless_opened() {
    let (status, json, _) = write_with(&state_with(Config::default()), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json["error"]["code"], "writes_disabled");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--admin-token-file"));
    // Reads are not affected.
    let (status, _) = json_of(
        send(
            &state_with(Config::default()),
            Method::GET,
            "/v1/dimensions",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let open = state_with(Config {
        allow_unauthenticated_writes: true,
        ..Config::default()
    });
    // Past the guard: the handler answers (no such layer).
    let (status, json, _) = write_with(&open, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
}

#[tokio::test]
async fn writes_need_the_admin_token_when_one_is_configured() {
    let token = "app-test-admin-token-42";
    let state = state_with(Config {
        admin_token: Some(jessy_http::Secret::new(token).unwrap()),
        // A token wins over the opt-out: writes still need it.
        allow_unauthenticated_writes: true,
        ..Config::default()
    });
    for authorization in [
        None,
        Some("Bearer wrong-token-wrong-token"),
        Some(token),
        Some("Basic abc"),
    ] {
        let (status, json, response) = write_with(&state, authorization).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(json["error"]["code"], "unauthorized");
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let (status, json, _) = write_with(&state, Some(&format!("bearer {token}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{json}");
}

#[tokio::test]
async fn undecodable_paths_get_the_json_error_shape() {
    let state = state_with(Config::default());
    let (status, json) = json_of(send(&state, Method::GET, "/v1/dimensions/%ff", None).await).await;
    assert_eq!(status.as_u16() / 100, 4, "{json}");
    assert!(json["error"]["code"].is_string(), "{json}");
}
