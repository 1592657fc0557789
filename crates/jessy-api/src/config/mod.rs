//! What the gateway is told at startup: flags and `JESSY_*` environment variables.
//!
//! One clap derive ([`Config`]) holds every setting with `long` and `env` on each field, so
//! `--flag` and the variable are always interchangeable and `--help` is the reference. Its
//! `default_value`s are the only place a default is written: [`Config::default`] is the
//! same derive parsed from an empty command line with the environment switched off.
//!
//! - this module — [`Config`], its defaults, and what is derived from it (the connection
//!   limits, the core admin token read from its file);
//! - `cli` — the binary's command line ([`Cli`]), which adds the `keygen`, `revoke` and
//!   `admin-token` subcommands;
//! - `parse` — the value parsers ([`parse_core_url`] among them) for URLs, origins, addresses and seconds.

mod cli;
mod parse;

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderValue;
use clap::{CommandFactory, FromArgMatches, Parser};
use reqwest::Url;

pub use cli::{Cli, Command};
pub use parse::parse_core_url;
// The types of `Config`'s fields, nameable from here by embedders that fill them in.
pub use crate::rate_limit_redis::FailurePolicy;
pub use crate::secret::Secret;
pub use jessy_http::LogFormat;

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
        value_parser = parse::parse_optional_addr
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
        value_parser = parse::parse_seconds
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
        value_parser = parse::parse_core_url
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
    pub redis_failure_policy: FailurePolicy,

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
        value_parser = parse::parse_origin
    )]
    pub cors_origins: Vec<HeaderValue>,

    /// Seconds between active health checks of each core (decimals allowed, e.g. `0.2` in
    /// tests). A core is marked down after 3 consecutive failures and up after one success.
    #[arg(
        long = "health-interval-secs",
        env = "JESSY_HEALTH_INTERVAL_SECS",
        default_value = "10",
        value_parser = parse::parse_seconds
    )]
    pub health_interval: Duration,

    /// Seconds a core has to answer one request before the gateway gives up (504). A query
    /// takes microseconds, so the default only trips on a stuck or overloaded core.
    #[arg(
        long = "upstream-timeout-secs",
        env = "JESSY_UPSTREAM_TIMEOUT_SECS",
        default_value = "5",
        value_parser = parse::parse_seconds
    )]
    pub upstream_timeout: Duration,

    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT before closing anyway,
    /// so a stuck client cannot hold a deployment hostage.
    #[arg(
        long = "shutdown-grace-secs",
        env = "JESSY_SHUTDOWN_GRACE_SECS",
        default_value = "10",
        value_parser = parse::parse_seconds
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
        value_parser = parse::parse_seconds
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
        value_parser = parse::parse_seconds
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
    /// The flag defaults, without reading the environment, so an embedder gets a predictable
    /// starting point and overrides only what it needs.
    fn default() -> Self {
        Self::flag_defaults().unwrap_or_else(|error| {
            // Only reachable if a `default_value` above stops parsing, which the tests catch.
            unreachable!("the flag defaults of jessy-api do not parse: {error}")
        })
    }
}

impl Config {
    /// Parses an empty command line with every `env` source removed: the `default_value` of
    /// each flag and nothing else. The one source of the defaults, so a default written on a
    /// flag is the default an embedder gets, and no second copy can drift from it.
    fn flag_defaults() -> Result<Config, clap::Error> {
        let command = Config::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(["jessy-api"])?;
        Config::from_arg_matches(&matches)
    }

    /// The connection cap and header read timeout the listener is served with.
    pub fn connection_limits(&self) -> jessy_http::ConnectionLimits {
        jessy_http::ConnectionLimits {
            max_connections: self.max_connections.get(),
            header_read_timeout: self.header_read_timeout,
        }
    }

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
    fn defaults_are_the_documented_values() {
        let defaults = Config::default();
        assert_eq!(defaults.addr, SocketAddr::from(([0, 0, 0, 0], 3000)));
        assert_eq!(
            defaults.metrics_addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 9091)))
        );
        let cores: Vec<&str> = defaults.core_urls.iter().map(Url::as_str).collect();
        assert_eq!(cores, ["http://127.0.0.1:8080/"]);
        assert_eq!(defaults.keys_file, None);
        assert_eq!(defaults.core_admin_token, None);
        assert_eq!(defaults.auth_failure_limit.get(), 10);
        assert_eq!(defaults.auth_failure_window, Duration::from_secs(60));
        assert_eq!((defaults.rate_limit.get(), defaults.burst.get()), (50, 100));
        assert_eq!(defaults.redis_failure_policy, FailurePolicy::Closed);
        assert_eq!(defaults.redis_prefix, "jessy:ratelimit:");
        assert!(defaults.cors_origins.is_empty());
        assert_eq!(defaults.health_interval, Duration::from_secs(10));
        assert_eq!(defaults.upstream_timeout, Duration::from_secs(5));
        assert_eq!(defaults.shutdown_grace, Duration::from_secs(10));
        assert_eq!(
            (defaults.log_format, defaults.log_filter.as_str()),
            (LogFormat::Text, "info")
        );
        // The listener limits are the shared server defaults jessy-core uses too.
        assert_eq!(
            defaults.body_read_timeout,
            jessy_http::body::DEFAULT_BODY_READ_TIMEOUT
        );
        assert_eq!(
            defaults.connection_limits(),
            jessy_http::ConnectionLimits::default()
        );
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
}
