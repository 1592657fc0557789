//! BDD suite: the scenarios in `tests/features/*.feature` at the workspace root, run by
//! `cargo test --workspace` (this target has `harness = false`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use cucumber::{given, then, when, World as _};
use jessy_engine::build::{self, BuildOptions};
use jessy_engine::registry::{self, DimensionSource, Keyword, LayerSource, RegistrySource};
use jessy_engine::{Engine, OpenError, Outcome, QueryOptions, QueryResult, Registry};
use jessy_testkit::TestStack;

#[derive(Default, cucumber::World)]
struct JessyWorld {
    engine: Option<Engine>,
    result: Option<QueryResult>,
    dir: Option<tempfile::TempDir>,
    words: Vec<String>,
    content: Option<Result<String, String>>,
    open_error: Option<OpenError>,
    reader: Option<Arc<Registry>>,
    /// In-process jessy-core and jessy-api on ephemeral ports.
    gateway: Option<TestStack>,
    statuses: Vec<(u16, bool)>,
    body: Option<serde_json::Value>,
}

impl std::fmt::Debug for JessyWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JessyWorld")
            .field("result", &self.result)
            .field("statuses", &self.statuses)
            .finish()
    }
}

impl JessyWorld {
    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("a registry was set up")
    }
    fn result(&self) -> &QueryResult {
        self.result.as_ref().expect("a query was made")
    }
    fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("a snapshot directory was built")
            .path()
    }
    fn gateway(&self) -> &TestStack {
        self.gateway.as_ref().expect("the services are running")
    }
}

fn default_registry_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../registry/default")
}

// ---------------------------------------------------------------- navigation

#[given("the default registry")]
fn default_registry(w: &mut JessyWorld) {
    w.engine = Some(Engine::default_in_memory().unwrap());
}

#[given(expr = "a registry of {int} dimensions with one distinctive word each")]
fn distinctive_registry(w: &mut JessyWorld, n: usize) {
    let words = [
        "amber", "basalt", "cobalt", "dahlia", "ember", "fjord", "garnet", "hazel", "indigo",
        "jasper",
    ];
    let dimensions = (0..n)
        .map(|d| DimensionSource {
            id: format!("dim-{d}"),
            name: format!("Dimension {d}"),
            description: String::new(),
            frequency: [0.5, 2.0],
            file: format!("dim-{d}.toml").into(),
            layers: vec![LayerSource {
                id: "only".into(),
                name: "Only".into(),
                parent: None,
                frequency: 1.0,
                keywords: vec![Keyword::Plain(words[d].into())],
                // Varied contexts, so that the word itself carries the layer's evidence.
                examples: [
                    "{} please",
                    "tell me about {}",
                    "what is {}",
                    "show me {}",
                    "i like {}",
                    "{}",
                ]
                .iter()
                .map(|t| t.replace("{}", words[d]))
                .collect(),
                content: format!("About {}.", words[d]),
            }],
        })
        .collect();
    let source = RegistrySource {
        name: "distinct".into(),
        description: String::new(),
        out_of_scope: vec![],
        encoder: None,
        dimensions,
    };
    let bytes = build::build_bytes(&source, &BuildOptions::default(), 1).unwrap();
    w.engine = Some(Engine::from_bytes(&bytes).unwrap());
    w.words = words[..n].iter().map(|s| s.to_string()).collect();
}

#[when(expr = "I query {string}")]
fn query(w: &mut JessyWorld, text: String) {
    w.result = Some(w.engine().query(&text, &QueryOptions::default()).unwrap());
}

#[when(expr = "I query all {int} distinctive words at once")]
fn query_all_words(w: &mut JessyWorld, n: usize) {
    let text = w.words[..n].join(" ");
    w.result = Some(w.engine().query(&text, &QueryOptions::default()).unwrap());
}

#[then(expr = "the outcome is {string}")]
fn outcome_is(w: &mut JessyWorld, expected: String) {
    let outcome = match w.result().outcome {
        Outcome::Matched => "matched",
        Outcome::NoMatch => "no_match",
    };
    assert_eq!(outcome, expected, "{:?}", w.result().no_match_reason);
}

#[then(expr = "the dimension {string} is active")]
fn dimension_active(w: &mut JessyWorld, id: String) {
    let active: Vec<&str> = w
        .result()
        .dimensions
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert!(active.contains(&id.as_str()), "{id} not in {active:?}");
}

#[then("every active dimension has a layer path starting at depth 0")]
fn paths_start_at_roots(w: &mut JessyWorld) {
    for d in &w.result().dimensions {
        assert_eq!(d.layers.first().map(|l| l.depth), Some(0), "{}", d.id);
        for (i, l) in d.layers.iter().enumerate() {
            assert_eq!(l.depth as usize, i);
        }
    }
}

#[then("no dimension is active")]
fn none_active(w: &mut JessyWorld) {
    assert!(w.result().dimensions.is_empty());
}

#[then("the context is empty")]
fn context_empty(w: &mut JessyWorld) {
    assert!(w.result().context.text.is_empty() && w.result().context.sources.is_empty());
}

#[then("the result says it returned to source")]
fn returned_to_source(w: &mut JessyWorld) {
    assert!(
        w.result().convergence.return_to_source,
        "{:?}",
        w.result().dimensions
    );
}

#[then(expr = "at most {int} dimensions are active")]
fn at_most_active(w: &mut JessyWorld, n: usize) {
    let count = w.result().dimensions.len();
    assert!((1..=n).contains(&count), "{count} active");
}

#[then("the safety signal is flagged")]
fn safety_flagged(w: &mut JessyWorld) {
    assert!(
        w.result().safety.evaluated && w.result().safety.flagged,
        "{:?}",
        w.result().safety
    );
}

// ---------------------------------------------------------------- layers and memory

#[given("the default registry built into a snapshot directory")]
fn built_dir(w: &mut JessyWorld) {
    let dir = tempfile::tempdir().unwrap();
    let source = registry::default_source().unwrap();
    build::build_dir(&source, dir.path(), &BuildOptions::default()).unwrap();
    w.engine = Some(Engine::open(dir.path()).unwrap());
    w.dir = Some(dir);
}

#[when(expr = "I read the content of layer {string} in dimension {string}")]
fn read_content(w: &mut JessyWorld, layer: String, dimension: String) {
    let registry = w.engine().registry();
    let found = registry.layer(&dimension, &layer);
    w.content = Some(match found {
        Some(l) => {
            let content = l.content();
            assert!(
                registry.is_mapped() && registry.contains(content),
                "content is borrowed from the map"
            );
            Ok(content.to_string())
        }
        None => Err(format!("no layer {layer} in {dimension}")),
    });
}

#[then("the content is not empty")]
fn content_not_empty(w: &mut JessyWorld) {
    assert!(!w
        .content
        .as_ref()
        .unwrap()
        .as_ref()
        .unwrap()
        .trim()
        .is_empty());
}

#[then("the content lies inside the mapped snapshot file")]
fn content_in_map(w: &mut JessyWorld) {
    // Checked when read (the borrow cannot outlive the step); re-check on a fresh read.
    let registry = w.engine().registry();
    let layer = registry
        .dimensions()
        .next()
        .unwrap()
        .layers()
        .next()
        .unwrap();
    assert!(registry.contains(layer.content()));
    assert!(w.content.as_ref().unwrap().is_ok());
}

#[then("the layer is not found")]
fn layer_not_found(w: &mut JessyWorld) {
    assert!(w.content.as_ref().unwrap().is_err());
}

#[when("one byte of the generation file is flipped")]
fn flip_byte(w: &mut JessyWorld) {
    let path = w.engine().registry().path().to_path_buf();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    // Replace the file (a new inode) rather than writing into the mapped one.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

#[when("I open the snapshot directory")]
fn open_dir(w: &mut JessyWorld) {
    w.open_error = Registry::open(w.dir()).err();
}

#[then("opening fails with a corruption error naming the generation file")]
fn corruption_named(w: &mut JessyWorld) {
    let err = w.open_error.as_ref().expect("opening failed");
    assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
    let registry = w.engine().registry();
    let file = registry.path().file_name().unwrap().to_string_lossy();
    assert!(err.to_string().contains(file.as_ref()), "{err}");
}

#[given("a reader holding the current generation")]
fn hold_reader(w: &mut JessyWorld) {
    w.reader = Some(w.engine().registry());
}

#[when(expr = "a layer {string} is added to dimension {string}")]
fn add_layer(w: &mut JessyWorld, id: String, dimension: String) {
    let layer = LayerSource {
        id: id.clone(),
        name: id.clone(),
        parent: None,
        frequency: 2.0,
        keywords: vec![Keyword::Plain(id.clone())],
        examples: vec![format!("help me with {id}")],
        content: format!("Guidance about {id}."),
    };
    w.engine().upsert_layer(&dimension, layer).unwrap();
}

fn has_layer(registry: &Registry, id: &str) -> bool {
    registry
        .dimensions()
        .flat_map(|d| d.layers())
        .any(|l| l.id() == id)
}

#[then("the current generation is newer than the reader's")]
fn newer(w: &mut JessyWorld) {
    assert!(w.engine().registry().generation() > w.reader.as_ref().unwrap().generation());
}

#[then(expr = "the reader's generation has no layer {string}")]
fn reader_lacks(w: &mut JessyWorld, id: String) {
    assert!(!has_layer(w.reader.as_ref().unwrap(), &id));
}

#[then(expr = "the current generation has the layer {string}")]
fn current_has(w: &mut JessyWorld, id: String) {
    assert!(has_layer(&w.engine().registry(), &id));
}

#[when("a build into the same directory is killed while it runs")]
fn killed_build(w: &mut JessyWorld) {
    for delay_ms in [5, 20, 60, 120] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jessy"))
            .arg("build")
            .arg(default_registry_dir())
            .arg("--out")
            .arg(w.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
    }
}

#[then("the snapshot directory verifies")]
fn verifies(w: &mut JessyWorld) {
    let status = Command::new(env!("CARGO_BIN_EXE_jessy"))
        .arg("verify")
        .arg(w.dir())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(Registry::open(w.dir()).is_ok());
}

// ---------------------------------------------------------------- gateway

#[given(
    expr = "jessy-core and jessy-api are running with a rate limit of {int} per second and a burst of {int}"
)]
async fn services(w: &mut JessyWorld, rate: u32, burst: u32) {
    let stack = TestStack::start(|api| {
        api.rate_limit = rate.try_into().expect("a positive rate");
        api.burst = burst.try_into().expect("a positive burst");
    })
    .await;
    w.gateway = Some(stack);
}

async fn post_query(w: &JessyWorld, key: Option<&str>) -> (u16, bool, Option<serde_json::Value>) {
    let mut request = reqwest::Client::new()
        .post(w.gateway().url("/api/v1/query"))
        .json(&serde_json::json!({"query": "I'm so anxious about my exam tomorrow"}));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    (status, retry_after, response.json().await.ok())
}

#[when("I query the gateway without a key")]
async fn gateway_no_key(w: &mut JessyWorld) {
    let (status, retry, body) = post_query(w, None).await;
    w.statuses = vec![(status, retry)];
    w.body = body;
}

#[when(expr = "I query the gateway with the key {string}")]
async fn gateway_key(w: &mut JessyWorld, key: String) {
    let (status, retry, body) = post_query(w, Some(&key)).await;
    w.statuses = vec![(status, retry)];
    w.body = body;
}

#[when("I query the gateway with the good key")]
async fn gateway_good_key(w: &mut JessyWorld) {
    let key = w.gateway().key().to_owned();
    let (status, retry, body) = post_query(w, Some(&key)).await;
    w.statuses = vec![(status, retry)];
    w.body = body;
}

#[when(expr = "I send {int} queries at once with the good key")]
async fn burst(w: &mut JessyWorld, n: usize) {
    let key = w.gateway().key().to_owned();
    let calls = (0..n).map(|_| post_query(w, Some(&key)));
    w.statuses = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|(s, r, _)| (s, r))
        .collect();
}

#[when("I ask the gateway for its health")]
async fn health(w: &mut JessyWorld) {
    let response = reqwest::get(w.gateway().url("/api/health")).await.unwrap();
    w.statuses = vec![(response.status().as_u16(), false)];
    w.body = response.json().await.ok();
}

#[then(expr = "the gateway answers {int}")]
fn gateway_answers(w: &mut JessyWorld, status: u16) {
    assert_eq!(
        w.statuses.first().map(|s| s.0),
        Some(status),
        "{:?}",
        w.body
    );
    if status >= 400 {
        let code = &w.body.as_ref().expect("JSON error body")["error"]["code"];
        assert!(code.is_string(), "{:?}", w.body);
    }
}

#[then("the answer is a routing result")]
fn routing_result(w: &mut JessyWorld) {
    let body = w.body.as_ref().unwrap();
    assert_eq!(body["outcome"], "matched", "{body}");
    assert!(body["dimensions"].as_array().is_some_and(|d| !d.is_empty()));
}

#[then("at least one answer is 429 with a Retry-After header")]
fn rate_limited(w: &mut JessyWorld) {
    assert!(
        w.statuses.iter().any(|&(s, retry)| s == 429 && retry),
        "{:?}",
        w.statuses
    );
    assert!(
        w.statuses.iter().any(|&(s, _)| s == 200),
        "some requests pass: {:?}",
        w.statuses
    );
}

#[when("I ask the gateway for its health with the good key")]
async fn health_with_key(w: &mut JessyWorld) {
    let response = reqwest::Client::new()
        .get(w.gateway().url("/api/health"))
        .bearer_auth(w.gateway().key())
        .send()
        .await
        .unwrap();
    w.statuses = vec![(response.status().as_u16(), false)];
    w.body = response.json().await.ok();
}

#[then(expr = "the health says only {string}")]
fn health_says_only(w: &mut JessyWorld, status: String) {
    let body = w.body.as_ref().expect("JSON body");
    assert_eq!(body, &serde_json::json!({ "status": status }));
}

#[then(expr = "the health lists {int} upstream")]
fn health_lists(w: &mut JessyWorld, n: usize) {
    let body = w.body.as_ref().unwrap();
    let upstreams = body["upstreams"].as_array().expect("upstreams array");
    assert_eq!(upstreams.len(), n, "{body}");
}

#[tokio::main]
async fn main() {
    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/features");
    JessyWorld::cucumber()
        .fail_on_skipped()
        .max_concurrent_scenarios(2)
        .run_and_exit(features)
        .await;
}
