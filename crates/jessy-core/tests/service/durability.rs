//! What survives a crash, and what refuses to start.

use jessy_engine::result::QueryResult;
use serde_json::{json, Value};

use crate::util::{client, get_json, layer_body, post_json, prepared_dir, start_core, BIN};

const WORDS: [&str; 3] = ["frobnicator", "glimmerdrive", "snorkelbus"];

/// Writes one layer per word of [`WORDS`], each acknowledged with 201; returns the generation
/// of the last acknowledgement.
async fn write_words(server: &jessy_testkit::RunningProcess, http: &reqwest::Client) -> u64 {
    let mut last_generation = 0;
    for word in WORDS {
        let url = server.url(&format!("/v1/dimensions/technical/layers/{word}"));
        let response = http
            .put(&url)
            .json(&layer_body(word, word))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let outcome: Value = response.json().await.unwrap();
        last_generation = outcome["generation"].as_u64().unwrap();
    }
    last_generation
}

#[tokio::test]
async fn acknowledged_layers_survive_kill_9() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let last_generation = write_words(&server, &http).await;
    // No graceful anything: SIGKILL right after the last acknowledgement.
    server.kill_9();

    let server = start_core(dir.path(), &[]);
    let ready: Value = get_json(&http, server.url("/ready")).await;
    assert_eq!(ready["generation"], last_generation);
    for word in WORDS {
        let url = server.url(&format!("/v1/dimensions/technical/layers/{word}"));
        let layer: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            layer["content"],
            format!("Guidance about {word}."),
            "{layer}"
        );
        let query = json!({"query": format!("how do i configure {word}")});
        let result: QueryResult = post_json(&http, server.url("/v1/query"), &query).await;
        assert!(
            result.top_layers.first().is_some_and(|l| l.layer == word),
            "{word} not routable after restart: {:?}",
            result.top_layers
        );
    }
}

#[tokio::test]
async fn a_missing_directory_is_created_with_the_default_registry() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested").join("registry");
    let server = start_core(&dir, &[]);
    let ready: Value = client()
        .get(server.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["dimensions"], 14);
    assert!(dir.join("CURRENT").is_file());
}

#[test]
fn a_corrupt_snapshot_exits_nonzero_naming_the_file() {
    let dir = prepared_dir();
    let snapshot = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "CURRENT") && p.is_file())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a generation file");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&snapshot, bytes).unwrap();

    let output = jessy_testkit::command(BIN)
        .args(["--addr", "127.0.0.1:0", "--registry"])
        .arg(dir.path())
        .env("JESSY_LOG", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        output.stdout.is_empty(),
        "no listening line: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let name = snapshot.file_name().unwrap().to_str().unwrap();
    assert!(stderr.contains(name), "stderr should name {name}: {stderr}");
}

#[test]
fn an_uncreatable_directory_exits_nonzero_naming_it() {
    let parent = tempfile::tempdir().unwrap();
    let file = parent.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("registry");
    let output = jessy_testkit::command(BIN)
        .args(["--addr", "127.0.0.1:0", "--registry"])
        .arg(&dir)
        .env("JESSY_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&*dir.to_string_lossy()), "{stderr}");
}

fn generation_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-") && n.ends_with(".snap"))
        .collect();
    names.sort();
    names
}

/// Deleting `CURRENT` used to bring the core up with the default registry and delete every
/// acknowledged generation; now it recovers the newest complete one and says so.
#[tokio::test]
async fn a_deleted_manifest_is_recovered_not_replaced_by_the_default_registry() {
    let dir = prepared_dir();
    let server = start_core(dir.path(), &[]);
    let http = client();
    let last_generation = write_words(&server, &http).await;
    server.kill_9();
    let files = generation_files(dir.path());
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();

    let server = jessy_testkit::spawn_binary(
        BIN,
        [
            "--addr",
            "127.0.0.1:0",
            "--registry",
            dir.path().to_str().unwrap(),
        ],
        &[("JESSY_LOG", "error")],
    );
    let ready: Value = get_json(&http, server.url("/ready")).await;
    assert_eq!(ready["generation"], last_generation);
    for word in WORDS {
        let url = server.url(&format!("/v1/dimensions/technical/layers/{word}"));
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{word} lost");
    }
    assert_eq!(generation_files(dir.path()), files, "no generation deleted");
    let stderr = server.stderr();
    assert!(
        stderr.contains("RECOVERED") && stderr.contains("CURRENT"),
        "the recovery is logged: {stderr}"
    );
}

/// Two cores on one directory used to lose acknowledged writes (the second published from
/// stale state); now the second refuses to start, naming the directory, until the first exits.
#[tokio::test]
async fn a_second_core_on_an_owned_directory_refuses_to_start() {
    let dir = prepared_dir();
    let first = start_core(dir.path(), &[]);
    let output = jessy_testkit::command(BIN)
        .args(["--addr", "127.0.0.1:0", "--registry"])
        .arg(dir.path())
        .env("JESSY_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "no listening line");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&*dir.path().to_string_lossy()) && stderr.contains("owned"),
        "{stderr}"
    );

    first.kill_9();
    let second = start_core(dir.path(), &[]);
    let response = client().get(second.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}
