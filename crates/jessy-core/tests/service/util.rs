//! Starting the real `jessy-core` binary on a free port, and small HTTP helpers.

use std::path::Path;
use std::time::Duration;

use jessy_testkit::RunningProcess;
use serde_json::Value;

pub use jessy_testkit::prepared_dir;

/// The `jessy-core` binary cargo built for this test.
pub const BIN: &str = env!("CARGO_BIN_EXE_jessy-core");

/// The admin token [`start_core`] gives the binary (through `JESSY_ADMIN_TOKEN`), and which
/// [`client`] presents on every request, so layer writes are authorized.
pub const ADMIN_TOKEN: &str = "service-test-admin-token";

/// Starts the binary on `dir` with `--addr 127.0.0.1:0`, the admin token [`ADMIN_TOKEN`] and
/// `extra` flags, and waits for its listening line.
pub fn start_core(dir: &Path, extra: &[&str]) -> RunningProcess {
    start_core_with_env(dir, extra, &[("JESSY_ADMIN_TOKEN", ADMIN_TOKEN)])
}

/// [`start_core`] with these variables instead of the admin token.
pub fn start_core_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> RunningProcess {
    let mut args = vec!["--addr", "127.0.0.1:0", "--registry"];
    let dir = dir.to_str().expect("UTF-8 temp path");
    args.push(dir);
    args.extend(extra);
    let mut env = env.to_vec();
    env.push(("JESSY_LOG", "warn"));
    jessy_testkit::spawn_binary(BIN, args, &env)
}

/// An HTTP client with a bounded timeout, so a hung server fails a test instead of hanging it,
/// that presents [`ADMIN_TOKEN`].
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// An HTTP client like [`client`] but without credentials.
pub fn anonymous_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// POSTs `body` as JSON to `url` and decodes the JSON answer (panicking on a transport or
/// decoding error).
pub async fn post_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    body: &Value,
) -> T {
    http.post(url)
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// GETs `url` and returns its JSON body (panicking on a transport or decoding error).
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Status and JSON body of a response.
pub async fn status_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"));
    (status, value)
}

/// Asserts an error response: status, code, and the exact `{"error": {code, message}}` shape.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    let (got, body) = status_json(response).await;
    assert_eq!(got, status, "expected {status} {code}, got {got}: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    assert_eq!(
        body["error"].as_object().map(|o| o.len()),
        Some(2),
        "{body}"
    );
    body["error"]["message"]
        .as_str()
        .expect("message")
        .to_string()
}

/// A layer body for `PUT`, routable by its made-up `word`.
pub fn layer_body(name: &str, word: &str) -> Value {
    serde_json::json!({
        "name": name,
        "parent": null,
        "frequency": 3.0,
        "keywords": [word, {"term": format!("{word} setup"), "weight": 2.0}],
        "examples": [
            format!("how do i configure {word} for my project"),
            format!("my {word} keeps failing, what is wrong with {word}"),
            format!("explain how {word} works"),
        ],
        "content": format!("Guidance about {word}."),
    })
}
