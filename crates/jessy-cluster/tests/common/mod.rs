//! Shared plumbing of the cluster tests: a fresh database per test on the machine's
//! PostgreSQL, a Redis key prefix per test, the service binaries, a small registry that
//! builds in milliseconds, and HTTP helpers.
//!
//! Connection URLs come from the environment (`JESSY_TEST_POSTGRES_URL`, an URL whose user
//! may create databases, default `postgres://postgres@127.0.0.1:5432/test`;
//! `JESSY_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). A service that cannot be reached
//! fails the test with that message: these tests never pass by skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use jessy_testkit::RunningProcess;

/// The admin token every test core accepts and every test gateway presents.
pub const ADMIN_TOKEN: &str = "cluster-test-admin-token-0123456789";

/// The administrative PostgreSQL URL (may create and drop databases).
pub fn admin_url() -> String {
    std::env::var("JESSY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The Redis URL.
pub fn redis_url() -> String {
    std::env::var("JESSY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A database of its own for one test, dropped (with its connections) on drop.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

fn with_database(url: &str, database: &str) -> String {
    // Replace the path of postgres://…/db[?query] with `database`.
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub async fn admin_client() -> tokio_postgres::Client {
    let url = admin_url();
    jessy_cluster::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for the cluster tests and could not be reached ({e}); set JESSY_TEST_POSTGRES_URL")
    })
}

impl TestDb {
    /// Creates `jessy_test_<random>`.
    pub async fn create() -> TestDb {
        let admin = admin_client().await;
        let name = format!("jessy_test_{}", uuid_like());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_database(&admin_url(), &name);
        TestDb { name, url }
    }

    /// Ends every connection to this database (as an administrator), like a server restart
    /// does for its clients.
    pub async fn terminate_connections(&self) -> u64 {
        let admin = admin_client().await;
        admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .await
            .expect("terminate backends")
            .len() as u64
    }

    /// Refuses (`false`) or accepts (`true`) new connections to this database.
    pub async fn allow_connections(&self, allow: bool) {
        let admin = admin_client().await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}",
                self.name
            ))
            .await
            .expect("alter database");
    }

    /// A client of this database.
    pub async fn client(&self) -> tokio_postgres::Client {
        jessy_cluster::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: drop may run outside (or at the end of) the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = jessy_cluster::connect(&admin_url()).await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// 16 random hex characters (no uuid dependency needed).
pub fn uuid_like() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// A workspace binary built next to this test (`cargo test --workspace` builds them; with
/// `-p jessy-cluster` alone, run `cargo build -p jessy-core -p jessy-api` first).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p jessy-core -p jessy-api` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// A registry of two dimensions with two layers each: it builds in milliseconds, so a test
/// can make hundreds of writes.
pub fn small_registry_dir() -> tempfile::TempDir {
    let source = tempfile::tempdir().expect("temp dir");
    let dims = source.path().join("dimensions");
    std::fs::create_dir_all(&dims).expect("mkdir");
    std::fs::write(
        source.path().join("registry.toml"),
        "name = \"small\"\ndescription = \"Two dimensions for cluster tests.\"\n",
    )
    .expect("write registry.toml");
    std::fs::write(
        dims.join("garden.toml"),
        r#"id = "garden"
name = "Garden"
description = "Plants and gardening."
frequency = [0.5, 1.5]

[[layer]]
id = "roses"
name = "Roses"
frequency = 1.0
keywords = ["rose", "roses", "pruning"]
examples = ["how do i prune my roses", "my rose bush has black spots"]
content = "Roses like sun."

[[layer]]
id = "tomatoes"
name = "Tomatoes"
frequency = 1.2
keywords = ["tomato", "tomatoes", "seedlings"]
examples = ["when should i plant tomato seedlings", "my tomatoes are splitting"]
content = "Tomatoes like warmth."
"#,
    )
    .expect("write garden");
    std::fs::write(
        dims.join("kitchen.toml"),
        r#"id = "kitchen"
name = "Kitchen"
description = "Cooking and baking."
frequency = [2.0, 3.0]

[[layer]]
id = "bread"
name = "Bread"
frequency = 2.5
keywords = ["bread", "dough", "yeast", "sourdough"]
examples = ["my sourdough bread is too dense", "how long should dough rise"]
content = "Bread needs time."

[[layer]]
id = "soup"
name = "Soup"
frequency = 2.2
keywords = ["soup", "broth", "stock"]
examples = ["how do i make chicken broth", "my soup is too salty"]
content = "Soup needs salt, carefully."
"#,
    )
    .expect("write kitchen");
    let snapshot = tempfile::tempdir().expect("temp dir");
    let registry = jessy_engine::registry::RegistrySource::read_dir(source.path())
        .expect("small registry parses");
    jessy_engine::build::build_dir(&registry, snapshot.path(), &Default::default())
        .expect("small registry builds");
    snapshot
}

/// Starts a jessy-core in cluster mode on `dir`.
pub fn core(db: &TestDb, dir: &Path) -> RunningProcess {
    jessy_testkit::spawn_binary(
        binary("jessy-core"),
        [
            "--addr",
            "127.0.0.1:0",
            "--registry",
            dir.to_str().expect("utf-8 path"),
            "--cluster",
            &db.url,
            "--cluster-poll-secs",
            "1",
        ],
        &[("JESSY_ADMIN_TOKEN", ADMIN_TOKEN), ("JESSY_LOG", "info")],
    )
}

/// Starts a jessy-api in cluster mode in front of `cores`, with `extra` flags.
pub fn gateway(db: &TestDb, cores: &[&RunningProcess], extra: &[&str]) -> RunningProcess {
    let mut args: Vec<String> = vec![
        "--addr".into(),
        "127.0.0.1:0".into(),
        "--metrics-addr".into(),
        "none".into(),
        "--cluster".into(),
        db.url.clone(),
        "--health-interval-secs".into(),
        "0.2".into(),
    ];
    for core in cores {
        args.push("--core".into());
        args.push(core.url(""));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    jessy_testkit::spawn_binary(
        binary("jessy-api"),
        args,
        &[("JESSY_CORE_ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

/// `jessy-api keygen NAME --cluster URL --scopes SCOPES`: the printed key.
pub fn keygen(db: &TestDb, name: &str, scopes: &str) -> String {
    let output = jessy_testkit::command(binary("jessy-api"))
        .args(["keygen", name, "--cluster", &db.url, "--scopes", scopes])
        .output()
        .expect("run jessy-api keygen");
    assert!(
        output.status.success(),
        "keygen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// An HTTP client with a short timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A layer body for `PUT`: distinctive keyword `word`.
pub fn layer_body(word: &str, frequency: f32) -> serde_json::Value {
    serde_json::json!({
        "name": format!("Layer {word}"),
        "frequency": frequency,
        "keywords": [word],
        "examples": [format!("tell me about {word}")],
        "content": format!("About {word}."),
    })
}

/// `PUT` a layer on a core with the admin token; the JSON answer (panics unless 200/201).
pub async fn put_layer(
    client: &reqwest::Client,
    core: &str,
    dimension: &str,
    layer: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let response = client
        .put(format!("{core}/v1/dimensions/{dimension}/layers/{layer}"))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .expect("PUT layer");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(
        status.is_success(),
        "PUT {layer} on {core}: {status} {text}"
    );
    serde_json::from_str(&text).expect("JSON answer")
}

/// Whether `core` serves layer `dimension/layer` now.
pub async fn has_layer(client: &reqwest::Client, core: &str, dimension: &str, layer: &str) -> bool {
    client
        .get(format!("{core}/v1/dimensions/{dimension}/layers/{layer}"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// `GET /v1/cluster` of a core.
pub async fn cluster_status(client: &reqwest::Client, core: &str) -> serde_json::Value {
    client
        .get(format!("{core}/v1/cluster"))
        .send()
        .await
        .expect("GET /v1/cluster")
        .json()
        .await
        .expect("JSON")
}

/// A query through a core; `Ok(())` on 200.
pub async fn query_core(client: &reqwest::Client, core: &str, text: &str) -> Result<(), String> {
    match client
        .post(format!("{core}/v1/query"))
        .json(&serde_json::json!({ "query": text }))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("status {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}

/// Copies every file of `from` into a new temp dir.
pub fn copy_dir(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file()
            && entry.file_name() != "OWNER"
            && entry.file_name() != "LOCK"
        {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
        }
    }
    dir
}

/// One process-heavy test at a time in this binary (the machine has 2 cores; the timing
/// bounds of the issue — propagation within 2 s — are about the cluster, not about how many
/// tests share the CPU).
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    // tokio's mutex: the guard is held across the test's awaits (each test has a runtime of
    // its own, so a std mutex would work too, but only this one says so to the linter).
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
