//! `jessy serve` as a user runs it: what it prints, and what it leaves in the keys file
//! across restarts.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use jessy_api::auth::{KeyStore, Scope};

/// Starts `jessy serve` on free ports over `registry` and `keys`, reads its stdout up to the
/// "press Ctrl-C" line, then kills it. Returns everything it printed.
fn serve_once(registry: &std::path::Path, keys: &std::path::Path) -> String {
    let mut child = jessy_testkit::command(env!("CARGO_BIN_EXE_jessy"))
        .args([
            "serve",
            "--core-addr",
            "127.0.0.1:0",
            "--api-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--registry",
        ])
        .arg(registry)
        .arg("--keys")
        .arg(keys)
        .env("JESSY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn jessy serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
            if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        let _ = tx.send(text);
    });
    let text = rx.recv_timeout(Duration::from_secs(120));
    let _ = child.kill();
    let _ = child.wait();
    text.expect("jessy serve printed its banner")
}

fn key_in(banner: &str) -> String {
    banner
        .lines()
        .find_map(|line| line.trim().strip_prefix("export JESSY_KEY="))
        .unwrap_or_else(|| panic!("no key line in:\n{banner}"))
        .to_owned()
}

#[test]
fn serve_prints_the_key_once_and_keeps_one_dev_key_across_restarts() {
    let registry = jessy_testkit::prepared_dir();
    let keys_dir = tempfile::tempdir().expect("tempdir");
    let keys = keys_dir.path().join("keys");
    std::fs::write(&keys, "# operator keys\n").expect("write");

    let first = serve_once(registry.path(), &keys);
    let first_key = key_in(&first);
    assert_eq!(first.matches(&first_key).count(), 1, "{first}");
    assert!(first.contains("(gateway, for clients)"), "{first}");
    assert!(first.contains("(engine, internal)"), "{first}");

    let second = serve_once(registry.path(), &keys);
    let second_key = key_in(&second);
    assert_ne!(first_key, second_key);
    let text = std::fs::read_to_string(&keys).expect("keys file");
    assert_eq!(text.matches("\ndev:").count(), 1, "{text}");
    assert!(text.starts_with("# operator keys\n"), "{text}");
    let store = KeyStore::load(&keys).expect("load");
    assert_eq!(store.len(), 1);
    assert!(
        store.verify(&first_key).is_none(),
        "the old dev key was revoked"
    );
    let dev = store.authenticate(&second_key).expect("the new dev key");
    assert!(Scope::ALL.iter().all(|s| dev.scopes.contains(*s)));
}
