//! One contract, two ports: the same bad input sent to jessy-core and to jessy-api must get
//! the same status and the same error code, and the one the jessy-protocol table documents.
//!
//! A real jessy-core runs in-process (its library's `serve` on `127.0.0.1:0`, over a snapshot
//! of the embedded default registry built into a temp dir), and a real gateway in front of it.

use std::sync::Arc;

use serde_json::Value;

use crate::support::{config, Keys, Served};

/// A jessy-core served in-process until dropped.
struct Core {
    url: String,
    _dir: tempfile::TempDir,
    stop: jessy_http::CancellationToken,
}

impl Drop for Core {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start_core() -> Core {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = dir.path().join("registry");
    let engine = tokio::task::spawn_blocking(move || jessy_core::load_engine(&registry))
        .await
        .expect("join")
        .expect("default snapshot");
    let core_config = jessy_core::Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        ..jessy_core::Config::default()
    };
    let listener = tokio::net::TcpListener::bind(core_config.addr)
        .await
        .expect("bind core");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = jessy_core::AppState::new(Arc::new(engine), core_config);
    let stop = jessy_http::CancellationToken::new();
    tokio::spawn(jessy_core::serve(listener, state, stop.clone()));
    Core {
        url,
        _dir: dir,
        stop,
    }
}

/// One input: what it is, its `Content-Type` (`None`: no header), its body, and the answer
/// the contract documents (`None` as code: a success).
struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
}

fn case(name: &'static str, body: impl Into<Vec<u8>>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        content_type: Some("application/json"),
        body: body.into(),
        status,
        code: Some(code),
    }
}

fn ok(name: &'static str, body: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        content_type: Some("application/json"),
        body: body.into(),
        status: 200,
        code: None,
    }
}

fn typed(mut case: Case, content_type: Option<&'static str>) -> Case {
    case.content_type = content_type;
    case
}

fn cases() -> Vec<Case> {
    let query = |text: &str| serde_json::json!({ "query": text }).to_string();
    vec![
        // Controls: the two ports agree on good input too.
        ok(
            "valid query",
            query("my python script crashes with a KeyError"),
        ),
        ok(
            "valid query with every option",
            r#"{"query":"rust borrow checker","options":{"max_iterations":3,"token_budget":500,"include_content":false}}"#,
        ),
        ok("options null", r#"{"query":"rust code","options":null}"#),
        ok(
            "options empty object",
            r#"{"query":"rust code","options":{}}"#,
        ),
        ok("query at the length limit", query(&"word ".repeat(2_000))),
        typed(ok("no content type", query("rust code")), None),
        typed(
            ok("content type with charset", query("rust code")),
            Some("application/json; charset=utf-8"),
        ),
        // Empty and blank.
        case("empty query", query(""), 422, "empty_query"),
        case(
            "whitespace-only query",
            query("  \n\t "),
            422,
            "empty_query",
        ),
        case(
            "unicode-space-only query",
            query("\u{3000}\u{a0} "),
            422,
            "empty_query",
        ),
        // Visible characters but no word: a query that routes nowhere (a no_match), not a
        // malformed request, from either port.
        ok("punctuation-only query", query("?! ... ;")),
        ok("emoji-only query", query("🙂🙂")),
        // Over-long.
        case(
            "over-long query",
            query(&"word ".repeat(2_001)),
            422,
            "query_too_long",
        ),
        case(
            "over-long multi-byte query",
            query(&"é".repeat(5_001)),
            422,
            "query_too_long",
        ),
        case(
            "over-long blank query",
            query(&" ".repeat(10_001)),
            422,
            "query_too_long",
        ),
        // Malformed JSON and bad encodings.
        case("empty body", "", 400, "invalid_json"),
        case("whitespace body", "   ", 400, "invalid_json"),
        case("truncated object", r#"{"query":"#, 400, "invalid_json"),
        case("not json", "{not json", 400, "invalid_json"),
        case("trailing comma", r#"{"query":"a",}"#, 400, "invalid_json"),
        case("plain text", "rust code", 400, "invalid_json"),
        case(
            "lone surrogate escape",
            r#"{"query":"\ud800"}"#,
            400,
            "invalid_json",
        ),
        case(
            "invalid UTF-8 in the query",
            &b"{\"query\":\"\xff\xfe\"}"[..],
            400,
            "invalid_utf8",
        ),
        case("invalid UTF-8 body", &b"\xc3\x28"[..], 400, "invalid_utf8"),
        // Wrong content type.
        typed(
            case("text/plain", query("rust"), 415, "unsupported_media_type"),
            Some("text/plain"),
        ),
        typed(
            case(
                "form content type",
                query("rust"),
                415,
                "unsupported_media_type",
            ),
            Some("application/x-www-form-urlencoded"),
        ),
        typed(
            case(
                "xml content type",
                query("rust"),
                415,
                "unsupported_media_type",
            ),
            Some("application/xml"),
        ),
        typed(
            case(
                "wrong content type and oversized",
                query(&"a".repeat(70 * 1024)),
                415,
                "unsupported_media_type",
            ),
            Some("text/plain"),
        ),
        // Oversized body.
        case(
            "oversized body",
            query(&"a".repeat(70 * 1024)),
            413,
            "payload_too_large",
        ),
        // Not an object.
        case("bare array body", r#"["rust"]"#, 422, "invalid_body"),
        case("empty array body", "[]", 422, "invalid_body"),
        case("string body", r#""rust""#, 422, "invalid_body"),
        case("number body", "42", 422, "invalid_body"),
        case("null body", "null", 422, "invalid_body"),
        case(
            "options as array",
            r#"{"query":"rust","options":[9]}"#,
            422,
            "invalid_body",
        ),
        case(
            "options as empty array",
            r#"{"query":"rust","options":[]}"#,
            422,
            "invalid_body",
        ),
        case(
            "options as string",
            r#"{"query":"rust","options":"fast"}"#,
            422,
            "invalid_body",
        ),
        // Wrong field types.
        case("query as number", r#"{"query":5}"#, 422, "invalid_body"),
        case("query as array", r#"{"query":["a"]}"#, 422, "invalid_body"),
        case("query null", r#"{"query":null}"#, 422, "invalid_body"),
        case(
            "max_iterations as string",
            r#"{"query":"a","options":{"max_iterations":"3"}}"#,
            422,
            "invalid_body",
        ),
        case(
            "max_iterations negative",
            r#"{"query":"a","options":{"max_iterations":-1}}"#,
            422,
            "invalid_body",
        ),
        case(
            "max_iterations fractional",
            r#"{"query":"a","options":{"max_iterations":2.5}}"#,
            422,
            "invalid_body",
        ),
        case(
            "max_iterations beyond u32",
            r#"{"query":"a","options":{"max_iterations":4294967296}}"#,
            422,
            "invalid_body",
        ),
        case(
            "token_budget negative",
            r#"{"query":"a","options":{"token_budget":-1}}"#,
            422,
            "invalid_body",
        ),
        case(
            "include_content as number",
            r#"{"query":"a","options":{"include_content":1}}"#,
            422,
            "invalid_body",
        ),
        // Unknown, missing and duplicate fields.
        case(
            "unknown top-level field",
            r#"{"query":"a","mode":"fast"}"#,
            422,
            "invalid_body",
        ),
        case(
            "unknown option field",
            r#"{"query":"a","options":{"bogus":true}}"#,
            422,
            "invalid_body",
        ),
        case(
            "known and unknown option fields",
            r#"{"query":"a","options":{"max_iterations":3,"bogus":true}}"#,
            422,
            "invalid_body",
        ),
        case("missing query", "{}", 422, "invalid_body"),
        case(
            "options without query",
            r#"{"options":{}}"#,
            422,
            "invalid_body",
        ),
        case(
            "duplicate query",
            r#"{"query":"a","query":"b"}"#,
            422,
            "invalid_body",
        ),
        // Option ranges.
        case(
            "max_iterations 0",
            r#"{"query":"a","options":{"max_iterations":0}}"#,
            422,
            "invalid_option",
        ),
        case(
            "max_iterations 10",
            r#"{"query":"a","options":{"max_iterations":10}}"#,
            422,
            "invalid_option",
        ),
        case(
            "max_iterations 300",
            r#"{"query":"a","options":{"max_iterations":300}}"#,
            422,
            "invalid_option",
        ),
    ]
}

/// Status and error code (`None` when the body has no `error.code`).
async fn answer(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    case: &Case,
) -> (u16, Option<String>) {
    let mut request = client.post(url).body(case.body.clone());
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(str::to_owned);
    (status, code)
}

#[tokio::test]
async fn the_same_bad_input_gets_the_same_status_and_code_from_core_and_gateway() {
    let core = start_core().await;
    let keys = Keys::new(&["alice"]);
    let gateway = Served::start(config(std::slice::from_ref(&core.url), &keys)).await;
    let client = reqwest::Client::new();
    let core_url = format!("{}/v1/query", core.url);
    let gateway_url = format!("http://{}/api/v1/query", gateway.addr);

    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let expected = (case.status, case.code.map(str::to_owned));
        let from_core = answer(&client, &core_url, None, case).await;
        let from_gateway = answer(&client, &gateway_url, Some(keys.key(0)), case).await;
        if from_core != from_gateway {
            failures.push(format!(
                "{}: core {from_core:?} but gateway {from_gateway:?}",
                case.name
            ));
        } else if from_core != expected {
            failures.push(format!(
                "{}: both answered {from_core:?}, the contract says {expected:?}",
                case.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs broke the contract:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    gateway.stop().await.expect("gateway stopped");
}
