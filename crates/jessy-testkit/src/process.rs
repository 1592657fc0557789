//! A service binary as a child process: spawned from the path cargo built for the test
//! (`env!("CARGO_BIN_EXE_<name>")`, so it is never stale and never built by the test), its
//! `<name> listening on http://ADDR` line read, its output captured, killed on drop.
//!
//! Only the package that owns a binary gets its `CARGO_BIN_EXE_*` path, so process tests of
//! jessy-core live in jessy-core's tests and those of jessy-api in jessy-api's. A test that
//! only needs a jessy-core to talk to uses [`crate::InProcessCore`] instead.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use nix::sys::signal::Signal;

use crate::eventually::eventually_blocking;

/// Longest wait for the listening line. Starting on a prepared snapshot takes milliseconds;
/// building the default registry into an empty directory takes longer in a debug build on a
/// busy machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A [`Command`] for `binary` with a clean slate: no `JESSY_*` variable inherited from the
/// developer's shell (they would change what the service does) and stdin from `/dev/null`.
/// For runs that end on their own (`.output()`); services use [`spawn_binary`].
pub fn command(binary: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("JESSY_") {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// Starts `binary` (see [`command`]) with `args` and the extra `env` variables, and waits
/// up to [`START_TIMEOUT`] for its first stdout line, which must be
/// `<file name> listening on http://ADDR`. Panics with the process's stderr when it exits or
/// prints something else first.
pub fn spawn_binary<S: AsRef<OsStr>>(
    binary: impl AsRef<Path>,
    args: impl IntoIterator<Item = S>,
    env: &[(&str, &str)],
) -> RunningProcess {
    let binary = binary.as_ref();
    let name = binary
        .file_stem()
        .and_then(OsStr::to_str)
        .unwrap_or_else(|| panic!("binary path {} has no name", binary.display()))
        .to_owned();
    let mut child = command(binary)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", binary.display()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let stderr_reader = read_stderr(child.stderr.take().expect("piped stderr"), stderr.clone());
    let (first_line, first_line_rx) = mpsc::channel();
    let stdout_rest = Arc::new(Mutex::new(Vec::new()));
    let stdout_reader = {
        let stdout = child.stdout.take().expect("piped stdout");
        let rest = stdout_rest.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            if let Some(line) = lines.next() {
                let _ = first_line.send(line);
            }
            // Anything more on stdout breaks the one-line contract; tests check it is empty.
            for line in lines {
                rest.lock().expect("stdout lock").push(line);
            }
        })
    };
    let mut process = RunningProcess {
        child: Some(child),
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        name,
        stderr,
        stdout_rest,
        readers: vec![stderr_reader, stdout_reader],
    };
    let prefix = format!("{} listening on http://", process.name);
    let line = first_line_rx.recv_timeout(START_TIMEOUT);
    match line.as_deref().map(|line| line.strip_prefix(&prefix)) {
        Ok(Some(addr)) => {
            process.addr = addr
                .parse()
                .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
            process
        }
        _ => {
            process.stop_and_drain();
            let message = format!(
                "{} did not print `{prefix}…` (first stdout line: {line:?}); stderr:\n{}",
                process.name,
                process.stderr()
            );
            drop(process);
            panic!("{message}");
        }
    }
}

fn read_stderr(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock()
                .expect("stderr lock")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

/// A service process that printed its listening line. Killed (SIGKILL) on drop; when the
/// test is failing, its stderr is printed then, so the failure shows what the service said.
pub struct RunningProcess {
    child: Option<Child>,
    /// The address from the listening line.
    pub addr: SocketAddr,
    name: String,
    stderr: Arc<Mutex<String>>,
    stdout_rest: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl RunningProcess {
    /// `http://ADDR` followed by `path` (`""` for the base URL).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `signal` (e.g. [`Signal::SIGTERM`]) to the process.
    pub fn signal(&self, signal: Signal) {
        let id = self.child.as_ref().expect("process still running").id();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(id).expect("pid fits in i32"));
        nix::sys::signal::kill(pid, signal).expect("send signal");
    }

    /// SIGKILL and reap, like a crash: no chance to flush or clean up.
    pub fn kill_9(mut self) {
        self.stop_and_drain();
    }

    /// Waits at most `limit` for the process to exit on its own, then for its output to be
    /// read to the end. Panics (and the process is killed) when it does not exit in time.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("process still running");
        let what = format!("{} to exit", self.name);
        let status = eventually_blocking(limit, &what, || child.try_wait().expect("try_wait"));
        self.child = None;
        self.join_readers();
        status
    }

    /// Lines written to stdout after the listening line (the contract says there are none).
    pub fn extra_stdout(&self) -> Vec<String> {
        self.stdout_rest.lock().expect("stdout lock").clone()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Kills and reaps the child if it still runs, then reads its pipes to the end.
    fn stop_and_drain(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        self.stop_and_drain();
        if std::thread::panicking() {
            eprintln!("--- stderr of {} ---\n{}", self.name, self.stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sh -c script`: the listening line must then start with `sh`.
    fn sh(script: &str) -> RunningProcess {
        spawn_binary("/bin/sh", ["-c", script], &[])
    }

    #[test]
    fn reads_the_address_and_what_follows_the_listening_line() {
        let mut process =
            sh("echo 'sh listening on http://127.0.0.1:4567'; echo more; echo said >&2");
        assert_eq!(process.addr, SocketAddr::from(([127, 0, 0, 1], 4567)));
        assert_eq!(process.url("/health"), "http://127.0.0.1:4567/health");
        assert!(process.wait_exit(Duration::from_secs(10)).success());
        assert_eq!(process.extra_stdout(), ["more"]);
        assert_eq!(process.stderr(), "said\n");
    }

    #[test]
    fn a_signal_ends_a_running_process() {
        let mut process = sh("echo 'sh listening on http://127.0.0.1:1'; exec sleep 30");
        process.signal(Signal::SIGTERM);
        let status = process.wait_exit(Duration::from_secs(10));
        assert!(!status.success());
    }

    #[test]
    #[should_panic(expected = "did not print `sh listening on http://…`")]
    fn a_process_that_exits_without_listening_is_reported() {
        sh("echo 'no such thing' >&2; exit 3");
    }

    #[test]
    fn inherited_jessy_variables_are_removed() {
        let output = command("/bin/sh")
            .args(["-c", "env | grep -c '^JESSY_' || true"])
            .env("JESSY_SET_HERE", "1")
            .output()
            .expect("run sh");
        // Only the one set on the command itself is left.
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1");
    }
}
