//! What the gateway is told at startup: flags and `JESSY_*` environment variables.
//!
//! One clap derive ([`Config`]) holds every setting with `long` and `env` on each field, so
//! `--flag` and the variable are always interchangeable and `--help` is the reference. The
//! binary wraps it in [`Cli`] to add the `keygen` subcommand; embedders (the `jessy serve`
//! command) build a [`Config`] directly, starting from [`Config::default`].

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{Parser, Subcommand};
pub use jessy_http::{LogFormat, Secret};
use reqwest::Url;

use crate::auth::Scopes;

/// Command line of the `jessy-api` binary: either serve (no subcommand) or manage keys.
#[derive(Debug, Parser)]
#[command(
    name = "jessy-api",
    version,
    about = "Public HTTP gateway for jessy-core"
)]
pub struct Cli {
    /// A one-off administrative action instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings used when serving.
    #[command(flatten)]
    pub config: Config,
}

/// Administrative subcommands of the binary.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Create a random API key, append its SHA-256 to the keys file and print the key once.
    ///
    /// Only the digest is stored, so a leaked keys file does not leak usable keys; the printed
    /// key cannot be recovered later and must be saved by the operator.
    Keygen {
        /// Name of the client the key is for; it labels metrics and the rate-limit bucket.
        name: String,
        /// Keys file to append to (created with mode 0600 if absent).
        #[arg(
            long = "keys",
            env = "JESSY_API_KEYS_FILE",
            required_unless_present = "cluster",
            conflicts_with = "cluster"
        )]
        keys: Option<PathBuf>,
        /// Cluster mode: store the key in the cluster's PostgreSQL instead of a file; it works
        /// on every gateway of the cluster at once.
        #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
        cluster: Option<String>,
        /// What the key may do, comma-separated: `query` (queries, stream, dimensions),
        /// `write` (layer writes), `admin` (health details, status).
        #[arg(long, default_value = "query")]
        scopes: Scopes,
    },
    /// Cluster mode: revoke every key named NAME in the cluster; every gateway stops
    /// accepting them within a second (notified) or a poll interval at worst.
    Revoke {
        /// Name of the keys to revoke.
        name: String,
        /// The cluster's PostgreSQL URL.
        #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
        cluster: String,
    },
    /// Write a random admin token to FILE (mode 0600) unless FILE already holds one: the
    /// shared secret for jessy-core's `--admin-token-file` and this gateway's
    /// `--core-admin-token-file`. Prints nothing secret.
    AdminToken {
        /// File to create.
        file: PathBuf,
    },
}

/// Everything the gateway needs to serve. Every field has a flag and a `JESSY_*` variable.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "jessy-api")]
pub struct Config {
    /// Address to listen on: the public port. Port 0 picks a free port; the real one is
    /// printed at startup.
    #[arg(long, env = "JESSY_API_ADDR", default_value = "0.0.0.0:3000")]
    pub addr: SocketAddr,

    /// Address of the Prometheus `/metrics` listener, kept off the public port (metrics name
    /// API keys and count each client's requests). Loopback by default; `off` serves no
    /// metrics. Port 0 picks a free port (logged at startup).
    #[arg(
        long,
        env = "JESSY_API_METRICS_ADDR",
        default_value = "127.0.0.1:9091",
        value_parser = parse_optional_addr
    )]
    pub metrics_addr: MaybeAddr,

    /// File holding jessy-core's admin token (first line), presented to the cores when the
    /// gateway forwards a layer write for a key with the `write` scope. Without it, writes are
    /// forwarded without a token and the cores refuse them unless they allow unauthenticated
    /// writes.
    #[arg(long, env = "JESSY_CORE_ADMIN_TOKEN_FILE")]
    pub core_admin_token_file: Option<PathBuf>,

    /// The core admin token itself (prefer the file on a shared machine: flags are visible in
    /// the process list). Giving both is an error.
    #[arg(long, env = "JESSY_CORE_ADMIN_TOKEN", hide_env_values = true)]
    pub core_admin_token: Option<Secret>,

    /// Failed authentication attempts a client address may make per window; past it, the
    /// address gets 429 with `Retry-After`, without its keys being checked, until the window
    /// ends. Ten is far more than a client with a typo needs, and far too few to guess a key.
    #[arg(long, env = "JESSY_AUTH_FAILURE_LIMIT", default_value = "10")]
    pub auth_failure_limit: NonZeroU32,

    /// Length of the failed-authentication window in seconds (decimals allowed), counted from
    /// an address's first failure.
    #[arg(
        long = "auth-failure-window-secs",
        env = "JESSY_AUTH_FAILURE_WINDOW_SECS",
        default_value = "60",
        value_parser = parse_seconds
    )]
    pub auth_failure_window: Duration,

    /// Base URL of a jessy-core instance (repeatable; the variable is comma-separated).
    /// Only `http` is accepted: the gateway and its cores share a private network, and TLS is
    /// terminated in front of the gateway.
    #[arg(
        long = "core",
        env = "JESSY_CORE_URLS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080",
        value_parser = parse_core_url
    )]
    pub core_urls: Vec<Url>,

    /// File of `name:sha256-hex` lines, one per API key. Without it every `/api/v1` request is
    /// refused with 401: a gateway that forgot its keys must fail closed, not open.
    #[arg(long = "keys", env = "JESSY_API_KEYS_FILE")]
    pub keys_file: Option<PathBuf>,

    /// Sustained requests per second allowed per key name.
    #[arg(long, env = "JESSY_RATE_LIMIT", default_value = "50")]
    pub rate_limit: NonZeroU32,

    /// Cluster mode: the PostgreSQL URL of the cluster. API keys are read from it (and
    /// reloaded when they change) instead of a keys file.
    #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
    pub cluster_url: Option<jessy_cluster::ServiceUrl>,

    /// Redis URL for rate limits shared by every gateway (`redis://host:6379`). Without it
    /// each gateway limits on its own, so N gateways allow N times the rate.
    #[arg(long = "redis", env = "JESSY_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<jessy_cluster::ServiceUrl>,

    /// What to do when Redis cannot be reached: `closed` refuses `/api/v1` requests with 503
    /// `not_ready` (no request escapes its limit; the default), `open` admits them with no
    /// limit at all. Either way `/api/health` says so.
    #[arg(
        long,
        env = "JESSY_REDIS_FAILURE_POLICY",
        value_enum,
        default_value = "closed"
    )]
    pub redis_failure_policy: crate::rate_limit_redis::FailurePolicy,

    /// Prefix of the Redis keys holding rate-limit state (one namespace per cluster).
    #[arg(long, env = "JESSY_REDIS_PREFIX", default_value = "jessy:ratelimit:")]
    pub redis_prefix: String,

    /// Requests a key may make at once before the sustained rate applies (bucket size).
    /// Twice the rate by default so a client that was idle can send a short burst.
    #[arg(long, env = "JESSY_BURST", default_value = "100")]
    pub burst: NonZeroU32,

    /// Origin allowed to call the API from a browser (repeatable; the variable is
    /// comma-separated). None means no CORS headers at all, so browsers block cross-origin
    /// calls: closed unless an operator opens it.
    #[arg(
        long = "cors-origin",
        env = "JESSY_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub cors_origins: Vec<HeaderValue>,

    /// Seconds between active health checks of each core (decimals allowed, e.g. `0.2` in
    /// tests). A core is marked down after 3 consecutive failures and up after one success.
    #[arg(
        long = "health-interval-secs",
        env = "JESSY_HEALTH_INTERVAL_SECS",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub health_interval: Duration,

    /// Seconds a core has to answer one request before the gateway gives up (504). A query
    /// takes microseconds, so the default only trips on a stuck or overloaded core.
    #[arg(
        long = "upstream-timeout-secs",
        env = "JESSY_UPSTREAM_TIMEOUT_SECS",
        default_value = "5",
        value_parser = parse_seconds
    )]
    pub upstream_timeout: Duration,

    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT before closing anyway,
    /// so a stuck client cannot hold a deployment hostage.
    #[arg(
        long = "shutdown-grace-secs",
        env = "JESSY_SHUTDOWN_GRACE_SECS",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub shutdown_grace: Duration,

    /// Seconds a client has to send its whole request body once the head has arrived
    /// (decimals allowed); beyond it the request is answered 408 `request_timeout` and the
    /// connection closed. Bodies are at most 64 KiB, so the default only trips on a client
    /// that stalls or trickles.
    #[arg(
        long = "body-read-timeout-secs",
        env = "JESSY_BODY_READ_TIMEOUT_SECS",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub body_read_timeout: Duration,

    /// Seconds a connection has to send a complete request head (decimals allowed), counted
    /// from accepting it or from the previous response, so it also closes idle keep-alive
    /// connections. A connection that misses it is closed without an answer, so clients that
    /// open connections and send nothing cannot exhaust the gateway's descriptors.
    #[arg(
        long = "header-read-timeout-secs",
        env = "JESSY_HEADER_READ_TIMEOUT_SECS",
        default_value = "10",
        value_parser = parse_seconds
    )]
    pub header_read_timeout: Duration,

    /// Client connections open at once (a WebSocket session counts as one). Beyond it the
    /// gateway stops accepting: new connections wait in the kernel's listen backlog and are
    /// served as others close. The default stays under the common 1024-descriptor limit with
    /// room for one upstream connection per request in flight; raise both together.
    #[arg(long, env = "JESSY_MAX_CONNECTIONS", default_value = "512")]
    pub max_connections: NonZeroUsize,

    /// Log line format on stderr (stdout carries only the "listening" line).
    #[arg(long, env = "JESSY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `jessy_api=debug,warn`.
    #[arg(long = "log", env = "JESSY_LOG", default_value = "info")]
    pub log_filter: String,
}

impl Default for Config {
    /// The same values as the flag defaults, without reading the environment, so an embedder
    /// gets a predictable starting point and overrides only what it needs.
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 3000)),
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9091))),
            core_admin_token_file: None,
            core_admin_token: None,
            auth_failure_limit: NonZeroU32::new(10).expect("non-zero"),
            auth_failure_window: Duration::from_secs(60),
            core_urls: vec![parse_core_url("http://127.0.0.1:8080").expect("valid default URL")],
            keys_file: None,
            rate_limit: NonZeroU32::new(50).expect("non-zero"),
            burst: NonZeroU32::new(100).expect("non-zero"),
            cluster_url: None,
            redis_url: None,
            redis_failure_policy: crate::rate_limit_redis::FailurePolicy::Closed,
            redis_prefix: "jessy:ratelimit:".to_owned(),
            cors_origins: Vec::new(),
            health_interval: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            body_read_timeout: jessy_http::body::DEFAULT_BODY_READ_TIMEOUT,
            header_read_timeout: jessy_http::listener::DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: NonZeroUsize::new(jessy_http::listener::DEFAULT_MAX_CONNECTIONS)
                .expect("non-zero"),
            log_format: LogFormat::Text,
            log_filter: "info".to_owned(),
        }
    }
}

impl Config {
    /// The connection cap and header read timeout the listener is served with.
    pub fn connection_limits(&self) -> jessy_http::ConnectionLimits {
        jessy_http::ConnectionLimits {
            max_connections: self.max_connections.get(),
            header_read_timeout: self.header_read_timeout,
        }
    }
}

/// Parses and checks one core base URL: absolute, `http`, with a host, no query or fragment.
/// Rejecting at startup gives a clear error instead of every request failing later.
pub fn parse_core_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("invalid core URL {raw:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "core URL {raw:?} must use http:// (TLS is terminated in front of the gateway)"
        ));
    }
    if url.host_str().unwrap_or("").is_empty() {
        return Err(format!("core URL {raw:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "core URL {raw:?} must not have a query or fragment"
        ));
    }
    Ok(url)
}

impl Config {
    /// The admin token to present to cores on layer writes: `--core-admin-token`, or the first
    /// line of `--core-admin-token-file`; `None` when neither is given. Errors when both are
    /// given or the file cannot be read.
    pub fn core_token(&self) -> anyhow::Result<Option<Secret>> {
        match (&self.core_admin_token, &self.core_admin_token_file) {
            (Some(_), Some(_)) => anyhow::bail!(
                "give the core admin token either with --core-admin-token-file or with --core-admin-token, not both"
            ),
            (Some(token), None) => Ok(Some(token.clone())),
            (None, Some(path)) => Ok(Some(Secret::read(path)?)),
            (None, None) => Ok(None),
        }
    }
}

/// A listen address or none (`off`). An alias rather than `Option<SocketAddr>` written out,
/// so clap takes `off` as a value of the flag instead of treating the flag as optional.
pub type MaybeAddr = Option<SocketAddr>;

/// Parses a socket address, or `off`/`none` for "no listener".
fn parse_optional_addr(raw: &str) -> Result<Option<SocketAddr>, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") || raw.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|e| format!("invalid address {raw:?} (or `off`): {e}"))
}

/// Parses a CORS origin such as `https://app.example.com` into a header value.
fn parse_origin(raw: &str) -> Result<HeaderValue, String> {
    let trimmed = raw.trim();
    let url = Url::parse(trimmed).map_err(|e| format!("invalid CORS origin {raw:?}: {e}"))?;
    if url.host_str().is_none() || !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "CORS origin {raw:?} must be an http(s) origin like https://app.example.com"
        ));
    }
    HeaderValue::from_str(trimmed.trim_end_matches('/'))
        .map_err(|e| format!("invalid CORS origin {raw:?}: {e}"))
}

/// Parses decimal seconds (`10`, `0.25`) into a positive duration.
fn parse_seconds(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a number of seconds"))?;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 86_400.0 {
        return Err(format!("{raw:?} must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_jessy_env() -> bool {
        std::env::vars().all(|(k, _)| !k.starts_with("JESSY_"))
    }

    #[test]
    fn flag_defaults_match_default_impl() {
        if !no_jessy_env() {
            return; // the environment would override flag defaults; nothing to compare
        }
        let parsed = Config::try_parse_from(["jessy-api"]).expect("parse");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn cores_are_repeatable_and_comma_separated() {
        let parsed = Config::try_parse_from([
            "jessy-api",
            "--core",
            "http://a:1",
            "--core",
            "http://b:2/prefix,http://c:3",
        ])
        .expect("parse");
        let urls: Vec<String> = parsed.core_urls.iter().map(Url::to_string).collect();
        assert_eq!(urls, ["http://a:1/", "http://b:2/prefix", "http://c:3/"]);
    }

    #[test]
    fn bad_core_urls_are_rejected() {
        for bad in ["https://a:1", "not a url", "http://a/?x=1", "file:///tmp"] {
            assert!(parse_core_url(bad).is_err(), "{bad} accepted");
        }
        assert!(Config::try_parse_from(["jessy-api", "--core", "ftp://x"]).is_err());
    }

    #[test]
    fn fractional_intervals_and_limits_parse() {
        let parsed = Config::try_parse_from([
            "jessy-api",
            "--health-interval-secs",
            "0.2",
            "--rate-limit",
            "3",
            "--burst",
            "4",
            "--cors-origin",
            "https://app.example.com/",
            "--addr",
            "127.0.0.1:0",
            "--body-read-timeout-secs",
            "0.3",
            "--header-read-timeout-secs",
            "0.4",
            "--max-connections",
            "5",
        ])
        .expect("parse");
        assert_eq!(parsed.body_read_timeout, Duration::from_millis(300));
        assert_eq!(
            parsed.connection_limits(),
            jessy_http::ConnectionLimits {
                max_connections: 5,
                header_read_timeout: Duration::from_millis(400),
            }
        );
        assert!(Config::try_parse_from(["jessy-api", "--max-connections", "0"]).is_err());
        assert_eq!(parsed.health_interval, Duration::from_millis(200));
        assert_eq!(parsed.rate_limit.get(), 3);
        assert_eq!(parsed.burst.get(), 4);
        assert_eq!(parsed.cors_origins, ["https://app.example.com"]);
        assert!(Config::try_parse_from(["jessy-api", "--rate-limit", "0"]).is_err());
        assert!(Config::try_parse_from(["jessy-api", "--health-interval-secs", "-1"]).is_err());
        assert!(Config::try_parse_from(["jessy-api", "--cors-origin", "*"]).is_err());
    }

    #[test]
    fn metrics_listener_is_loopback_by_default_and_can_be_turned_off() {
        let defaults = Config::default();
        assert!(defaults
            .metrics_addr
            .expect("on by default")
            .ip()
            .is_loopback());
        let off = Config::try_parse_from(["jessy-api", "--metrics-addr", "off"]).expect("parse");
        assert_eq!(off.metrics_addr, None);
        let port =
            Config::try_parse_from(["jessy-api", "--metrics-addr", "127.0.0.1:0"]).expect("parse");
        assert_eq!(
            port.metrics_addr,
            Some("127.0.0.1:0".parse().expect("addr"))
        );
        assert!(Config::try_parse_from(["jessy-api", "--metrics-addr", "nowhere"]).is_err());
    }

    #[test]
    fn core_token_from_flag_or_file_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("t");
        std::fs::write(&file, "core-token-from-file-123\n").expect("write");
        let config = Config {
            core_admin_token_file: Some(file),
            ..Config::default()
        };
        let token = config.core_token().expect("read").expect("some");
        assert_eq!(token.expose(), "core-token-from-file-123");
        assert!(!format!("{config:?} {token:?}").contains("core-token-from-file"));
        let both = Config {
            core_admin_token: Some(Secret::new("another-token-0123456").expect("token")),
            ..config
        };
        assert!(both.core_token().is_err());
        assert!(Secret::new("short").is_err());
    }

    #[test]
    fn keygen_subcommand_parses() {
        let cli = Cli::try_parse_from(["jessy-api", "keygen", "alice", "--keys", "/tmp/k"])
            .expect("parse");
        assert_eq!(
            cli.command,
            Some(Command::Keygen {
                name: "alice".into(),
                keys: Some(PathBuf::from("/tmp/k")),
                cluster: None,
                scopes: Scopes::DEFAULT,
            })
        );
        let cli = Cli::try_parse_from([
            "jessy-api",
            "keygen",
            "ops",
            "--keys",
            "/tmp/k",
            "--scopes",
            "query,admin",
        ])
        .expect("parse");
        assert!(matches!(
            cli.command,
            Some(Command::Keygen { scopes, .. }) if scopes.to_string() == "query,admin"
        ));
        assert!(Cli::try_parse_from([
            "jessy-api",
            "keygen",
            "x",
            "--keys",
            "k",
            "--scopes",
            "root"
        ])
        .is_err());
        let serve = Cli::try_parse_from(["jessy-api", "--addr", "127.0.0.1:0"]).expect("parse");
        assert_eq!(serve.command, None);
        // Cluster keys: --cluster instead of --keys, never both, and one of them is needed.
        let cli = Cli::try_parse_from(["jessy-api", "keygen", "c", "--cluster", "postgres://h/db"])
            .expect("parse");
        assert!(matches!(
            cli.command,
            Some(Command::Keygen { keys: None, cluster: Some(url), .. }) if url == "postgres://h/db"
        ));
        assert!(Cli::try_parse_from([
            "jessy-api",
            "keygen",
            "c",
            "--cluster",
            "postgres://h/db",
            "--keys",
            "k"
        ])
        .is_err());
        if std::env::var_os("JESSY_API_KEYS_FILE").is_none()
            && std::env::var_os("JESSY_CLUSTER_URL").is_none()
        {
            assert!(Cli::try_parse_from(["jessy-api", "keygen", "c"]).is_err());
        }
    }
}
