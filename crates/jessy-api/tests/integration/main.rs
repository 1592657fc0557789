//! jessy-api integration tests, one binary with a module per area (compiled and linked once).
//!
//! - `gateway`: routes in-process (`app()` + `oneshot`) against fake cores;
//! - `stream`: WebSocket and shutdown on a real socket against fake cores;
//! - `binary`: the `jessy-api` executable (keygen, listening line, SIGTERM, startup errors);
//! - `real_core`: the executable in front of real jessy-cores served in this process;
//! - `slow_clients`: header and body read timeouts and the connection cap, on real sockets;
//! - `security`: key scopes and layer writes through a real stack, the failed-auth throttle,
//!   the parser's refusals and the WebSocket size limit on real sockets;
//! - `contract`: the same bad inputs to an in-process jessy-core and gateway, same answers;
//! - `modules`: the crate's module structure (no import circles, no file over 600 lines).

mod binary;
mod contract;
mod gateway;
mod modules;
mod real_core;
mod security;
mod slow_clients;
mod stream;
mod support;
