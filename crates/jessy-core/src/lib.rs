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
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! let config = jessy_core::Config::default();
//! let engine = jessy_core::load_engine(&config.registry_dir()?)?;
//! let state = jessy_core::AppState::new(Arc::new(engine), config.clone());
//! let listener = tokio::net::TcpListener::bind(config.addr).await?;
//! jessy_core::serve(listener, state, jessy_core::shutdown_signal()).await
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
pub mod telemetry;
pub mod views;
pub mod writer;

pub use config::{AdminToken, Config, LogFormat};
pub use error::CoreError;
pub use jessy_protocol::request_id::REQUEST_ID_HEADER as REQUEST_ID;
pub use jessy_protocol::shutdown_signal;
pub use routes::{app, route_list};
pub use server::{attach_encoder, load_engine, serve};
pub use state::{AppState, WriteAccess};
