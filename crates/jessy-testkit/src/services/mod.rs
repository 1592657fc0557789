//! PostgreSQL and Redis servers of a test's own: started from the system's binaries, in a
//! temporary directory, on a free loopback port, and gone when the test is.
//!
//! Why not the machine's services: a test that shares a server can only pretend to restart it,
//! and it touches state it did not create. A server of its own can be stopped, killed with
//! SIGKILL and started again on the same data directory and port, which is what a cluster
//! test of "the database went away" has to do.
//!
//! | type | what it starts | cost |
//! | --- | --- | --- |
//! | [`TestPostgres`] | `postgres` on a copy of a data directory `initdb` made once per machine and version | ~0.3–1 s |
//! | [`TestRedis`] | `redis-server` without persistence | ~10 ms |
//!
//! How no server outlives its test (see [`server`] for the mechanics):
//! 1. Each server belongs to a value the test owns; dropping it (at the end of the test, or
//!    while a failing test unwinds) kills the server's whole process group and reaps it.
//! 2. A test process that dies without unwinding (SIGKILL, a harness timeout, `abort`) cannot
//!    run drops; every server is therefore started with a parent-death signal (`setpriv
//!    --pdeathsig KILL`) from one launcher thread that lives as long as the test process, so
//!    the kernel kills the server when the process goes. PostgreSQL's backends exit on their
//!    own when their postmaster dies.
//!
//! As root, PostgreSQL refuses to run; the servers then run as the `postgres` system user
//! (or `nobody` when there is none), and their temporary directories are given to it.

mod error;
mod postgres;
mod redis;
pub mod server;

pub use error::{LogExcerpt, ServiceError};
pub use postgres::{PostgresBinaries, TestPostgres};
pub use redis::TestRedis;
