//! # jessy-cli (library half)
//!
//! The `jessy` binary's commands live in `src/main.rs` and `src/commands/`; this library holds
//! only what other code must share with it: the in-process [`stack`] of jessy-core and
//! jessy-api that `jessy serve` runs and the tests (through `jessy-testkit`) start.
//!
//! Why here and not in jessy-api: the gateway talks to its cores over HTTP only and must not
//! link the engine, so jessy-api cannot depend on jessy-core. jessy-cli already depends on
//! both services, and `jessy serve` is the one production user of the stack, so the stack is
//! a library target of this crate rather than a crate of its own.
#![deny(unsafe_code)]

pub mod stack;
