//! # jessy-core
//!
//! Jessy's routing engine ([`jessy_engine`]) as an HTTP service: it loads a snapshot directory
//! at start, answers queries in microseconds, lets clients browse and edit the registry, and
//! reports health, readiness and Prometheus metrics.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /health` | liveness |
//! | `GET /ready` | readiness and what generation is served |
//! | `POST /v1/query` | route a query (the engine's `QueryResult`) |
//! | `GET /v1/dimensions` | list dimensions |
//! | `GET /v1/dimensions/{id}` | a dimension and its layers |
//! | `GET /v1/dimensions/{id}/layers/{layer}` | one layer in full |
//! | `PUT /v1/dimensions/{id}/layers/{layer}` | create or replace a layer (new generation); admin token |
//! | `DELETE /v1/dimensions/{id}/layers/{layer}` | delete a layer (new generation); admin token |
//! | `GET /v1/generations` | generation history with change notes ([`history`]) |
//! | `POST /v1/eval` | evaluate the current generation on an uploaded labelled JSONL ([`quality`]) |
//! | `GET /metrics` | Prometheus text |
//! | `GET /openapi.json` | OpenAPI 3 document |
//! | `GET /v1/cluster` | cluster mode: this core's generation, the cluster's, lag, database state |
//!
//! jessy-core is the internal port: it listens on loopback by default and trusts whoever
//! reaches it to query. Layer writes change text that ends up in LLM prompts, so they need
//! `Authorization: Bearer <admin token>` (`--admin-token-file`); without a configured token
//! they are refused with 403 `writes_disabled` unless `--allow-unauthenticated-writes` is
//! given (see [`WriteAccess`]). jessy-api presents the token for API keys with the `write`
//! scope.
//!
//! Errors are `{"error": {"code", "message"}}` with the codes and statuses of
//! [`jessy_protocol`], the contract jessy-api shares (see [`error`]).
//!
//! The library is what the `jessy-core` binary runs and what `jessy serve` embeds next to
//! jessy-api, so nothing here assumes it owns the process: no global metrics recorder, no
//! `process::exit`, logging installed only if nobody did.
//!
//! The HTTP machinery (accept loop, limits, request ids, access log, body reading, shutdown)
//! is `jessy-http`'s, shared with the gateway; this crate keeps the routes, the state and the
//! configuration.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let server = jessy_core::Server::start(jessy_core::Config::default()).await?;
//! println!("listening on {}", server.addr());
//! jessy_http::shutdown::cancel_on_signal(server.shutdown_token()).await;
//! server.wait().await
//! # }
//! ```
#![deny(unsafe_code)]

pub mod cluster;
pub mod config;
pub mod error;
pub mod extract;
pub mod history;
pub mod learner;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod quality;
pub mod routes;
mod server;
mod state;
pub mod views;
pub mod writer;

pub use config::Config;
pub use error::CoreError;
pub use routes::{app, route_list};
pub use server::{attach_encoder, load_engine, serve, Server};
pub use state::{AppState, WriteAccess};
