//! # jessy-testkit
//!
//! The plumbing the workspace's test suites share, so each suite keeps only its assertions.
//! A dev-dependency only (`publish = false`); nothing here invokes cargo.
//!
//! | module | job |
//! | --- | --- |
//! | [`process`] | a service binary as a child process: spawned from the path cargo gives the test (`env!("CARGO_BIN_EXE_<name>")`), its `listening on` line read, killed on drop |
//! | [`eventually`] | polling a condition until it holds or a deadline passes |
//! | [`raw`] | HTTP/1.1 over a bare socket, for framing tests (requests the HTTP parser refuses) |
//! | [`registry`] | snapshot directories holding the default registry, built once per test binary |
//! | [`services`] | PostgreSQL and Redis servers of a test's own ([`TestPostgres`], [`TestRedis`]): system binaries, a temporary directory, a free port, killed with the test |
//! | [`stack`] | jessy-core in this process (an upstream for gateway tests), and the jessy-core + jessy-api [`Stack`] that `jessy serve` runs |
#![deny(unsafe_code)]

pub mod eventually;
pub mod process;
pub mod raw;
pub mod registry;
pub mod services;
pub mod stack;

pub use eventually::{eventually, eventually_blocking, TIMEOUT};
pub use process::{command, spawn_binary, RunningProcess, Signal};
pub use raw::{raw_http, read_to_close, unparsable_requests, RawResponse};
pub use registry::prepared_dir;
pub use services::{ServiceError, TestPostgres, TestRedis};
pub use stack::{InProcessCore, Stack, TestStack};
