//! jessy-api: the public HTTP gateway in front of one or more jessy-core instances.
//!
//! The core answers queries in microseconds and trusts its callers; this crate is what makes
//! it safe to expose. A request passes, in order:
//!
//! 1. [`telemetry`] — gets an `x-request-id`, a tracing span and metrics;
//! 2. [`auth`] — needs `Authorization: Bearer <key>` whose SHA-256 is in the keys file (a
//!    client address with too many failed attempts gets 429 until its window ends), and the
//!    key scope the route needs (`query`, `write`, `admin`);
//! 3. `rate_limit` — takes a token from its key name's bucket;
//! 4. [`validation`] — body size, UTF-8, JSON shape and value ranges;
//! 5. [`upstream`] — is sent to the least-loaded healthy core, retried once on another core
//!    when that one failed, and the answer is relayed.
//!
//! `routes` lists every endpoint (the WebSocket variant of the query route included);
//! `error` is the one JSON error shape; `console` is the web console at `/console`. Library
//! entry points:
//!
//! - [`app`] builds the public router from an [`AppState`] (no socket needed, for tests), and
//!   [`metrics_app`] the `/metrics` router for the separate metrics listener;
//! - [`serve`] runs it on a bound listener until a shutdown token is cancelled (and the metrics
//!   listener of the configuration); [`serve_with_state`] and [`serve_metrics`] run each one
//!   on a listener the caller bound;
//! - [`generate_key`] creates a key (used by `jessy-api keygen` and `jessy serve`).
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = jessy_api::Config {
//!     core_urls: vec![jessy_api::config::parse_core_url("http://127.0.0.1:8080").map_err(anyhow::Error::msg)?],
//!     ..jessy_api::Config::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! let shutdown = jessy_http::CancellationToken::new();
//! tokio::spawn(jessy_http::shutdown::cancel_on_signal(shutdown.clone()));
//! jessy_api::serve(listener, config, shutdown).await
//! # }
//! ```
//!
//! # Module map
//!
//! Dependencies point one way, from the top of this table to the bottom: a module uses only
//! modules listed below it (and its own submodules), so no two modules import each other.
//! `tests/integration/modules.rs` checks both against the code: every import points down
//! this table, and no import circle comes back.
//!
//! | module | does | may use |
//! | --- | --- | --- |
//! | `server` | runs the router on jessy-http's accept loop until shutdown, with a bounded drain | `routes`, `state`, `config` |
//! | `routes` | every endpoint (`routes::stream` is the WebSocket one) and the layer stack | `state`, `auth`, `rate_limit`, `validation`, `telemetry`, `console`, `upstream`, `heartbeat`, `error`, `caller` |
//! | `console` | the web console's pages and assets | `state`, `error` |
//! | [`telemetry`] | request metrics (request ids, spans and the access log are jessy-http's) | `state`, `error`, `caller` |
//! | [`validation`] | request bodies: read in time, checked by the shared contract | `state`, `error` |
//! | `state` | [`AppState`]: builds every piece below from the [`Config`], holds it, and hands each middleware its piece (`FromRef`) | everything below |
//! | [`cluster_keys`] | cluster mode: keys in PostgreSQL, followed while serving | `auth`, `caller` |
//! | `heartbeat` | cluster mode: this gateway's heartbeat and the gateway list | — |
//! | [`config`] | flags, `JESSY_*` variables and their defaults; the binary's subcommands | `rate_limit_redis` (the policy enum), `secret`, `caller` |
//! | [`auth`] | keys files, the key store, the failed-attempt throttle, scopes, the auth middleware | `error`, `caller` |
//! | `rate_limit` | per-key buckets, the shared limits, the rate-limit middleware | `rate_limit_redis`, `error`, `caller` |
//! | `rate_limit_redis` | cluster mode: limits shared through Redis, and the failure policy | `error`, `caller` |
//! | [`upstream`] | the cores: health, balancing, forwarding | `metrics`, `error` |
//! | `metrics` | the Prometheus registry and what is recorded in it | — |
//! | `error` | [`ApiError`], the one error shape | `caller` |
//! | `caller` | who a request comes from: key name, scopes | — |
//! | [`secret`] | making a core admin token (the type is jessy-http's `Secret`) | — |
//!
//! Modules are public only where another crate uses them (the binary, `jessy serve`, the test
//! kit and the integration tests); the rest are `pub(crate)`.

pub mod auth;
pub(crate) mod caller;
pub mod cluster_keys;
pub mod config;
pub(crate) mod console;
pub(crate) mod error;
pub(crate) mod heartbeat;
pub(crate) mod metrics;
pub(crate) mod rate_limit;
pub(crate) mod rate_limit_redis;
pub(crate) mod routes;
pub mod secret;
mod server;
pub(crate) mod state;
pub mod telemetry;
pub mod upstream;
pub mod validation;

pub use auth::generate_key;
pub use config::{Cli, Command, Config, LogFormat};
pub use error::ApiError;
pub use routes::{app, metrics_app};
pub use server::{serve, serve_metrics, serve_with_state};
pub use state::AppState;
