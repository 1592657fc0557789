//! Shared test fixtures: an in-process fake jessy-core, keys, configs, the binary under test;
//! polling comes from `jessy-testkit`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
pub use jessy_api::auth::Scopes;
use jessy_api::{AppState, Config};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

pub use jessy_testkit::{eventually, TIMEOUT};

/// Health-check interval used by gateways under test.
pub const FAST_HEALTH: Duration = Duration::from_millis(50);

/// Starts the `jessy-api` binary cargo built for this test with `args` after
/// `--addr 127.0.0.1:0`, and waits for its listening line.
pub fn start_api(args: &[&str]) -> jessy_testkit::RunningProcess {
    jessy_testkit::spawn_binary(
        env!("CARGO_BIN_EXE_jessy-api"),
        ["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"]
            .iter()
            .chain(args),
        &[("JESSY_LOG", "warn")],
    )
}

/// What a fake core saw and how it should answer. Atomics so tests can flip behaviour while
/// the gateway is running.
pub struct FakeBehaviour {
    pub name: String,
    /// Status of `GET /health`.
    pub health_status: AtomicU16,
    /// Status of `POST /v1/query` (200 → a result with a 2-entry trace, else an error body).
    pub query_status: AtomicU16,
    /// Delay before answering a query, in milliseconds.
    pub query_delay_ms: AtomicU64,
    pub queries: AtomicUsize,
    pub last_request_id: Mutex<Option<String>>,
    pub last_body: Mutex<Option<Value>>,
    pub last_path: Mutex<Option<String>>,
}

/// A fake jessy-core on a loopback port, speaking the HTTP contract jessy-api relies on.
/// Every response carries `Connection: close`, so stopping it leaves no pooled keep-alive
/// connection behind and the next connection attempt is refused, like a killed process.
pub struct FakeCore {
    pub addr: SocketAddr,
    pub behaviour: Arc<FakeBehaviour>,
    task: JoinHandle<()>,
}

impl FakeCore {
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        Self::start_on(name, listener).await
    }

    pub async fn start_on(name: &str, listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("addr");
        let behaviour = Arc::new(FakeBehaviour {
            name: name.to_owned(),
            health_status: AtomicU16::new(200),
            query_status: AtomicU16::new(200),
            query_delay_ms: AtomicU64::new(0),
            queries: AtomicUsize::new(0),
            last_request_id: Mutex::new(None),
            last_body: Mutex::new(None),
            last_path: Mutex::new(None),
        });
        let app = Router::new()
            .route("/health", get(fake_health))
            .route("/ready", get(fake_ready))
            .route("/v1/query", post(fake_query))
            .route("/v1/dimensions", get(fake_dimensions))
            .route("/v1/dimensions/{id}", get(fake_dimensions))
            .route("/v1/dimensions/{id}/layers/{layer}", get(fake_dimensions))
            .layer(axum::middleware::map_response(
                |mut response: Response| async {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    response
                },
            ))
            .with_state(behaviour.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake core serve");
        });
        Self {
            addr,
            behaviour,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes the listening socket: later connections are refused.
    pub async fn stop(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.addr
    }

    pub fn set_health(&self, status: u16) {
        self.behaviour.health_status.store(status, Ordering::SeqCst);
    }

    pub fn set_query_status(&self, status: u16) {
        self.behaviour.query_status.store(status, Ordering::SeqCst);
    }

    pub fn queries(&self) -> usize {
        self.behaviour.queries.load(Ordering::SeqCst)
    }
}

async fn fake_health(State(b): State<Arc<FakeBehaviour>>) -> Response {
    let status = StatusCode::from_u16(b.health_status.load(Ordering::SeqCst)).expect("status");
    (
        status,
        Json(json!({"status": "healthy", "service": "jessy-core", "version": "fake"})),
    )
        .into_response()
}

async fn fake_ready() -> Json<Value> {
    Json(
        json!({"ready": true, "generation": 7, "dimensions": 2, "layers": 5, "mapped_bytes": 1024}),
    )
}

async fn fake_query(
    State(b): State<Arc<FakeBehaviour>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    b.queries.fetch_add(1, Ordering::SeqCst);
    *b.last_request_id.lock().expect("lock") = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parsed: Value = serde_json::from_slice(&body).expect("gateway sends JSON");
    *b.last_body.lock().expect("lock") = Some(parsed.clone());
    let delay = b.query_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(b.query_status.load(Ordering::SeqCst)).expect("status");
    if status.is_success() {
        let result = json!({
            "query": parsed["query"],
            "outcome": "matched",
            "served_by": b.name,
            "convergence": {"trace": [
                {"iteration": 1, "confidence": 0.4},
                {"iteration": 2, "confidence": 0.9}
            ]}
        });
        (status, Json(result)).into_response()
    } else {
        let error =
            json!({"error": {"code": "fake_failure", "message": format!("{} failed", b.name)}});
        (status, Json(error)).into_response()
    }
}

async fn fake_dimensions(State(b): State<Arc<FakeBehaviour>>, uri: Uri) -> Response {
    *b.last_path.lock().expect("lock") = Some(uri.path().to_owned());
    if uri.path().split('/').any(|segment| segment == "missing") {
        let error = json!({"error": {"code": "not_found", "message": "no such dimension"}});
        return (StatusCode::NOT_FOUND, Json(error)).into_response();
    }
    Json(json!({"path": uri.path(), "served_by": b.name})).into_response()
}

/// A temp dir holding a keys file with one key per name, each with every scope (`query`,
/// `write`, `admin`) unless made with [`Keys::scoped`]; keeps the dir alive.
pub struct Keys {
    /// Held so the directory lives as long as the keys.
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub keys: Vec<String>,
}

impl Keys {
    pub fn new(names: &[&str]) -> Self {
        let scoped: Vec<(&str, Scopes)> = names.iter().map(|n| (*n, Scopes::ALL)).collect();
        Self::scoped(&scoped)
    }

    /// Keys with the given scopes.
    pub fn scoped(names: &[(&str, Scopes)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("api-keys");
        let keys = names
            .iter()
            .map(|(name, scopes)| {
                jessy_api::auth::generate_key_with_scopes(name, *scopes, &path).expect("keygen")
            })
            .collect();
        Self {
            _dir: dir,
            path,
            keys,
        }
    }

    pub fn key(&self, index: usize) -> &str {
        &self.keys[index]
    }
}

/// A config for tests: given cores, keys file, fast health checks, generous rate limit.
pub fn config(cores: &[String], keys: &Keys) -> Config {
    Config {
        core_urls: cores
            .iter()
            .map(|c| jessy_api::config::parse_core_url(c).expect("core url"))
            .collect(),
        keys_file: Some(keys.path.clone()),
        rate_limit: 1000.try_into().expect("nz"),
        burst: 1000.try_into().expect("nz"),
        health_interval: FAST_HEALTH,
        upstream_timeout: Duration::from_secs(3),
        shutdown_grace: Duration::from_secs(2),
        metrics_addr: None,
        ..Config::default()
    }
}

/// A URL on which nothing listens (bound then released).
pub async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// State with cores already probed, as `serve` would leave it.
pub async fn state(config: &Config) -> AppState {
    let state = AppState::new(config).expect("state");
    state.probe_upstreams().await;
    state
}

/// A decoded response from the in-process app.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Sends one request through `app(state)` without a socket.
pub async fn call(state: &AppState, request: Request<Body>) -> Reply {
    reply(jessy_api::app(state.clone()), request).await
}

/// `GET /metrics` through `metrics_app(state)`, the metrics listener's router.
pub async fn call_metrics(state: &AppState) -> Reply {
    reply(
        jessy_api::metrics_app(state.clone()),
        get_req("/metrics", None),
    )
    .await
}

async fn reply(router: axum::Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// `GET path` with an optional bearer key.
pub fn get_req(path: &str, key: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    builder.body(Body::empty()).expect("request")
}

/// `POST path` with a JSON content type, an optional key and a raw body.
pub fn post_req(path: &str, key: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    builder.body(body.into()).expect("request")
}

/// A gateway served on a real loopback socket, for WebSocket and shutdown tests.
pub struct Served {
    pub addr: SocketAddr,
    /// Where its `/metrics` listener is.
    pub metrics_addr: SocketAddr,
    shutdown: jessy_http::CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
}

impl Served {
    pub async fn start(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(&config).expect("state");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let metrics_addr = metrics.local_addr().expect("addr");
        tokio::spawn(jessy_api::serve_metrics(metrics, state.clone()));
        let shutdown = jessy_http::CancellationToken::new();
        let task = tokio::spawn(jessy_api::serve_with_state(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
        Self {
            addr,
            metrics_addr,
            shutdown,
            task,
        }
    }

    /// Sends the shutdown signal and waits for `serve` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(TIMEOUT, &mut self.task)
            .await
            .expect("serve returned in time")
            .expect("serve task")
    }
}
