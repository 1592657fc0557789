//! Real processes: the `jessy-api` binary under test and `jessy-core` binaries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::support::POLL_TIMEOUT;

/// The `jessy-core` binary from the same target directory as this test executable, built
/// once (per test run) with cargo if it is not there yet. A failed build is remembered, so
/// the other tests fail at once with the same message instead of rebuilding.
pub fn jessy_core_binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(locate_or_build_jessy_core)
        .clone()
        .unwrap_or_else(|message| panic!("{message}"))
}

fn locate_or_build_jessy_core() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("test executable path: {e}"))?;
    // .../target/<profile>/deps/integration-<hash> → .../target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("test executable does not live in target/<profile>/deps")?;
    let binary = profile_dir.join(format!("jessy-core{}", std::env::consts::EXE_SUFFIX));
    if binary.exists() {
        return Ok(binary);
    }
    let target_dir = profile_dir
        .parent()
        .ok_or("no target dir above the profile dir")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build
        .args([
            "build",
            "-p",
            "jessy-core",
            "--bin",
            "jessy-core",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(workspace);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo build for jessy-core: {e}"))?;
    if status.success() && binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "could not build jessy-core at {} (cargo exited with {status})",
            binary.display()
        ))
    }
}

/// A child process that printed `<service> listening on http://ADDR`; killed on drop.
pub struct Service {
    pub addr: SocketAddr,
    pub child: Child,
    pub stdout: Lines<BufReader<ChildStdout>>,
}

impl Service {
    /// Spawns `command` and waits for its listening line.
    pub async fn spawn(mut command: Command, service: &str) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (name, _) in std::env::vars() {
            if name.starts_with("JESSY_") {
                command.env_remove(name);
            }
        }
        command.env("JESSY_LOG", "warn");
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {service}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(POLL_TIMEOUT, stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("{service} did not print its listening line in time"))
            .expect("read stdout")
            .unwrap_or_else(|| panic!("{service} exited before listening"));
        let prefix = format!("{service} listening on http://");
        let addr = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("unexpected first line from {service}: {line:?}"))
            .parse()
            .expect("socket address");
        Self {
            addr,
            child,
            stdout,
        }
    }

    /// Base URL of the service.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, like a crash: no drain, connections reset.
    pub async fn kill(mut self) -> SocketAddr {
        self.child.kill().await.expect("kill");
        self.addr
    }

    /// SIGTERM through `kill(1)` (no unsafe libc call), then waits for the exit status.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().expect("running").to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let exit = tokio::time::timeout(POLL_TIMEOUT, self.child.wait())
            .await
            .expect("exited in time after SIGTERM")
            .expect("wait");
        let mut rest = Vec::new();
        while let Ok(Some(line)) = self.stdout.next_line().await {
            rest.push(line);
        }
        (exit, rest)
    }
}

/// A snapshot directory holding jessy-core's embedded default registry, shared by every core
/// this test process starts.
///
/// Built once per process by starting a core on an empty directory (it initialises the
/// default snapshot there; ~2 s in a debug build, against ~0.1 s to open an existing one),
/// under cargo's per-target scratch dir so tests never touch the user's data directory.
/// The directory is per process id, so it always matches the jessy-core binary under test;
/// directories of processes that no longer exist are removed.
pub fn core_registry() -> PathBuf {
    static REGISTRY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(prepare_core_registry)
        .clone()
        .unwrap_or_else(|message| panic!("{message}"))
}

fn prepare_core_registry() -> Result<PathBuf, String> {
    const PREFIX: &str = "jessy-api-core-registry-";
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    if let Ok(entries) = std::fs::read_dir(scratch) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix(PREFIX));
            let alive = pid.is_some_and(|pid| Path::new("/proc").join(pid).exists());
            if pid.is_some() && !alive && Path::new("/proc/self").exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = scratch.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let mut child = std::process::Command::new(jessy_core_binary())
        .args(["--addr", "127.0.0.1:0", "--registry"])
        .arg(&dir)
        .env("JESSY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start jessy-core: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // Reading blocks until the core listens (its snapshot is then complete) or exits.
    let mut line = String::new();
    let read = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    let _ = child.kill();
    let _ = child.wait();
    match read {
        Ok(_) if line.starts_with("jessy-core listening on ") => Ok(dir),
        _ => Err(format!(
            "jessy-core did not start on an empty registry dir {} (first line {line:?})",
            dir.display()
        )),
    }
}

/// Starts a real jessy-core on `addr` (`127.0.0.1:0` for any port) serving the default
/// registry from [`core_registry`].
pub async fn start_core(addr: &str) -> Service {
    let registry = tokio::task::spawn_blocking(core_registry)
        .await
        .expect("registry preparation");
    let mut command = Command::new(jessy_core_binary());
    command.args(["--addr", addr, "--registry"]).arg(registry);
    Service::spawn(command, "jessy-core").await
}

/// Starts the jessy-api binary under test with `args` after `--addr 127.0.0.1:0`.
pub async fn start_api(args: &[&str]) -> Service {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jessy-api"));
    command.args(["--addr", "127.0.0.1:0"]).args(args);
    Service::spawn(command, "jessy-api").await
}
