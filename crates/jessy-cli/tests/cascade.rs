//! The semantic cascade through the `jessy` binary: `jessy build` takes the encoder from
//! `[encoder] path` in registry.toml (relative to the source directory; `--encoder` wins), and
//! `jessy serve --encoder` hands it to the core it runs, which then escalates unsure queries.
//!
//! The registry is tiny (a few dozen lines to embed), so the real model costs about a second
//! here; the model comes from `scripts/fetch-encoder.sh` (or `JESSY_TEST_ENCODER`), and its
//! absence fails the test instead of skipping it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn model_dir() -> PathBuf {
    let dir = match std::env::var_os("JESSY_TEST_ENCODER") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/all-MiniLM-L6-v2"),
    };
    assert!(
        dir.join("model.safetensors").exists(),
        "the sentence encoder is not at {}: run `bash scripts/fetch-encoder.sh` (or set \
         JESSY_TEST_ENCODER)",
        dir.display()
    );
    std::fs::canonicalize(&dir).expect("model directory")
}

/// Two dimensions, three layers; most validation lines paraphrase the layers in words the
/// examples never use (the lexical path answers them wrong), so only the encoder can place
/// them and the build escalates them.
fn write_source(src: &Path, encoder_line: &str) {
    std::fs::create_dir_all(src.join("dimensions")).unwrap();
    std::fs::write(
        src.join("registry.toml"),
        format!(
            "name = \"tiny\"\nout_of_scope = [\"tell me a joke\", \"who won the football match\"]\n\n{encoder_line}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        src.join("dimensions/money.toml"),
        r#"id = "money"
name = "Money"
frequency = [1.0, 2.0]

[[layer]]
id = "balance"
name = "Balance"
frequency = 1.5
examples = ["what is my account balance", "how much money do I have in the bank",
            "check my checking balance", "show my savings balance", "balance of my account"]

[[layer]]
id = "transfer"
name = "Transfer"
frequency = 1.5
examples = ["transfer money to my savings", "send money to my friend", "move funds between accounts",
            "wire money to another bank", "make a transfer of fifty dollars"]
"#,
    )
    .unwrap();
    std::fs::write(
        src.join("dimensions/weather.toml"),
        r#"id = "weather"
name = "Weather"
frequency = [1.0, 2.0]

[[layer]]
id = "forecast"
name = "Forecast"
frequency = 1.5
examples = ["what is the weather forecast", "will it rain tomorrow", "is it going to be sunny",
            "weather for the weekend", "how cold will it be today"]
"#,
    )
    .unwrap();
}

const VAL: &str = r#"{"text": "am I skint", "dimension": "money", "layer": "balance"}
{"text": "how loaded am I", "dimension": "money", "layer": "balance"}
{"text": "remaining funds", "dimension": "money", "layer": "balance"}
{"text": "what is my balance", "dimension": "money", "layer": "balance"}
{"text": "reimburse my roommate", "dimension": "money", "layer": "transfer"}
{"text": "send money to mom", "dimension": "money", "layer": "transfer"}
{"text": "is a storm coming", "dimension": "weather", "layer": "forecast"}
{"text": "pouring outside later", "dimension": "weather", "layer": "forecast"}
{"text": "temperature outside", "dimension": "weather", "layer": "forecast"}
{"text": "will it rain today", "dimension": "weather", "layer": "forecast"}
{"text": "tell me a funny story", "dimension": null, "layer": null}
"#;

fn jessy(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jessy"))
        .args(args)
        .env("JESSY_LOG", "warn")
        .output()
        .expect("run jessy")
}

/// Starts `jessy serve` on free ports, waits for its banner, returns the child and the core's
/// base URL.
fn serve(snap: &Path, model: &Path) -> (std::process::Child, String) {
    let mut child = jessy_testkit::command(env!("CARGO_BIN_EXE_jessy"))
        .args([
            "serve",
            "--core-addr",
            "127.0.0.1:0",
            "--api-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "off",
            "--registry",
        ])
        .arg(snap)
        .arg("--encoder")
        .arg(model)
        .env("JESSY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn jessy serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut core = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("jessy-core") {
                core = line
                    .split_whitespace()
                    .find(|w| w.starts_with("http://"))
                    .map(str::to_owned);
            }
            if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        let _ = tx.send(core);
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Some(url)) => (child, url),
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("jessy serve did not print the core's address: {other:?}")
        }
    }
}

#[test]
fn build_takes_the_encoder_from_registry_toml_and_serve_escalates_with_it() {
    let model = model_dir();
    let tmp = tempfile::tempdir().unwrap();
    let (src, snap, val) = (
        tmp.path().join("src"),
        tmp.path().join("snap"),
        tmp.path().join("val.jsonl"),
    );
    std::fs::write(&val, VAL).unwrap();
    // The model beside the source, named relatively: the path is resolved against the source
    // directory, not the working directory.
    write_source(&src, "[encoder]\npath = \"models/minilm\"");
    std::fs::create_dir_all(src.join("models")).unwrap();
    std::os::unix::fs::symlink(&model, src.join("models/minilm")).unwrap();

    // --encoder wins over registry.toml: a missing directory there is the error, by name.
    let missing = tmp.path().join("no-such-model");
    let out = jessy(&[
        "build".as_ref(),
        src.as_os_str(),
        "--out".as_ref(),
        snap.as_os_str(),
        "--calibrate".as_ref(),
        val.as_os_str(),
        "--encoder".as_ref(),
        missing.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("no-such-model"),
        "{stderr}"
    );

    // Without --calibrate, an encoder from registry.toml is a clear error, not a silent
    // lexical-only build.
    let out = jessy(&[
        "build".as_ref(),
        src.as_os_str(),
        "--out".as_ref(),
        snap.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--calibrate"),
        "{stderr}"
    );

    // From a different working directory, registry.toml's relative path finds the model.
    let out = Command::new(env!("CARGO_BIN_EXE_jessy"))
        .current_dir(tmp.path())
        .args([
            "build".as_ref(),
            src.as_os_str(),
            "--out".as_ref(),
            snap.as_os_str(),
        ])
        .args(["--calibrate".as_ref(), val.as_os_str()])
        // Half of these few validation lines are unsure (no known word: equal margins, which
        // escalate together or not at all), the one out-of-scope line among them; the cap
        // holds per group, and any cap below 1 would keep that line, so all of them, back.
        .args(["--escalate-at-most", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let head_line = stderr
        .lines()
        .find(|l| l.starts_with("semantic head:"))
        .unwrap_or_else(|| panic!("no semantic head was trained:\n{stderr}"));
    assert!(
        !head_line.contains("(0.0% of validation lines"),
        "the build chose to escalate nothing, so serving could not show the cascade: {head_line}"
    );

    // jessy serve --encoder: an unsure query (no word the registry knows) goes to the encoder.
    let (mut child, core) = serve(&snap, &model);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let answer = |text: &str| -> serde_json::Value {
        runtime
            .block_on(async {
                client
                    .post(format!("{core}/v1/query"))
                    .json(&serde_json::json!({ "query": text }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await
            })
            .unwrap_or_else(|e| panic!("query {text:?}: {e}"))
    };
    let unsure = answer("any hail expected");
    let sure = answer("what is my account balance");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(unsure["cascade"]["path"], "semantic", "{unsure}");
    assert!(
        unsure["cascade"]["encoder_us"].as_f64().unwrap() > 0.0,
        "{unsure}"
    );
    assert_eq!(sure["cascade"]["path"], "lexical", "{sure}");
}
