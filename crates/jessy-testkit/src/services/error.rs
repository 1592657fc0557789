//! Why a test server could not be started, stopped or reached: each variant says what was
//! attempted and carries what the server wrote, so a failing test shows the cause, not only
//! "connection refused".

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An error of [`super::TestPostgres`] or [`super::TestRedis`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A server program is not installed where it was looked for.
    #[error("{program} not found (looked in: {looked}); install it: {hint}")]
    NotFound {
        /// The program (`initdb`, `redis-server`, …).
        program: &'static str,
        /// Every place that was searched.
        looked: String,
        /// What to install (a Debian package name).
        hint: &'static str,
    },
    /// A file system or process operation failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, with the path or program.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A helper program (`initdb`) ended with a failure.
    #[error("{what} failed ({status}):\n{output}")]
    Failed {
        /// The command.
        what: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its stdout and stderr.
        output: String,
    },
    /// Running as root, and no unprivileged user exists to run PostgreSQL as.
    #[error("running as root, and neither the `postgres` nor the `nobody` user exists to run PostgreSQL as")]
    NoUnprivilegedUser,
    /// The server exited while it was expected to start (or to keep running).
    #[error("{what} exited ({status}) before it was ready\n{log}")]
    Exited {
        /// The server, with its port.
        what: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// The end of its log (boxed: errors stay small on the happy path).
        log: Box<LogExcerpt>,
    },
    /// The server did not accept a connection (or stop) in time.
    #[error("{what} did not {goal} within {waited:?} (last attempt: {last})\n{log}")]
    Timeout {
        /// The server, with its port.
        what: String,
        /// What it was expected to do: "accept connections", "stop".
        goal: &'static str,
        /// How long was waited.
        waited: Duration,
        /// The last connection error, or the process's state.
        last: String,
        /// The end of its log (boxed: errors stay small on the happy path).
        log: Box<LogExcerpt>,
    },
    /// An operation that needs a running server was asked of a stopped one, or the reverse.
    #[error("{what}: {problem}")]
    State {
        /// The server.
        what: String,
        /// What is wrong ("already running", "not running").
        problem: &'static str,
    },
}

/// Bytes of a log shown in an error: the end of a PostgreSQL log holds the reason it stopped.
const LOG_TAIL_BYTES: u64 = 4096;

/// The end of a server's log file, as shown in an error.
#[derive(Debug, Clone)]
pub struct LogExcerpt {
    /// The log file.
    pub path: PathBuf,
    /// Its last few kilobytes (lossy UTF-8), or why it could not be read.
    pub tail: String,
}

impl LogExcerpt {
    /// Reads the last 4 KiB of `path`.
    pub fn read(path: &Path) -> Box<LogExcerpt> {
        let read = || -> std::io::Result<String> {
            let mut file = File::open(path)?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let tail = read().unwrap_or_else(|e| format!("(cannot read it: {e})"));
        Box::new(LogExcerpt {
            path: path.to_path_buf(),
            tail,
        })
    }
}

impl std::fmt::Display for LogExcerpt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- {} ---\n{}", self.path.display(), self.tail)
    }
}

impl ServiceError {
    /// An [`ServiceError::Io`] naming `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
        let what = what.into();
        move |source| ServiceError::Io { what, source }
    }
}
