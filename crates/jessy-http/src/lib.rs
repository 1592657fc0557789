//! # jessy-http
//!
//! The one HTTP layer jessy-core and jessy-api serve through, so the two services meet a
//! client with the same rules and the services keep only their routes, state and config:
//!
//! | module | job |
//! | --- | --- |
//! | [`listener`] | the accept loop: connection cap, request-head deadline, graceful drain bounded by a grace period ([`serve`]) |
//! | [`observe`] | request ids, the tracing span and access log, the metrics slot, JSON for framework errors ([`observed`]); the [`RequestId`] extractor |
//! | [`body`] | reading bodies within a deadline and a limit (408/413), the body middleware, the JSONL upload extractor and its 4 MiB bound |
//! | [`wire`] | the contract's error response, and JSON bodies for the 400/414/431 hyper answers by itself |
//! | [`secret`] | the admin token both sides of a write hold ([`Secret`]) |
//! | [`log`] | logging setup, text or JSON lines on stderr ([`LogFormat`], [`log::init`]) |
//! | [`shutdown`] | SIGINT/SIGTERM and the [`CancellationToken`] everything stops on |
//!
//! Why a crate of its own and not a feature of `jessy-protocol`: the protocol is the contract
//! (request types, limits, the error-code table) that anything speaking to Jessy may use
//! without a server stack, while this is the machinery of serving it (hyper, axum, tower-http,
//! tracing-subscriber) with tests of its own. The arrow points one way: this crate uses the
//! protocol's codes and rules, never the reverse.

pub mod body;
pub mod listener;
pub mod log;
pub mod observe;
pub mod secret;
pub mod shutdown;
pub mod wire;

pub use listener::{serve, ConnectionLimits, Drained};
pub use log::LogFormat;
pub use observe::{observed, AccessLog, RequestId};
pub use secret::Secret;
pub use shutdown::{CancellationToken, TaskTracker};
