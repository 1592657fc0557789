//! Shared plumbing of the cluster tests: a database of its own per test, a Redis of its own
//! where one is needed, the service binaries, a small registry that builds in milliseconds,
//! and HTTP helpers.
//!
//! Each test starts its own PostgreSQL and Redis from the system's binaries, in a temporary
//! directory, on free ports ([`jessy_testkit::TestPostgres`], [`jessy_testkit::TestRedis`]),
//! so it never touches a database it did not create. `JESSY_TEST_POSTGRES_URL` (an URL whose
//! user may create databases) and `JESSY_TEST_REDIS_URL` point the tests at given servers
//! instead; a test that must stop and kill its server starts its own even then. A server that
//! cannot be started or reached fails the test with the reason: these tests never pass by
//! skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use jessy_testkit::{RunningProcess, TestPostgres, TestRedis};

/// The admin token every test core accepts and every test gateway presents.
pub const ADMIN_TOKEN: &str = "cluster-test-admin-token-0123456789";

/// A connected client of `url` (its connection driven by a task of the current runtime).
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Where a test's database lives.
enum Server {
    /// A server the environment gave (`JESSY_TEST_POSTGRES_URL`): the administrative URL.
    Given(String),
    /// A server of the test's own (boxed: it is much larger than an URL).
    Own(Box<TestPostgres>),
}

/// A database of its own for one test, on a server of its own unless the environment names
/// one (then the database is dropped, with its connections, on drop).
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    server: Server,
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

async fn own_server() -> Box<TestPostgres> {
    let postgres = TestPostgres::start()
        .await
        .unwrap_or_else(|e| panic!("cannot start a PostgreSQL for this test: {e}"));
    Box::new(postgres)
}

impl TestDb {
    /// Creates `jessy_test_<random>` on the server `JESSY_TEST_POSTGRES_URL` names, or on a
    /// server of this test's own.
    pub async fn create() -> TestDb {
        let server = match std::env::var("JESSY_TEST_POSTGRES_URL") {
            Ok(url) => Server::Given(url),
            Err(_) => Server::Own(own_server().await),
        };
        TestDb::create_on(server).await
    }

    /// Like [`TestDb::create`], always on a server of this test's own: for a test that stops
    /// and kills it.
    pub async fn create_on_own_server() -> TestDb {
        TestDb::create_on(Server::Own(own_server().await)).await
    }

    async fn create_on(server: Server) -> TestDb {
        let admin_url = match &server {
            Server::Given(url) => url.clone(),
            Server::Own(postgres) => postgres.admin_url(),
        };
        let name = format!("jessy_test_{}", uuid_like());
        connect(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_database(&admin_url, &name);
        TestDb { name, url, server }
    }

    /// The server of this test's own (`None` on a given one).
    pub fn own_server(&mut self) -> Option<&mut TestPostgres> {
        match &mut self.server {
            Server::Own(postgres) => Some(postgres.as_mut()),
            Server::Given(_) => None,
        }
    }

    /// A client of this database.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // A server of the test's own goes away whole (its drop kills it and removes its
        // directory); on a given server, only this test's database is dropped.
        let Server::Given(admin_url) = &self.server else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), self.name.clone());
        // A runtime of its own: drop may run outside (or at the end of) the test's runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok((admin, connection)) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The Redis of one test: the one `JESSY_TEST_REDIS_URL` names (shared: tests keep to a key
/// prefix of their own), or a server of the test's own, stopped when this is dropped.
pub struct RedisForTest {
    /// Its URL.
    pub url: String,
    _own: Option<TestRedis>,
}

/// The Redis of this test (see [`RedisForTest`]).
pub fn redis() -> RedisForTest {
    match std::env::var("JESSY_TEST_REDIS_URL") {
        Ok(url) => RedisForTest { url, _own: None },
        Err(_) => {
            let own = TestRedis::start()
                .unwrap_or_else(|e| panic!("cannot start a Redis for this test: {e}"));
            RedisForTest {
                url: own.url(),
                _own: Some(own),
            }
        }
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
