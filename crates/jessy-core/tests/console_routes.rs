//! The routes the web console needs from the core: `POST /v1/eval` (an uploaded labelled file
//! evaluated on the current generation) and `GET /v1/generations` (the history with change
//! notes), through the router without a socket.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use jessy_core::{app, AppState, Config};
use jessy_engine::Engine;
use serde_json::{json, Value};
use tower::ServiceExt;

fn validation_file() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../registry/default/validation.jsonl"),
    )
    .expect("the default registry's validation file")
}

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = app(state.clone())
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

#[tokio::test]
async fn eval_matches_the_engine_and_its_sweep_reproduces_the_figures() {
    let engine = Arc::new(Engine::default_in_memory().expect("default registry"));
    let state = AppState::new(engine.clone(), Config::default());
    let lines = validation_file();
    let (status, answer) = call(
        &state,
        Method::POST,
        "/v1/eval",
        Some("application/x-ndjson"),
        lines.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // The figures are jessy_engine::eval's (latencies aside).
    let examples =
        jessy_engine::dataset::parse_jsonl(&lines, Path::new("validation.jsonl")).expect("parse");
    let direct = jessy_engine::eval::evaluate(&engine, &examples, |_| {});
    let report = &answer["report"];
    assert_eq!(report["examples"], json!(137));
    assert_eq!(report["in_scope"], json!(direct.in_scope));
    for figure in [
        "in_scope_accuracy",
        "top3_accuracy",
        "dimension_accuracy",
        "oos_recall",
    ] {
        let served = report[figure].as_f64().expect(figure);
        let expected = match figure {
            "in_scope_accuracy" => direct.in_scope_accuracy,
            "top3_accuracy" => direct.top3_accuracy,
            "dimension_accuracy" => direct.dimension_accuracy,
            _ => direct.oos_recall,
        };
        // JSON text does not round-trip an f64's last bit; one line is 1/98 here.
        assert!(
            (served - expected).abs() < 1e-12,
            "{figure}: {served} vs {expected}"
        );
    }

    // At the registry's own threshold the sweep is exactly the evaluation.
    let quality = &answer["quality"];
    let threshold = quality["threshold"].as_f64().expect("threshold");
    let sweep = quality["sweep"].as_array().expect("sweep");
    assert!(sweep.len() >= 51, "{}", sweep.len());
    let at = sweep
        .iter()
        .find(|p| p["threshold"].as_f64() == Some(threshold))
        .expect("the registry's threshold is a sweep point");
    let close =
        |value: &Value, expected: f64| value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-12);
    assert!(
        close(&at["in_scope_accuracy"], direct.in_scope_accuracy),
        "{at}"
    );
    assert!(close(&at["oos_recall"], direct.oos_recall), "{at}");
    // Raising the threshold can only turn matches into no-matches.
    let recalls: Vec<f64> = sweep
        .iter()
        .map(|p| p["oos_recall"].as_f64().expect("recall"))
        .collect();
    assert!(recalls.windows(2).all(|w| w[0] <= w[1]), "{recalls:?}");

    // Every in-scope line is right, confused with a named layer, or no_match.
    let confused: u64 = quality["confusions"]
        .as_array()
        .expect("confusions")
        .iter()
        .map(|c| c["count"].as_u64().expect("count"))
        .sum();
    let in_scope = direct.in_scope as u64;
    let right = (direct.in_scope_accuracy * direct.in_scope as f64).round() as u64;
    let no_match = quality["in_scope_no_match"].as_u64().expect("no_match");
    assert!(
        right + confused + no_match <= in_scope,
        "{right} + {confused} + {no_match} > {in_scope}"
    );
    assert_eq!(quality["unknown_labels"], json!(0));
}

#[tokio::test]
async fn eval_refuses_bad_uploads_and_takes_more_than_the_json_limit() {
    let engine = Arc::new(Engine::default_in_memory().expect("default registry"));
    let state = AppState::new(engine, Config::default());
    let bad =
        b"{\"text\": \"hi\", \"dimension\": \"emotion\", \"layer\": \"feelings\"}\n\n{oops}\n";
    let (status, body) = call(&state, Method::POST, "/v1/eval", None, bad.to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], json!("invalid_body"));
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("line 3:")),
        "{body}"
    );
    let (status, body) = call(&state, Method::POST, "/v1/eval", None, b"\n\n".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = call(
        &state,
        Method::POST,
        "/v1/eval",
        Some("text/html"),
        validation_file(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Eight copies of the validation file: over the 64 KiB JSON limit, under the upload's.
    let big = validation_file().repeat(8);
    assert!(big.len() > Config::default().max_body_bytes);
    let (status, body) = call(&state, Method::POST, "/v1/eval", None, big).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["report"]["examples"], json!(8 * 137));
    let huge = vec![b' '; jessy_core::routes::eval::EVAL_MAX_BODY_BYTES + 1];
    let (status, _) = call(&state, Method::POST, "/v1/eval", None, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn writes_leave_change_notes_in_the_generation_history() {
    let dir = jessy_testkit::prepared_dir();
    let config = Config {
        allow_unauthenticated_writes: true,
        ..Config::default()
    };
    let open = || {
        AppState::new(
            Arc::new(jessy_core::load_engine(dir.path()).expect("engine")),
            config.clone(),
        )
    };
    let state = open();
    let (status, before) = call(&state, Method::GET, "/v1/generations", None, vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let first = before["current"].as_u64().expect("current");
    assert_eq!(before["generations"][0]["generation"], json!(first));
    assert_eq!(before["generations"][0]["change"], Value::Null);

    let layer = json!({"name": "Grief", "frequency": 1.0, "keywords": ["grief", "mourning"]});
    let (status, _) = call(
        &state,
        Method::PUT,
        "/v1/dimensions/emotion/layers/grief-test",
        Some("application/json"),
        layer.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &state,
        Method::DELETE,
        "/v1/dimensions/emotion/layers/grief-test",
        None,
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    drop(state);

    // A restarted core reads the notes back from the snapshot directory.
    let state = open();
    let (_, after) = call(&state, Method::GET, "/v1/generations", None, vec![]).await;
    let generations = after["generations"].as_array().expect("generations");
    assert_eq!(after["current"], json!(first + 2), "{after}");
    assert_eq!(
        generations[0]["change"],
        json!("deleted layer emotion/grief-test")
    );
    assert_eq!(
        generations[1]["change"],
        json!("created layer emotion/grief-test")
    );
    assert_eq!(generations[0]["generation"], json!(first + 2));
    assert!(generations[0]["bytes"].as_u64() > Some(0), "{after}");
    assert!(generations[0]["published_unix_ms"].as_u64() > Some(0));
}
