//! jessy-api: the public HTTP gateway in front of one or more jessy-core instances.
//!
//! The core answers queries in microseconds and trusts its callers; this crate is what makes
//! it safe to expose. A request passes, in order:
//!
//! 1. [`telemetry`] — gets an `x-request-id`, a tracing span and metrics;
//! 2. [`auth`] — needs `Authorization: Bearer <key>` whose SHA-256 is in the keys file (a
//!    client address with too many failed attempts gets 429 until its window ends), and the
//!    key scope the route needs (`query`, `write`, `admin`);
//! 3. [`rate_limit`] — takes a token from its key name's bucket;
//! 4. [`validation`] — body size, UTF-8, JSON shape and value ranges;
//! 5. [`upstream`] — is sent to the least-loaded healthy core, retried once on another core
//!    when that one failed, and the answer is relayed.
//!
//! [`routes`] lists every endpoint; [`stream`] is the WebSocket variant of the query route;
//! [`error`] is the one JSON error shape; [`console`] is the web console at `/console`. Library entry points:
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

pub mod auth;
pub mod cluster_keys;
pub mod config;
pub mod console;
pub mod error;
pub mod heartbeat;
pub mod metrics;
pub mod rate_limit;
pub mod rate_limit_redis;
pub mod routes;
mod server;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod upstream;
pub mod validation;

pub use auth::generate_key;
pub use config::{Cli, Command, Config, LogFormat};
pub use error::ApiError;
pub use routes::{app, metrics_app};
pub use server::{serve, serve_metrics, serve_with_state};
pub use state::AppState;
