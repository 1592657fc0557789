//! A Redis server of a test's own: `redis-server` on a free loopback port, without persistence
//! (`--save ''`, `--appendonly no`), its working directory a temporary one.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::server::{find_in_path, free_port, ServerProcess};
use super::{LogExcerpt, ServiceError};

/// Longest wait for `PING` to be answered; Redis without data starts in milliseconds.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Attempts at a fresh port when another process took the chosen one first.
const PORT_ATTEMPTS: usize = 3;

/// A Redis server of one test, killed and its directory removed on drop (see [`super`]).
pub struct TestRedis {
    /// Declared before `dir`: the server dies before its directory is removed.
    process: ServerProcess,
    port: u16,
    dir: tempfile::TempDir,
}

impl TestRedis {
    /// Starts `redis-server` (from `$PATH` or `/usr/bin`) on a free port and waits until it
    /// answers `PING`. Blocks the calling thread for that long (milliseconds). Redis runs
    /// as the current user, root included: unlike PostgreSQL it does not refuse.
    pub fn start() -> Result<TestRedis, ServiceError> {
        let program = find_in_path("redis-server").ok_or(ServiceError::NotFound {
            program: "redis-server",
            looked: "$PATH, /usr/bin".into(),
            hint: "apt-get install redis-server (bash scripts/test does)",
        })?;
        let mut dir = tempfile::Builder::new()
            .prefix("jessy-test-redis-")
            .tempdir_in(super::server::scratch_dir())
            .map_err(ServiceError::io("create a temporary directory"))?;
        let log = dir.path().join("redis.log");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port()?;
            let port_text = port.to_string();
            let dir_path = dir.path().to_path_buf();
            let flags = [
                "--port",
                &port_text,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
            ];
            let args: Vec<&OsStr> = flags
                .iter()
                .map(OsStr::new)
                .chain([dir_path.as_os_str()])
                .collect();
            let what = format!("Redis on 127.0.0.1:{port}");
            let process = ServerProcess::spawn(&program, &args, None, dir.path(), &log, what)?;
            let mut redis = TestRedis { process, port, dir };
            match redis.wait_ready() {
                Ok(()) => return Ok(redis),
                Err(ServiceError::Exited { ref log, .. })
                    if attempt < PORT_ATTEMPTS && log.tail.contains("already in use") =>
                {
                    dir = redis.into_dir();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Gives back the directory of a server that failed to start, to try another port in it.
    fn into_dir(self) -> tempfile::TempDir {
        let TestRedis { process, dir, .. } = self;
        drop(process);
        dir
    }

    /// Sends `PING` until `+PONG` comes back, failing early if the server exits.
    fn wait_ready(&mut self) -> Result<(), ServiceError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        let mut last = String::from("no attempt yet");
        while started.elapsed() < READY_TIMEOUT {
            self.process.check_running()?;
            match ping(addr) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(ServiceError::Timeout {
            what: self.process.what().to_string(),
            goal: "accept connections",
            waited: READY_TIMEOUT,
            last,
            log: LogExcerpt::read(&self.log_path()),
        })
    }
}

/// One `PING` over a fresh connection; `Ok` on `+PONG`.
fn ping(addr: SocketAddr) -> std::io::Result<()> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"PING\r\n")?;
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer)?;
    if &answer == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "answered {:?}",
            String::from_utf8_lossy(&answer)
        )))
    }
}
