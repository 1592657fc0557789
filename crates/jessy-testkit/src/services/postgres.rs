//! A PostgreSQL server of a test's own: a copy of a template data directory in a temporary
//! directory, `postgres` on a free loopback port, and the operations a restart test needs
//! (fast stop, SIGKILL, start again on the same directory and port).
//!
//! Startup cost is the reason for the template: `initdb` takes seconds on a busy 2-core
//! machine, copying its ~30 MB result takes a fraction of one. The template is made once per
//! machine, user and PostgreSQL version under [`scratch_dir`] (built in a
//! staging directory and renamed into place, so a concurrent or interrupted run never sees a
//! half-made one) and kept for later runs.
//!
//! Durability against a machine crash is traded for speed (`fsync=off`,
//! `full_page_writes=off`): a commit still writes its WAL to the kernel before it returns, so a
//! server killed with SIGKILL loses nothing committed; only a crash of the machine would, and
//! then the test is lost anyway. `synchronous_commit` stays on: with it off, a commit returns
//! while its WAL is still in the server's shared memory, and a SIGKILL loses the last fraction
//! of a second of commits (the restart test caught exactly that: a feedback row acknowledged
//! before the kill was gone after it).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::User;

use super::server::{
    find_in_path, free_port, give_to, is_executable, scratch_dir, unprivileged_user, ServerProcess,
};
use super::{LogExcerpt, ServiceError};

/// Longest wait for a started server to accept a connection. Crash recovery after a SIGKILL
/// replays the WAL first; on a loaded machine that can take seconds.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest wait for a fast stop (it ends backends and writes a checkpoint).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts at a fresh port when another process took the chosen one before the server bound it.
const PORT_ATTEMPTS: usize = 3;

/// Names the `initdb` options of the template (part of its directory name): change it with them,
/// so a template made with the old options is not reused.
const TEMPLATE_LAYOUT: &str = "wal1mb";

/// The superuser `initdb` creates (`-U`), whatever the operating-system user is.
const SUPERUSER: &str = "postgres";

/// Where PostgreSQL's server programs are.
#[derive(Debug, Clone)]
pub struct PostgresBinaries {
    bin_dir: PathBuf,
    version: String,
}

impl PostgresBinaries {
    /// Finds a directory holding both `initdb` and `postgres`: the `postgres` on `$PATH`
    /// (symlinks resolved), then `pg_config --bindir`, then Debian's
    /// `/usr/lib/postgresql/<version>/bin`, newest version first. Debian does not put the
    /// server programs on `$PATH`, hence the last two.
    pub fn find() -> Result<PostgresBinaries, ServiceError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(postgres) = find_in_path("postgres") {
            if let Some(dir) = std::fs::canonicalize(&postgres)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                candidates.push(dir);
            }
        }
        if let Ok(output) = std::process::Command::new("pg_config")
            .arg("--bindir")
            .output()
        {
            if output.status.success() {
                let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
                candidates.push(PathBuf::from(dir));
            }
        }
        candidates.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
        let found = candidates
            .iter()
            .find(|dir| is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres")));
        let Some(bin_dir) = found else {
            return Err(ServiceError::NotFound {
                program: "initdb and postgres",
                looked: if candidates.is_empty() {
                    "$PATH, pg_config --bindir, /usr/lib/postgresql/*/bin".into()
                } else {
                    format_dirs(&candidates)
                },
                hint: "apt-get install postgresql (bash scripts/test does)",
            });
        };
        let output = std::process::Command::new(bin_dir.join("postgres"))
            .arg("--version")
            .output()
            .map_err(ServiceError::io(format!(
                "run {}/postgres --version",
                bin_dir.display()
            )))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok(PostgresBinaries {
            bin_dir: bin_dir.clone(),
            version,
        })
    }

    /// The directory of the server programs.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// `postgres --version`'s line, e.g. `postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)`.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// `root/<version>/bin` for every version directory, highest version number first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let number = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((number, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(number, _)| std::cmp::Reverse(*number));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn format_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A PostgreSQL server of one test. Killed (with its backends) and its directory removed on
/// drop; see [`super`] for why it cannot outlive the test process either.
pub struct TestPostgres {
    /// `None` between a stop or kill and [`TestPostgres::start_again`]. Declared before `dir`:
    /// the server dies before its directory is removed.
    process: Option<ServerProcess>,
    port: u16,
    binaries: PostgresBinaries,
    user: Option<User>,
    dir: tempfile::TempDir,
}

impl TestPostgres {
    /// Finds the binaries, copies the template data directory (making it first if this machine
    /// has none for this version), starts `postgres` on a free port and waits until it accepts
    /// a connection. Blocks the calling thread while copying (well under a second).
    pub async fn start() -> Result<TestPostgres, ServiceError> {
        let binaries = PostgresBinaries::find()?;
        let user = unprivileged_user()?;
        let template = template(&binaries, user.as_ref())?;
        let dir = tempfile::Builder::new()
            .prefix("jessy-test-postgres-")
            .tempdir_in(scratch_dir())
            .map_err(ServiceError::io("create a temporary directory"))?;
        give_to(dir.path(), user.as_ref())?;
        copy_tree(&template, &dir.path().join("data"), user.as_ref())?;
        let mut server = TestPostgres {
            process: None,
            port: 0,
            binaries,
            user,
            dir,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.port = free_port()?;
            match server.run().await {
                Ok(()) => return Ok(server),
                Err(ServiceError::Exited { ref log, .. })
                    if attempt < PORT_ATTEMPTS && log.tail.contains("could not bind") =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL of `database` as the superuser (no password: the server trusts loopback).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The URL of the `postgres` database as the superuser, who may create databases.
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file (every start appends to it).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Whether the server process runs now.
    pub fn is_running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| p.check_running().is_ok())
    }

    /// A fast shutdown, what `pg_ctl stop -m fast` does: SIGINT to the postmaster, which ends
    /// every session, writes a checkpoint and exits. Waits until it has exited.
    pub async fn stop_fast(&mut self) -> Result<(), ServiceError> {
        let process = self.running()?;
        process.signal(Signal::SIGINT)?;
        process.wait_exit(STOP_TIMEOUT).await?;
        self.process = None;
        Ok(())
    }

    /// SIGKILL to the postmaster and every backend at once, like the kernel's OOM killer
    /// taking the whole server. (A SIGKILL to the postmaster alone would leave its backends
    /// running until they notice, and a new postmaster refuses a data directory whose shared
    /// memory they still hold.) The next start replays the WAL.
    pub fn kill(&mut self) -> Result<(), ServiceError> {
        self.running()?.kill_group();
        self.process = None;
        Ok(())
    }

    /// Starts the server again on the same data directory and port after
    /// [`TestPostgres::stop_fast`] or [`TestPostgres::kill`], and waits until it accepts
    /// connections.
    pub async fn start_again(&mut self) -> Result<(), ServiceError> {
        if self.is_running() {
            return Err(ServiceError::State {
                what: self.what(),
                problem: "already running",
            });
        }
        self.run().await
    }

    fn running(&mut self) -> Result<&mut ServerProcess, ServiceError> {
        let what = self.what();
        self.process.as_mut().ok_or(ServiceError::State {
            what,
            problem: "not running",
        })
    }

    fn what(&self) -> String {
        format!("PostgreSQL on 127.0.0.1:{}", self.port)
    }

    /// Starts `postgres` on the data directory and port, then waits until it is ready.
    async fn run(&mut self) -> Result<(), ServiceError> {
        let data = self.dir.path().join("data");
        let port = self.port.to_string();
        let socket_dir = self.dir.path().as_os_str().to_owned();
        let mut args: Vec<OsString> = vec![
            "-D".into(),
            data.into_os_string(),
            "-p".into(),
            port.into(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
        ];
        // The socket in the test's directory: never in /var/run/postgresql, where the
        // machine's own server keeps its socket and lock file.
        let mut socket = OsString::from("unix_socket_directories=");
        socket.push(&socket_dir);
        args.extend(["-c".into(), socket]);
        for setting in [
            "fsync=off",
            "full_page_writes=off",
            "shared_buffers=16MB",
            "max_connections=200",
            "logging_collector=off",
            // Dynamic shared memory as files in the data directory, not in /dev/shm: a server
            // killed with SIGKILL (every drop does that) cannot remove its segments, and these
            // are removed with the directory.
            "dynamic_shared_memory_type=mmap",
        ] {
            args.extend(["-c".into(), setting.into()]);
        }
        let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
        let process = ServerProcess::spawn(
            &self.binaries.bin_dir.join("postgres"),
            &args,
            self.user.as_ref(),
            self.dir.path(),
            &self.log_path(),
            self.what(),
        )?;
        self.process = Some(process);
        self.wait_ready().await
    }

    /// Connects until a connection succeeds (a server that is still starting or recovering
    /// refuses sessions), failing early if the server exits.
    async fn wait_ready(&mut self) -> Result<(), ServiceError> {
        let url = self.admin_url();
        let started = Instant::now();
        let mut last = String::from("no attempt yet");
        let process = self.running()?;
        while started.elapsed() < READY_TIMEOUT {
            process.check_running()?;
            let attempt = tokio::time::timeout(
                Duration::from_secs(5),
                tokio_postgres::connect(&url, tokio_postgres::NoTls),
            )
            .await;
            match attempt {
                Ok(Ok(_connected)) => return Ok(()),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "connecting took over 5 s".into(),
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(ServiceError::Timeout {
            what: process.what().to_string(),
            goal: "accept connections",
            waited: READY_TIMEOUT,
            last,
            log: LogExcerpt::read(process.log()),
        })
    }
}

/// The template data directory for these binaries and this user, made by `initdb` when
/// missing. One process makes it at a time (a lock across tests of one binary); across
/// processes the rename decides, and the loser's copy is discarded.
fn template(binaries: &PostgresBinaries, user: Option<&User>) -> Result<PathBuf, ServiceError> {
    static MAKING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = MAKING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let uid = nix::unistd::geteuid();
    let root = scratch_dir().join(format!("jessy-testkit-{uid}"));
    let owner = user.map_or_else(|| "self".to_string(), |u| u.name.clone());
    let name: String = format!("postgres-{TEMPLATE_LAYOUT}-{}-{owner}", binaries.version)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let template = root.join(name);
    if is_complete(&template) {
        return Ok(template);
    }
    std::fs::create_dir_all(&root)
        .map_err(ServiceError::io(format!("create {}", root.display())))?;
    let staging = tempfile::Builder::new()
        .prefix("staging-")
        .tempdir_in(&root)
        .map_err(ServiceError::io(format!(
            "create a directory in {}",
            root.display()
        )))?;
    give_to(staging.path(), user)?;
    // The staging directory must be reachable by the server's user.
    set_mode(&root, 0o755)?;
    let data = staging.path().join("data");
    let initdb = binaries.bin_dir.join("initdb");
    let output = super::server::command_as(&initdb, user, staging.path())
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ])
        // 1 MB WAL segments instead of 16: the template (and each copy) is 15 MB smaller.
        .arg("--wal-segsize=1")
        .output()
        .map_err(ServiceError::io(format!("run {}", initdb.display())))?;
    if !output.status.success() {
        return Err(failed(
            format!("{} -D {}", initdb.display(), data.display()),
            output,
        ));
    }
    match std::fs::rename(&data, &template) {
        Ok(()) => Ok(template),
        // Another process renamed its template into place first: use that one.
        Err(_) if is_complete(&template) => Ok(template),
        Err(source) => Err(ServiceError::Io {
            what: format!("move {} to {}", data.display(), template.display()),
            source,
        }),
    }
}

/// Whether `dir` holds a finished data directory (the rename that publishes one is atomic,
/// so a present `PG_VERSION` and control file mean `initdb` completed).
fn is_complete(dir: &Path) -> bool {
    dir.join("PG_VERSION").is_file() && dir.join("global/pg_control").is_file()
}

fn failed(what: String, output: Output) -> ServiceError {
    ServiceError::Failed {
        what,
        status: output.status,
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ServiceError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ServiceError::io(format!("chmod {}", path.display())))
}

/// Copies the directory tree `from` to `to` (which must not exist), keeping each entry's mode
/// (PostgreSQL refuses a data directory readable by others) and giving every entry to `user`.
/// A fresh data directory holds only directories and regular files; anything else is refused.
fn copy_tree(from: &Path, to: &Path, user: Option<&User>) -> Result<(), ServiceError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(to).map_err(ServiceError::io(format!("create {}", to.display())))?;
    let mode = std::fs::metadata(from)
        .map_err(ServiceError::io(format!("stat {}", from.display())))?
        .permissions()
        .mode();
    set_mode(to, mode & 0o7777)?;
    give_to(to, user)?;
    let entries =
        std::fs::read_dir(from).map_err(ServiceError::io(format!("list {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(ServiceError::io(format!("list {}", from.display())))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(ServiceError::io(format!("stat {}", source.display())))?;
        if kind.is_dir() {
            copy_tree(&source, &target, user)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target).map_err(ServiceError::io(format!(
                "copy {} to {}",
                source.display(),
                target.display()
            )))?;
            give_to(&target, user)?;
        } else {
            return Err(ServiceError::Io {
                what: format!("copy {}", source.display()),
                source: std::io::Error::other("not a file or directory"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_are_tried_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for name in ["9", "15", "13", "common"] {
            std::fs::create_dir_all(root.path().join(name).join("bin")).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<_> = dirs
            .iter()
            .map(|d| d.parent().unwrap().file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["15", "13", "9"]);
    }

    #[test]
    fn a_tree_is_copied_with_its_modes() {
        use std::os::unix::fs::PermissionsExt;
        let from = tempfile::tempdir().unwrap();
        std::fs::create_dir(from.path().join("base")).unwrap();
        std::fs::write(from.path().join("base/1"), b"page").unwrap();
        set_mode(from.path(), 0o700).unwrap();
        let to = tempfile::tempdir().unwrap();
        let copy = to.path().join("data");
        copy_tree(from.path(), &copy, None).unwrap();
        assert_eq!(std::fs::read(copy.join("base/1")).unwrap(), b"page");
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
