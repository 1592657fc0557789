//! A server process a test owns: started so that it cannot outlive the test process, run as an
//! unprivileged user when the test runs as root, its output in a log file, and killed with
//! its whole process group on drop.
//!
//! Three mechanisms, each covering a way a test ends:
//! 1. **Drop** (the test returns or unwinds): SIGKILL to the server's process group, then the
//!    leader is reaped. The group is the server's own (`process_group(0)`), so the signal
//!    reaches PostgreSQL's backends too and never the test process. The leader is signalled
//!    only while it is unreaped, so its pid (and group id) cannot have been reused.
//! 2. **Parent death** (the test process is killed and runs no drops): the server is exec'd
//!    through `setpriv --pdeathsig KILL`, so the kernel sends it SIGKILL when its parent
//!    goes. Linux ties that signal to the *thread* that forked, not the process, so every
//!    server is spawned by one [`launcher`] thread that lives until the process exits, never
//!    by a test thread or a runtime worker that may end first.
//! 3. **Backends**: PostgreSQL's children notice their postmaster's death and exit by
//!    themselves; Redis has no children.
//!
//! Without `setpriv` (util-linux, essential on Debian) the server starts without mechanism 2.

use std::ffi::OsStr;
use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::{Pid, User};

use super::{LogExcerpt, ServiceError};

/// A loopback port nothing listens on now. The listener is closed before the server binds,
/// so another process may take the port in between: callers retry on "address in use".
pub fn free_port() -> Result<u16, ServiceError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(ServiceError::io("bind a free loopback port"))?;
    let port = listener
        .local_addr()
        .map_err(ServiceError::io("read the free port"))?
        .port();
    Ok(port)
}

/// Where servers' temporary directories (and PostgreSQL's template) go: `$TMPDIR` when set,
/// else `/dev/shm` when it is a writable directory, else the system's temporary directory.
/// `/dev/shm` is a RAM file system: copying a ~1,000-file data directory there took 0.24 s
/// against 1.7 s on this machine's disk under load, and the server's own writes are cheaper
/// too. Nothing there needs to survive a reboot.
pub fn scratch_dir() -> PathBuf {
    if std::env::var_os("TMPDIR").is_some() {
        return std::env::temp_dir();
    }
    let shm = Path::new("/dev/shm");
    let writable = nix::unistd::access(
        shm,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_ok();
    if shm.is_dir() && writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The user servers run as: `None` (the current user) unless the test runs as root, where
/// PostgreSQL refuses to start; then `postgres` (Debian's server package creates it) or
/// `nobody`.
pub fn unprivileged_user() -> Result<Option<User>, ServiceError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        match User::from_name(name) {
            Ok(Some(user)) => return Ok(Some(user)),
            Ok(None) => {}
            Err(e) => {
                return Err(ServiceError::Io {
                    what: format!("look up user {name}"),
                    source: e.into(),
                })
            }
        }
    }
    Err(ServiceError::NoUnprivilegedUser)
}

/// Gives `path` (one entry, not its contents) to `user`; nothing when `user` is `None`.
pub fn give_to(path: &Path, user: Option<&User>) -> Result<(), ServiceError> {
    let Some(user) = user else { return Ok(()) };
    std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(
        ServiceError::io(format!("chown {} to {}", path.display(), user.name)),
    )
}

/// A [`Command`] for `program` that runs as `user` (when given) in `dir`, with stdin closed.
pub fn command_as(program: &Path, user: Option<&User>, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir).stdin(Stdio::null());
    if let Some(user) = user {
        // As root, std also drops the supplementary groups before exec.
        command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    command
}

/// A running (or stopped, not yet restarted) server process.
pub struct ServerProcess {
    child: Option<Child>,
    what: String,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `program args` as `user` in `dir`, its stdout and stderr appended to `log`, in a
    /// process group of its own and with a parent-death signal (see the module's doc).
    /// `what` names it in errors ("PostgreSQL on 127.0.0.1:5433").
    pub fn spawn(
        program: &Path,
        args: &[&OsStr],
        user: Option<&User>,
        dir: &Path,
        log: &Path,
        what: String,
    ) -> Result<ServerProcess, ServiceError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(ServiceError::io(format!("open {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(ServiceError::io(format!("duplicate {}", log.display())))?;
        let mut command = match setpriv() {
            Some(setpriv) => {
                let mut command = command_as(setpriv, user, dir);
                command.args(["--pdeathsig", "KILL", "--"]).arg(program);
                command
            }
            None => command_as(program, user, dir),
        };
        command.args(args).stdout(out).stderr(err).process_group(0);
        let child =
            launch(command).map_err(ServiceError::io(format!("start {}", program.display())))?;
        Ok(ServerProcess {
            child: Some(child),
            what,
            log: log.to_path_buf(),
        })
    }

    /// The name used in errors.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Ok` while the process runs; [`ServiceError::Exited`] with its log once it has exited.
    pub fn check_running(&mut self) -> Result<(), ServiceError> {
        let Some(child) = self.child.as_mut() else {
            return Err(self.state_error("not running"));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(ServiceError::Exited {
                    what: self.what.clone(),
                    status,
                    log: LogExcerpt::read(&self.log),
                })
            }
            Err(source) => Err(ServiceError::Io {
                what: format!("check on {}", self.what),
                source,
            }),
        }
    }

    /// Sends `signal` to the server's main process only (PostgreSQL's postmaster decides what
    /// its backends do: SIGINT is `pg_ctl stop -m fast`).
    pub fn signal(&self, sig: Signal) -> Result<(), ServiceError> {
        let child = self
            .child
            .as_ref()
            .ok_or_else(|| self.state_error("not running"))?;
        signal::kill(pid_of(child), sig).map_err(|e| ServiceError::Io {
            what: format!("send {sig} to {}", self.what),
            source: e.into(),
        })
    }

    /// Waits up to `limit` for the process to exit (after [`ServerProcess::signal`]).
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus, ServiceError> {
        let started = Instant::now();
        loop {
            let child = self.child.as_mut().ok_or_else(|| ServiceError::State {
                what: self.what.clone(),
                problem: "not running",
            })?;
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Ok(status);
                }
                Ok(None) if started.elapsed() < limit => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => {
                    return Err(ServiceError::Timeout {
                        what: self.what.clone(),
                        goal: "stop",
                        waited: limit,
                        last: "still running".into(),
                        log: LogExcerpt::read(&self.log),
                    })
                }
                Err(source) => {
                    return Err(ServiceError::Io {
                        what: format!("wait for {}", self.what),
                        source,
                    })
                }
            }
        }
    }

    /// SIGKILL to the whole process group, then reaps the leader: a crash of the server and of
    /// everything it started, with no chance to flush or clean up. Nothing when not running.
    pub fn kill_group(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Unreaped until after the signal: the group id is still this server's.
            let _ = signal::killpg(pid_of(&child), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    fn state_error(&self, problem: &'static str) -> ServiceError {
        ServiceError::State {
            what: self.what.clone(),
            problem,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill_group();
    }
}

fn pid_of(child: &Child) -> Pid {
    // A pid always fits in i32 on Linux (pid_max ≤ 2^22).
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

/// `setpriv`, when installed.
fn setpriv() -> Option<&'static Path> {
    static SETPRIV: OnceLock<Option<PathBuf>> = OnceLock::new();
    SETPRIV.get_or_init(|| find_in_path("setpriv")).as_deref()
}

/// `name` in one of `$PATH`'s directories, or in `/usr/bin` (a minimal PATH may lack it).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

type LaunchRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` on the launcher thread: a thread that lives as long as the process, so a
/// parent-death signal fires when the test process exits and not when the thread that asked
/// for the server ends.
fn launch(command: Command) -> std::io::Result<Child> {
    static LAUNCHER: OnceLock<mpsc::Sender<LaunchRequest>> = OnceLock::new();
    let launcher = LAUNCHER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<LaunchRequest>();
        // The sender sits in a static and is never dropped, so this loop ends only with the
        // process.
        let spawned = std::thread::Builder::new()
            .name("jessy-testkit-launcher".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            });
        if let Err(e) = spawned {
            // Every later request then fails with a clear error (its reply sender drops).
            eprintln!("jessy-testkit: cannot start the launcher thread: {e}");
        }
        requests
    });
    let (reply, answer) = mpsc::channel();
    let gone = || std::io::Error::other("the launcher thread is not running");
    launcher.send((command, reply)).map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port is free");
    }

    #[tokio::test]
    async fn a_dropped_server_takes_its_process_group_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // The shell starts a grandchild, like a postmaster starts backends.
        let mut server = ServerProcess::spawn(
            Path::new("/bin/sh"),
            &[
                OsStr::new("-c"),
                OsStr::new("sleep 60 & echo $! > child.pid; echo started; wait"),
            ],
            None,
            dir.path(),
            &log,
            "sh".into(),
        )
        .unwrap();
        let pid_file = dir.path().join("child.pid");
        let grandchild = crate::eventually(crate::TIMEOUT, "the grandchild's pid", || {
            let pid_file = pid_file.clone();
            async move {
                let text = std::fs::read_to_string(pid_file).ok()?;
                text.trim().parse::<i32>().ok()
            }
        })
        .await;
        server.check_running().unwrap();
        drop(server);
        let alive = |pid: i32| signal::kill(Pid::from_raw(pid), None).is_ok();
        crate::eventually(crate::TIMEOUT, "the grandchild to be killed", || async {
            // Killed but not yet reaped by init shows as a zombie: alive to kill(0) briefly.
            !alive(grandchild)
                || std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                    .is_ok_and(|s| s.contains(") Z "))
        })
        .await;
        assert!(LogExcerpt::read(&log).tail.contains("started"));
    }

    #[tokio::test]
    async fn an_early_exit_is_reported_with_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut server = ServerProcess::spawn(
            Path::new("/bin/sh"),
            &[
                OsStr::new("-c"),
                OsStr::new("echo 'bad config' >&2; exit 3"),
            ],
            None,
            dir.path(),
            &log,
            "sh".into(),
        )
        .unwrap();
        let error = crate::eventually(crate::TIMEOUT, "the exit to be seen", || {
            let error = server.check_running().err();
            async move { error }
        })
        .await;
        match error {
            ServiceError::Exited { status, log, .. } => {
                assert_eq!(status.code(), Some(3));
                assert!(log.tail.contains("bad config"), "{log}");
            }
            other => panic!("expected Exited, got {other}"),
        }
    }
}
