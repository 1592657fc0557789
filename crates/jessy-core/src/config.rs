//! The service's configuration: one clap struct, each field a flag and a `JESSY_*` variable.
//!
//! Flags win over variables, variables over defaults. The defaults are chosen for a container
//! that has the machine to itself; tests override them per process (`--addr 127.0.0.1:0`, a temp
//! `--registry`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};
use jessy_http::{ConnectionLimits, LogFormat, Secret};

/// Everything `jessy-core` can be told at start.
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
#[command(
    name = "jessy-core",
    version,
    about = "Jessy's routing engine over HTTP"
)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port; the bound address is printed on stdout
    /// as `jessy-core listening on http://ADDR`. Loopback by default: jessy-core is the
    /// internal engine port, meant for jessy-api and operators on the same host or private
    /// network; the public port is jessy-api's. Set `0.0.0.0:8080` only on a private network
    /// (what the container images do, where the gateway reaches it by service name).
    #[arg(long, env = "JESSY_CORE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// File holding the admin token (its first line, surrounding whitespace ignored) that
    /// layer writes (`PUT`/`DELETE /v1/dimensions/{id}/layers/{layer}`) must present as
    /// `Authorization: Bearer <token>`. jessy-api presents it for keys with the `write` scope.
    #[arg(long, env = "JESSY_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// The admin token itself, for environments that inject secrets as variables; prefer
    /// `--admin-token-file` on a shared machine (a flag is visible in the process list).
    /// Giving both is an error.
    #[arg(long, env = "JESSY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Accept layer writes without a token when none is configured. Without a token and
    /// without this flag, writes are refused with 403 `writes_disabled`: anyone who can reach
    /// the port could otherwise rewrite text that ends up in LLM prompts.
    #[arg(long, env = "JESSY_ALLOW_UNAUTHENTICATED_WRITES")]
    pub allow_unauthenticated_writes: bool,

    /// Cluster mode: the PostgreSQL URL of the cluster's registry of record
    /// (`postgres://user@host/db`). The core seeds an empty cluster from its registry
    /// directory once, or follows the cluster's current generation; layer writes go through
    /// the database. The registry directory becomes this core's local cache. See
    /// docs/operations.md, "Cluster mode".
    #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
    pub cluster_url: Option<jessy_cluster::ServiceUrl>,

    /// Cluster mode: seconds between polls of the cluster's current generation. Notifications
    /// usually arrive first; the poll catches one lost while the connection was down.
    #[arg(long, env = "JESSY_CLUSTER_POLL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cluster_poll_secs: u64,

    /// Snapshot directory to serve. Created and filled with the embedded default registry when
    /// it is missing or holds no snapshot; a corrupt snapshot is an error, never replaced; a
    /// lost `CURRENT` manifest is recovered from the newest complete generation (logged as an
    /// error). One core per directory: a directory another core owns is refused. When absent:
    /// `$JESSY_DATA_DIR/registry`, else `$XDG_DATA_HOME/jessy/registry`, else
    /// `$HOME/.local/share/jessy/registry` (see [`Config::registry_dir`]).
    #[arg(long, env = "JESSY_REGISTRY")]
    pub registry: Option<PathBuf>,

    /// Log filter in `tracing-subscriber` EnvFilter syntax, e.g. `info` or
    /// `jessy_core=debug,tower=warn`.
    #[arg(long = "log", env = "JESSY_LOG", default_value = "info")]
    pub log: String,

    /// Log line format on stderr (stdout carries only the listening line).
    #[arg(long, env = "JESSY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Largest request body accepted, in bytes (413 `payload_too_large` beyond). A query is at
    /// most 10,000 bytes and a layer a few KiB, so 64 KiB leaves room without letting one
    /// client make the server buffer megabytes.
    #[arg(long, env = "JESSY_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Time a read request may take once its body has arrived, in milliseconds (503 `timeout`
    /// beyond). Queries take microseconds, so this only trips on a starved machine; a client
    /// too slow to send its body meets `--body-read-timeout-ms` instead. Layer writes are
    /// exempt: a retrain cannot be cancelled halfway, and answering "timeout" for a write that
    /// then lands would mislead the client.
    #[arg(long, env = "JESSY_REQUEST_TIMEOUT_MS", default_value_t = 5_000)]
    pub request_timeout_ms: u64,

    /// Time a client has to send its whole request body once the head has arrived, in
    /// milliseconds (408 `request_timeout` beyond). A body is at most `--max-body-bytes`, so
    /// the default only trips on a client that stalls or trickles.
    #[arg(long, env = "JESSY_BODY_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_read_timeout_ms: u64,

    /// Time a connection has to send a complete request head, in milliseconds, counted from
    /// accepting it or from the previous response (so it also closes idle keep-alive
    /// connections). A connection that misses it is closed without an answer, so clients that
    /// open connections and send nothing cannot pile up.
    #[arg(long, env = "JESSY_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_read_timeout_ms: u64,

    /// Client connections open at once. Beyond it the service stops accepting: new connections
    /// wait in the kernel's listen backlog and are served as others close. The default stays
    /// under the common 1024-descriptor limit; raise both together.
    #[arg(long, env = "JESSY_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,

    /// Requests processed at once; one more is answered 503 `overloaded` at once instead of
    /// queueing, so overload shows up as fast errors a client can retry elsewhere, not as
    /// unbounded latency.
    #[arg(long, env = "JESSY_MAX_CONCURRENCY", default_value_t = 1024)]
    pub max_concurrency: usize,

    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT before the remaining
    /// connections are dropped.
    #[arg(long, env = "JESSY_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Learn automatically once this many feedback items have arrived since the last learning
    /// run (off when absent). See `POST /v1/learn` for what a run does.
    #[arg(long, env = "JESSY_LEARN_AFTER")]
    pub learn_after: Option<usize>,

    /// Learn automatically every this many seconds when feedback arrived since the last run
    /// (off when absent).
    #[arg(long, env = "JESSY_LEARN_INTERVAL")]
    pub learn_interval: Option<u64>,
    /// Sentence-encoder model directory (config.json, model.safetensors, tokenizer.json) for
    /// the semantic cascade of a snapshot built with `jessy build --encoder`: queries the
    /// lexical path is unsure of are decided with it. Loaded at start, never downloaded.
    #[arg(long, env = "JESSY_ENCODER")]
    pub encoder: Option<PathBuf>,

    /// Blocking workers that run the encoder at once (0: one per core). Escalated queries wait
    /// for a worker; the fast path never does, since it runs on the request's own task.
    #[arg(long, env = "JESSY_ENCODER_WORKERS", default_value_t = 0)]
    pub encoder_workers: usize,
}

impl Config {
    /// Encoder workers to run: `--encoder-workers`, or one per core when 0.
    pub fn encoder_worker_count(&self) -> usize {
        match self.encoder_workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }
}

impl Default for Config {
    /// The documented defaults, without reading flags or the environment (for tests and
    /// embedders such as `jessy serve`).
    fn default() -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_token_file: None,
            admin_token: None,
            allow_unauthenticated_writes: false,
            cluster_url: None,
            cluster_poll_secs: 5,
            registry: None,
            log: "info".to_string(),
            log_format: LogFormat::Text,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 5_000,
            body_read_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            max_connections: 512,
            max_concurrency: 1024,
            shutdown_grace_secs: 10,
            learn_after: None,
            learn_interval: None,
            encoder: None,
            encoder_workers: 0,
        }
    }
}

impl Config {
    /// [`Config::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// [`Config::body_read_timeout_ms`] as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }

    /// The connection cap and header read timeout the listener is served with.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
        }
    }

    /// [`Config::shutdown_grace_secs`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Checks the values clap cannot: limits of zero would make every request fail.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_concurrency == 0 {
            bail!("--max-concurrency (JESSY_MAX_CONCURRENCY) must be at least 1");
        }
        if self.max_body_bytes == 0 {
            bail!("--max-body-bytes (JESSY_MAX_BODY_BYTES) must be at least 1");
        }
        if self.request_timeout_ms == 0 {
            bail!("--request-timeout-ms (JESSY_REQUEST_TIMEOUT_MS) must be at least 1");
        }
        if self.body_read_timeout_ms == 0 {
            bail!("--body-read-timeout-ms (JESSY_BODY_READ_TIMEOUT_MS) must be at least 1");
        }
        if self.header_read_timeout_ms == 0 {
            bail!("--header-read-timeout-ms (JESSY_HEADER_READ_TIMEOUT_MS) must be at least 1");
        }
        if self.max_connections == 0 {
            bail!("--max-connections (JESSY_MAX_CONNECTIONS) must be at least 1");
        }
        self.write_token()?;
        Ok(())
    }

    /// The token layer writes must present: `--admin-token`, or the first line of
    /// `--admin-token-file`; `None` when neither is given. Errors when both are given, or the
    /// file cannot be read or holds no token.
    pub fn write_token(&self) -> anyhow::Result<Option<Secret>> {
        match (&self.admin_token, &self.admin_token_file) {
            (Some(_), Some(_)) => bail!(
                "give the admin token either with --admin-token-file (JESSY_ADMIN_TOKEN_FILE) or with --admin-token (JESSY_ADMIN_TOKEN), not both"
            ),
            (Some(token), None) => Ok(Some(token.clone())),
            (None, Some(path)) => Ok(Some(Secret::read(path)?)),
            (None, None) => Ok(None),
        }
    }

    /// The snapshot directory: `--registry`/`JESSY_REGISTRY` if given, else the first of
    /// `$JESSY_DATA_DIR/registry`, `$XDG_DATA_HOME/jessy/registry` and
    /// `$HOME/.local/share/jessy/registry` whose variable is set and non-empty. `JESSY_DATA_DIR`
    /// names the data directory (what the container mounts at `/data`), not the snapshot
    /// directory itself, so the snapshot can sit beside other data.
    pub fn registry_dir(&self) -> anyhow::Result<PathBuf> {
        resolve_registry_dir(self.registry.as_deref(), |name| std::env::var_os(name))
    }
}

/// [`Config::registry_dir`] with the environment passed in, so tests need not mutate the
/// process environment.
fn resolve_registry_dir(
    explicit: Option<&Path>,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(data) = var("JESSY_DATA_DIR") {
        return Ok(data.join("registry"));
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        return Ok(xdg.join("jessy").join("registry"));
    }
    let home = var("HOME").context(
        "no snapshot directory: pass --registry or set JESSY_REGISTRY, JESSY_DATA_DIR, XDG_DATA_HOME or HOME",
    )?;
    Ok(home
        .join(".local")
        .join("share")
        .join("jessy")
        .join("registry"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::ffi::OsString;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn registry_dir_prefers_flag_then_data_dir_then_xdg_then_home() {
        let all = [
            ("JESSY_DATA_DIR", "/data"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        let flag = resolve_registry_dir(Some(Path::new("/flag")), env_of(&all)).unwrap();
        assert_eq!(flag, PathBuf::from("/flag"));
        assert_eq!(
            resolve_registry_dir(None, env_of(&all)).unwrap(),
            PathBuf::from("/data/registry")
        );
        assert_eq!(
            resolve_registry_dir(None, env_of(&all[1..])).unwrap(),
            PathBuf::from("/xdg/jessy/registry")
        );
        assert_eq!(
            resolve_registry_dir(None, env_of(&[("XDG_DATA_HOME", ""), ("HOME", "/home/u")]))
                .unwrap(),
            PathBuf::from("/home/u/.local/share/jessy/registry")
        );
        let err = resolve_registry_dir(None, env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("--registry"), "{err}");
    }

    #[test]
    fn flags_parse_and_override_defaults() {
        let config = Config::try_parse_from([
            "jessy-core",
            "--addr",
            "127.0.0.1:0",
            "--registry",
            "/tmp/r",
            "--log",
            "debug",
            "--log-format",
            "json",
            "--max-body-bytes",
            "10",
            "--request-timeout-ms",
            "20",
            "--max-concurrency",
            "3",
            "--shutdown-grace-secs",
            "4",
            "--body-read-timeout-ms",
            "30",
            "--header-read-timeout-ms",
            "40",
            "--max-connections",
            "5",
        ])
        .unwrap();
        assert_eq!(config.addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.registry, Some(PathBuf::from("/tmp/r")));
        assert_eq!(config.log, "debug");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.max_body_bytes, 10);
        assert_eq!(config.request_timeout(), Duration::from_millis(20));
        assert_eq!(config.max_concurrency, 3);
        assert_eq!(config.shutdown_grace(), Duration::from_secs(4));
        assert_eq!(config.body_read_timeout(), Duration::from_millis(30));
        assert_eq!(
            config.connection_limits(),
            ConnectionLimits {
                max_connections: 5,
                header_read_timeout: Duration::from_millis(40),
            }
        );
    }

    #[test]
    fn clap_defaults_match_default_impl() {
        // Every flag given its clap default explicitly (flags win over any JESSY_* variable set
        // in the test environment) must give exactly `Config::default()`.
        use clap::CommandFactory;
        let mut argv = vec![OsString::from("jessy-core")];
        for arg in Config::command().get_arguments() {
            if !arg.get_action().takes_values() {
                continue; // boolean switches: absent is their default
            }
            if let (Some(long), [default]) = (arg.get_long(), arg.get_default_values()) {
                argv.push(OsString::from(format!("--{long}")));
                argv.push(default.to_os_string());
            }
        }
        assert_eq!(Config::try_parse_from(argv).unwrap(), Config::default());
    }

    #[test]
    fn admin_token_from_flag_or_file_never_both_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "  file-token-0123456789  \nignored\n").unwrap();
        let from_file = Config {
            admin_token_file: Some(file.clone()),
            ..Config::default()
        };
        let token = from_file.write_token().unwrap().unwrap();
        assert!(token.matches("file-token-0123456789"));
        assert!(!token.matches("file-token-012345678"));
        assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
        assert!(!format!("{from_file:?}").contains("file-token"));
        let both = Config {
            admin_token: Some(Secret::new("flag-token-0123456789").unwrap()),
            ..from_file
        };
        assert!(both.validate().is_err());
        assert!(Secret::new("short").is_err());
        assert!(Secret::new("has a space in the token").is_err());
        let missing = Config {
            admin_token_file: Some(dir.path().join("absent")),
            ..Config::default()
        };
        assert!(missing
            .validate()
            .unwrap_err()
            .to_string()
            .contains("absent"));
        assert_eq!(Config::default().write_token().unwrap(), None);
        assert!(Config::default().addr.ip().is_loopback());
    }

    #[test]
    fn zero_limits_are_rejected() {
        for broken in [
            Config {
                max_concurrency: 0,
                ..Config::default()
            },
            Config {
                max_body_bytes: 0,
                ..Config::default()
            },
            Config {
                request_timeout_ms: 0,
                ..Config::default()
            },
            Config {
                body_read_timeout_ms: 0,
                ..Config::default()
            },
            Config {
                header_read_timeout_ms: 0,
                ..Config::default()
            },
            Config {
                max_connections: 0,
                ..Config::default()
            },
        ] {
            assert!(broken.validate().is_err(), "{broken:?}");
        }
        Config::default().validate().unwrap();
    }
}
