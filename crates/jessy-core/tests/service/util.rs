//! Starting the real `jessy-core` binary on a free port, and small HTTP helpers.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a test waits for the listening line. Starting on a prepared snapshot takes
/// milliseconds; building the default registry into an empty directory takes longer in a
/// debug build on a busy machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

pub const BIN: &str = env!("CARGO_BIN_EXE_jessy-core");

/// A snapshot directory holding the default registry, built once per test binary; tests copy
/// it instead of paying for a registry build each.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            jessy_core::load_engine(dir.path()).expect("default registry builds");
            dir
        })
        .path()
}

/// A fresh snapshot directory with the default registry in it.
pub fn prepared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(template()).expect("template readable") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name()))
                .expect("copy snapshot file");
        }
    }
    dir
}

/// A running `jessy-core` process.
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port's address, for raw TCP tests.
    pub addr: std::net::SocketAddr,
    stderr: Arc<Mutex<String>>,
    extra_stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary on `dir` with `--addr 127.0.0.1:0` and `extra` flags, and waits for
    /// its listening line.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["--addr", "127.0.0.1:0", "--registry"])
            .arg(dir)
            .args(extra)
            .env("JESSY_LOG", "warn")
            .env_remove("JESSY_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jessy-core");
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let mut pipe = child.stderr.take().expect("stderr");
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let extra_stdout = Arc::new(Mutex::new(Vec::new()));
        {
            let extra = extra_stdout.clone();
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                if let Some(Ok(line)) = lines.next() {
                    let _ = tx.send(line);
                }
                // Anything more on stdout breaks the one-line contract; tests check it is empty.
                for line in lines.map_while(Result::ok) {
                    extra.lock().unwrap().push(line);
                }
            });
        }
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no listening line; stderr:\n{}", stderr.lock().unwrap());
            }
        };
        let base = line
            .strip_prefix("jessy-core listening on ")
            .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"))
            .to_string();
        let addr = base
            .strip_prefix("http://")
            .expect("http url")
            .parse()
            .expect("socket address");
        Server {
            child: Some(child),
            base,
            addr,
            stderr,
            extra_stdout,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(self.pid(), signal).expect("send signal");
    }

    /// SIGKILL (what `Child::kill` sends) and reap: no chance to flush or clean up.
    pub fn kill_9(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    /// Waits for the process to exit on its own, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "jessy-core did not exit within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines the process wrote to stdout after the listening line (there must be none).
    pub fn extra_stdout(&self) -> Vec<String> {
        self.extra_stdout.lock().unwrap().clone()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP client with a bounded timeout, so a hung server fails a test instead of hanging it.
pub fn client() -> reqwest::Client {
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
