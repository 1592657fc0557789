//! Why a test server could not be started, stopped or reached: each variant says what was
//! attempted and carries what the server wrote, so a failing test shows the cause, not only
//! "connection refused".

use std::path::PathBuf;
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
    #[error("{what} exited ({status}) before it was ready\n--- {log} ---\n{tail}")]
    Exited {
        /// The server, with its port.
        what: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// The server did not accept a connection (or stop) in time.
    #[error(
        "{what} did not {goal} within {waited:?} (last attempt: {last})\n--- {log} ---\n{tail}"
    )]
    Timeout {
        /// The server, with its port.
        what: String,
        /// What it was expected to do: "accept connections", "stop".
        goal: &'static str,
        /// How long was waited.
        waited: Duration,
        /// The last connection error, or the process's state.
        last: String,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
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

impl ServiceError {
    /// An [`ServiceError::Io`] naming `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
        let what = what.into();
        move |source| ServiceError::Io { what, source }
    }
}
