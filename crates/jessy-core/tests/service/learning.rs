//! Learning from usage over HTTP, against the real binary: query ids, feedback validation and
//! durability (kill -9 mid-burst), learning killed mid-run, suggestions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jessy_engine::usage::FeedbackLog;
use jessy_engine::Engine;
use serde_json::{json, Value};

use crate::util::{
    assert_error, client, get_json, post_json, prepared_dir, start_core, status_json,
};

#[tokio::test]
async fn results_carry_query_ids_that_feedback_can_name() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let result: Value = post_json(
        &http,
        server.url("/v1/query"),
        &json!({"query": "I'm so anxious about my exam tomorrow"}),
    )
    .await;
    let id = result["query_id"].as_str().unwrap().to_string();
    let layer = format!(
        "{}/{}",
        result["dimensions"][0]["id"].as_str().unwrap(),
        result["dimensions"][0]["layers"][0]["id"].as_str().unwrap()
    );
    let ok = http
        .post(server.url("/v1/feedback"))
        .json(&json!({"query_id": id, "layer": layer}))
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(ok).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(1)),
        "{body}"
    );

    let unknown_id = http
        .post(server.url("/v1/feedback"))
        .json(&json!({"query_id": "00000000-000000000000", "layer": null}))
        .send()
        .await
        .unwrap();
    assert_error(unknown_id, 404, "not_found").await;
    let unknown_layer = http
        .post(server.url("/v1/feedback"))
        .json(&json!([{"text": "a", "layer": null}, {"text": "b", "layer": "emotion/nope"}]))
        .send()
        .await
        .unwrap();
    let message = assert_error(unknown_layer, 422, "invalid_layer").await;
    assert!(
        message.contains("emotion/nope") && message.contains("item 1"),
        "{message}"
    );
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"text": format!("q{i}"), "layer": null}))
        .collect();
    let response = http
        .post(server.url("/v1/feedback"))
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_error(response, 413, "payload_too_large").await;
    // A full batch fits the body limit.
    let full: Vec<Value> = (0..1000)
        .map(|i| json!({"text": format!("an ordinary question about nothing in particular, number {i}"), "layer": null}))
        .collect();
    let response = http
        .post(server.url("/v1/feedback"))
        .json(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(response).await.0, 200);
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"jessy_core_feedback_items_total{label="no_match"} 1000"#),
        "{metrics}"
    );
    // Without the admin token: refused like every write.
    let anonymous = crate::util::anonymous_client()
        .post(server.url("/v1/feedback"))
        .json(&json!({"text": "a", "layer": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    server.kill_9();
    assert_eq!(FeedbackLog::read(dir.path()).unwrap().len(), 1001);
}

#[tokio::test]
async fn every_acknowledged_feedback_item_survives_kill_9_mid_burst() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let url = server.url("/v1/feedback");
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for worker in 0..4 {
        let (url, acked) = (url.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            let http = client();
            for i in 0.. {
                let text = format!("burst {worker} item {i}");
                let sent = http
                    .post(&url)
                    .json(&json!({"text": text, "layer": null}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().push(text),
                    _ => break,
                }
            }
        }));
    }
    jessy_testkit::eventually(
        Duration::from_secs(60),
        "200 acknowledged items",
        || async { acked.lock().unwrap().len() >= 200 },
    )
    .await;
    server.kill_9();
    for s in senders {
        s.await.unwrap();
    }
    let logged: std::collections::HashSet<String> = FeedbackLog::read(dir.path())
        .unwrap()
        .into_iter()
        .map(|r| r.text)
        .collect();
    let acked = acked.lock().unwrap().clone();
    let missing: Vec<&String> = acked.iter().filter(|t| !logged.contains(*t)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged items lost: {missing:?}",
        missing.len()
    );
    // And the directory still serves.
    let server = start_core(dir.path(), &[]);
    let ready: Value = get_json(&client(), server.url("/ready")).await;
    assert_eq!(ready["ready"], true, "{ready}");
}

/// Feedback the default registry's guard accepts: rephrasings of one layer's examples.
async fn rephrasings(http: &reqwest::Client, server: &jessy_testkit::RunningProcess) -> Vec<Value> {
    let dims: Value = get_json(http, server.url("/v1/dimensions")).await;
    let dim = dims["dimensions"][0]["id"].as_str().unwrap().to_string();
    let detail: Value = get_json(http, server.url(&format!("/v1/dimensions/{dim}"))).await;
    let layer = detail["layers"][0]["id"].as_str().unwrap().to_string();
    let layer_detail: Value = get_json(
        http,
        server.url(&format!("/v1/dimensions/{dim}/layers/{layer}")),
    )
    .await;
    let examples: Vec<String> = layer_detail["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert!(!examples.is_empty(), "{layer_detail}");
    (0..40)
        .map(|i| {
            json!({
                "text": format!("{} (case {i})", examples[i % examples.len()]),
                "layer": format!("{dim}/{layer}")
            })
        })
        .collect()
}

#[tokio::test]
async fn learning_killed_mid_run_leaves_the_old_or_the_new_generation_and_the_feedback() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let items = rephrasings(&http, &server).await;
    let response = http
        .post(server.url("/v1/feedback"))
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let before: Value = get_json(&http, server.url("/ready")).await;
    let before = before["generation"].as_u64().unwrap();
    let learning = {
        let (http, url) = (http.clone(), server.url("/v1/learn"));
        tokio::spawn(async move { http.post(url).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill_9();
    let _ = learning.await;

    let dir_path = dir.path().to_path_buf();
    let (generation, records, report) = tokio::task::spawn_blocking(move || {
        let engine = Engine::open(&dir_path).expect("opens at the old or the new generation");
        let generation = engine.registry().generation();
        let records = engine.feedback_records().unwrap().len();
        (generation, records, engine.learn().unwrap())
    })
    .await
    .unwrap();
    assert!(
        generation == before || generation == before + 1,
        "{generation}"
    );
    assert_eq!(records, items.len(), "the feedback is still there");
    if generation == before {
        assert!(
            report.published,
            "the next learn uses the feedback: {report:?}"
        );
    } else {
        assert_eq!(report.texts_trained, 0, "already learned: {report:?}");
    }
}

#[tokio::test]
async fn learn_and_suggestions_over_http() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &["--learn-after", "40"]);
    let http = client();
    let ready: Value = get_json(&http, server.url("/ready")).await;
    let start = ready["generation"].as_u64().unwrap();
    let items = rephrasings(&http, &server).await;
    let response = http
        .post(server.url("/v1/feedback"))
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // --learn-after 40: the automatic learner publishes without being asked.
    jessy_testkit::eventually(
        Duration::from_secs(120),
        "an automatic learning run",
        || {
            let (http, url) = (http.clone(), server.url("/ready"));
            async move {
                let ready: Value = get_json(&http, url).await;
                ready["generation"].as_u64().unwrap() > start
            }
        },
    )
    .await;
    let report: Value = post_json(&http, server.url("/v1/learn"), &json!({})).await;
    assert_eq!(report["published"], false, "{report}");
    assert_eq!(report["texts_trained"], 0, "{report}");

    for q in [
        // Made-up words: no registry knows them, so these route nowhere.
        "flurbo gizmo",
        "gizmo flurbo",
        "flurbos and gizmos",
    ] {
        let r: Value = post_json(&http, server.url("/v1/query"), &json!({"query": q})).await;
        assert_eq!(r["outcome"], "no_match", "{r}");
    }
    let list: Value = get_json(&http, server.url("/v1/suggestions")).await;
    let suggestion = list["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m == "flurbo gizmo")
        })
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    let accept = http
        .post(server.url(&format!(
            "/v1/suggestions/{}/accept",
            suggestion["id"].as_str().unwrap()
        )))
        .json(&json!({"dimension": "technical", "layer": "flurbo-gizmos", "name": "Flurbo gizmos"}))
        .send()
        .await
        .unwrap();
    let (status, accepted) = status_json(accept).await;
    assert_eq!(status, 201, "{accepted}");
    let result: Value = post_json(
        &http,
        server.url("/v1/query"),
        &json!({"query": "my flurbo gizmo"}),
    )
    .await;
    assert_eq!(
        result["top_layers"][0]["layer"], "flurbo-gizmos",
        "{result}"
    );
    let unknown = http
        .post(server.url("/v1/suggestions/0123456789abcdef/accept"))
        .json(&json!({"dimension": "technical", "layer": "x", "name": "X"}))
        .send()
        .await
        .unwrap();
    assert_error(unknown, 404, "not_found").await;
}
