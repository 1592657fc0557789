//! The `jessy-api` binary itself: keygen, the listening line, startup errors, SIGTERM.

use crate::support::*;

fn api_command() -> std::process::Command {
    jessy_testkit::command(env!("CARGO_BIN_EXE_jessy-api"))
}

#[tokio::test]
async fn keygen_prints_a_key_once_and_stores_only_its_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys");
    let output = api_command()
        .args(["keygen", "ci-bot", "--keys"])
        .arg(&path)
        .output()
        .expect("run keygen");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let key = lines[0];
    assert!(key.starts_with("jsy_"), "{key}");

    let stored = std::fs::read_to_string(&path).expect("keys file");
    assert!(stored.starts_with("ci-bot:"), "{stored}");
    assert!(!stored.contains(key));
    let store = jessy_api::auth::KeyStore::load(&path).expect("load");
    assert_eq!(store.verify(key).expect("verifies").as_str(), "ci-bot");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn binary_prints_one_listening_line_serves_and_stops_on_sigterm() {
    let keys = Keys::new(&["alice"]);
    let dead = dead_url().await;
    let keys_path = keys.path.to_str().expect("utf8 path");
    let mut api = start_api(&[
        "--core",
        &dead,
        "--keys",
        keys_path,
        "--health-interval-secs",
        "0.1",
    ]);
    assert_ne!(api.addr.port(), 0, "the real port is printed");

    let response = reqwest::get(api.url("/api/health")).await.expect("health");
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "unhealthy"}));

    api.signal(jessy_testkit::Signal::SIGTERM);
    let status = api.wait_exit(TIMEOUT);
    let rest = api.extra_stdout();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        rest.is_empty(),
        "more stdout after the listening line: {rest:?}"
    );
}

#[tokio::test]
async fn malformed_keys_file_fails_before_listening_naming_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys");
    std::fs::write(&path, "# ok\nalice:not-a-digest\n").expect("write");
    let output = api_command()
        .args(["--addr", "127.0.0.1:0", "--keys"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "printed: {:?}", output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[tokio::test]
async fn invalid_flags_are_reported() {
    let output = api_command()
        .args(["--core", "https://secure:1"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("http://"));
}
