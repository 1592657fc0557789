//! Integration tests against the real `jessy-core` binary, one module per area.
//!
//! Every test starts its own process on `--addr 127.0.0.1:0` with its own temp snapshot
//! directory, reads the listening line to learn the port, and talks HTTP to it.

mod concurrency;
mod connections;
mod durability;
mod errors;
mod learning;
mod routes;
mod security;
mod shutdown;
mod util;
