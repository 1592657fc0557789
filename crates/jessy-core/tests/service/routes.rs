//! Every route's happy path over real HTTP.

use jessy_engine::result::{Outcome, QueryResult};
use serde_json::{json, Value};

use crate::util::{client, get_json, layer_body, post_json, prepared_dir, start_core, status_json};

#[tokio::test]
async fn health_ready_and_request_ids() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();

    let response = http.get(server.url("/health")).send().await.unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let (status, mut body) = status_json(response).await;
    assert_eq!(status, 200);
    // The query-id prefix: the one this core's results carry.
    let prefix = body["query_ids"].as_str().expect("query_ids").to_string();
    body.as_object_mut().unwrap().remove("query_ids");
    assert_eq!(
        body,
        json!({"status": "healthy", "service": "jessy-core", "version": env!("CARGO_PKG_VERSION")})
    );
    let (_, result) = status_json(
        http.post(server.url("/v1/query"))
            .json(&json!({"query": "hello"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = result["query_id"].as_str().expect("query_id");
    assert_eq!(
        id.split_once('-').map(|(p, _)| p),
        Some(prefix.as_str()),
        "{id}"
    );

    let response = http
        .get(server.url("/ready"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    let (status, ready) = status_json(response).await;
    assert_eq!(status, 200);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["dimensions"], 14, "{ready}");
    assert!(ready["generation"].as_u64().unwrap() >= 1, "{ready}");
    assert!(ready["layers"].as_u64().unwrap() >= 14, "{ready}");
    assert!(ready["mapped_bytes"].as_u64().unwrap() > 0, "{ready}");
    assert!(ready["regions"].as_u64().unwrap() > 0, "{ready}");
    assert!(
        server.extra_stdout().is_empty(),
        "{:?}",
        server.extra_stdout()
    );
}

#[tokio::test]
async fn query_returns_the_engine_result() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let ready: Value = get_json(&http, server.url("/ready")).await;

    let text = "my python function throws a KeyError when i loop over a dict";
    let response = http
        .post(server.url("/v1/query"))
        .json(&json!({"query": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let result: QueryResult = response.json().await.expect("a complete QueryResult");
    assert_eq!(result.query, text);
    assert_eq!(result.outcome, Outcome::Matched);
    assert_eq!(result.generation, ready["generation"].as_u64().unwrap());
    assert!(
        result.dimensions.iter().any(|d| d.id == "technical"),
        "{:?}",
        result.dimensions
    );
    assert!(!result.context.text.is_empty());
    assert!(result.timings_us.total > 0.0);

    // Options are passed through: no content, one iteration.
    let options = json!({"query": text, "options": {"include_content": false, "max_iterations": 1, "token_budget": 50}});
    let result: QueryResult = post_json(&http, server.url("/v1/query"), &options).await;
    assert!(result.context.text.is_empty());
    assert_eq!(result.context.budget, 50);
    assert_eq!(result.convergence.iterations, 1);

    // A query that belongs nowhere is a normal answer, not an error.
    let result: QueryResult = post_json(
        &http,
        server.url("/v1/query"),
        &json!({"query": "how many grams of flour in a cup"}),
    )
    .await;
    assert_eq!(result.outcome, Outcome::NoMatch);
    assert!(result.no_match_reason.is_some());
}

#[tokio::test]
async fn dimensions_can_be_browsed() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();

    let (status, list) =
        status_json(http.get(server.url("/v1/dimensions")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let dimensions = list["dimensions"].as_array().unwrap();
    assert_eq!(dimensions.len(), 14);
    let technical = dimensions
        .iter()
        .find(|d| d["id"] == "technical")
        .expect("technical listed");
    assert_eq!(technical["name"], "Technical");
    assert_eq!(technical["frequency"], json!({"min": 2.6, "max": 4.5}));
    assert_eq!(technical["layer_count"], 9);

    let (status, detail) = status_json(
        http.get(server.url("/v1/dimensions/technical"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(detail["generation"], list["generation"]);
    let layers = detail["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 9);
    let programming = layers
        .iter()
        .find(|l| l["id"] == "programming")
        .expect("programming layer");
    assert_eq!(programming["depth"], 0);
    assert_eq!(programming["parent"], Value::Null);
    assert!(programming["keywords"]
        .as_array()
        .unwrap()
        .contains(&json!({"term": "code", "weight": 2.0})));
    assert!(
        programming.get("content").is_none(),
        "content only in the layer view"
    );

    let (status, layer) = status_json(
        http.get(server.url("/v1/dimensions/technical/layers/programming"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(layer["dimension"], "technical");
    assert_eq!(layer["name"], "Programming");
    assert!(layer["content"]
        .as_str()
        .unwrap()
        .contains("working, idiomatic code"));
    assert!(layer["examples"]
        .as_array()
        .unwrap()
        .contains(&json!("write a rust function to count words in a file")));

    // A child layer names its parent, and the parent lists it.
    if let Some(child) = layers.iter().find(|l| l["parent"].is_string()) {
        let parent = child["parent"].as_str().unwrap();
        let url = server.url(&format!("/v1/dimensions/technical/layers/{parent}"));
        let parent_view: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        assert!(
            parent_view["children"]
                .as_array()
                .unwrap()
                .contains(&child["id"]),
            "{parent_view}"
        );
        assert_eq!(
            child["depth"].as_u64().unwrap(),
            parent_view["depth"].as_u64().unwrap() + 1
        );
    }
}

#[tokio::test]
async fn layers_are_created_replaced_routed_and_deleted() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let url = server.url("/v1/dimensions/technical/layers/zorblax");
    let before: Value = get_json(&http, server.url("/ready")).await;
    let g0 = before["generation"].as_u64().unwrap();

    let response = http
        .put(&url)
        .json(&layer_body("Zorblax", "zorblax"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["location"],
        "/v1/dimensions/technical/layers/zorblax"
    );
    let (status, created) = status_json(response).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created,
        json!({"dimension": "technical", "layer": "zorblax", "generation": g0 + 1, "created": true, "deleted": false})
    );

    let (status, layer) = status_json(http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(layer["generation"], g0 + 1);
    assert_eq!(layer["content"], "Guidance about zorblax.");
    assert_eq!(
        layer["keywords"],
        json!([{"term": "zorblax", "weight": 1.0}, {"term": "zorblax setup", "weight": 2.0}])
    );

    let query = json!({"query": "how do i configure zorblax"});
    let result: QueryResult = post_json(&http, server.url("/v1/query"), &query).await;
    assert_eq!(result.generation, g0 + 1);
    assert!(
        result
            .top_layers
            .first()
            .is_some_and(|l| l.dimension == "technical" && l.layer == "zorblax"),
        "{:?}",
        result.top_layers
    );

    let mut replacement = layer_body("Zorblax v2", "zorblax");
    replacement["content"] = json!("Replaced guidance.");
    let (status, replaced) =
        status_json(http.put(&url).json(&replacement).send().await.unwrap()).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["created"], false);
    assert_eq!(replaced["generation"], g0 + 2);
    let layer: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(layer["name"], "Zorblax v2");
    assert_eq!(layer["content"], "Replaced guidance.");

    // A child under it, then deleting the parent is refused while the child exists.
    let child_url = server.url("/v1/dimensions/technical/layers/zorblax-child");
    let mut child = layer_body("Zorblax child", "zorblaxling");
    child["parent"] = json!("zorblax");
    assert_eq!(
        http.put(&child_url)
            .json(&child)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let child_view: Value = get_json(&http, &child_url).await;
    assert_eq!(child_view["parent"], "zorblax");
    assert_eq!(child_view["depth"], 1);
    let refused = http.delete(&url).send().await.unwrap();
    let message = crate::util::assert_error(refused, 422, "invalid_layer").await;
    assert!(message.contains("zorblax-child"), "{message}");

    let (status, deleted) = status_json(http.delete(&child_url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, deleted) = status_json(http.delete(&url).send().await.unwrap()).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["generation"], g0 + 5);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    let ready: Value = get_json(&http, server.url("/ready")).await;
    assert_eq!(ready["generation"], g0 + 5);
    assert_eq!(ready["layers"], before["layers"]);
}

#[tokio::test]
async fn metrics_and_openapi_are_served() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    http.post(server.url("/v1/query"))
        .json(&json!({"query": "debug my rust code"}))
        .send()
        .await
        .unwrap();
    http.post(server.url("/v1/query"))
        .json(&json!({"query": ""}))
        .send()
        .await
        .unwrap();
    http.get(server.url("/v1/dimensions/nope"))
        .send()
        .await
        .unwrap();

    let response = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for expected in [
        r#"jessy_core_http_requests_total{method="POST",route="/v1/query",status="200"} 1"#,
        r#"jessy_core_http_requests_total{method="POST",route="/v1/query",status="422"} 1"#,
        r#"jessy_core_http_requests_total{method="GET",route="/v1/dimensions/{id}",status="404"} 1"#,
        r#"jessy_core_errors_total{code="empty_query"} 1"#,
        r#"jessy_core_errors_total{code="not_found"} 1"#,
        r#"jessy_core_http_request_duration_seconds_bucket{method="POST",route="/v1/query",le="+Inf"} 2"#,
        r#"jessy_core_pipeline_stage_duration_seconds_count{stage="scan"} 1"#,
        r#"jessy_core_queries_total{outcome="matched"} 1"#,
        "jessy_core_snapshot_generation ",
        "jessy_core_snapshot_mapped_bytes ",
        "jessy_core_process_resident_memory_bytes ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let (status, doc) =
        status_json(http.get(server.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/query"]["post"].is_object());
}
