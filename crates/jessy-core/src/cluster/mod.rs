//! Cluster mode: this core as one replica of a registry kept in PostgreSQL.
//!
//! - **Joining** ([`Cluster::join`], in [`follow`]): migrate the schema, then, under the
//!   cluster's build lock, seed an empty cluster from this core's current generation (once:
//!   the lock makes the first core to get it the only seeder), or follow a non-empty one:
//!   download its current generation, verify the digest, publish it locally and swap.
//! - **Following** ([`Cluster::run`], in [`follow`]): a listening connection gets a `NOTIFY`
//!   per published generation; because a notification sent while the connection was down is
//!   never replayed, the core also polls on every (re)connection and every
//!   [`crate::Config::cluster_poll_secs`]. While the database is unreachable the core keeps
//!   serving its last generation and reports `degraded` (with the reason) on `/ready` and
//!   `GET /v1/cluster`; it reconnects with a capped backoff and catches up.
//! - **Building** ([`build`]): one build at a time in the whole cluster, through
//!   jessy-cluster's build protocol ([`jessy_cluster::BuildTx`]): under the build lock this
//!   core catches up to the current generation if it is behind, builds the next generation
//!   from it, and stores it with its source change; only after the commit is the write
//!   acknowledged and installed here. A writer killed before the commit leaves nothing behind,
//!   so no half-published generation is ever visible, and two writers can never build on the
//!   same generation, so no acknowledged write is overwritten. What each write builds (a
//!   layer, a deletion, a learning run) and the rules every write obeys in both modes are the
//!   writer's ([`crate::writer`]).
//! - **Feedback** ([`Cluster::append_feedback`]): committed to the cluster's feedback log over
//!   a connection of its own, where a learning run on any core finds it.
//! - **Status** (this module): what `/ready` and `GET /v1/cluster` report.
//!
//! Installing is serialized by one lock (`Inner::sync`) shared by the follower and the
//! builder, so generations are installed in increasing order.

mod build;
mod follow;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jessy_cluster::{ClusterError, Connection, GenerationHead};
use jessy_engine::Engine;
use serde::Serialize;

pub use build::push;
pub(crate) use build::{source_rows, Built, Reads};
pub use follow::load_engine;

/// How a core reaches the cluster now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum DbState {
    /// Connected and following.
    Connected,
    /// Not connected (never yet, or lost): serving the last generation installed.
    Degraded(String),
}

/// What `GET /v1/cluster` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The cluster generation this core serves (`None` before it joined).
    pub generation: Option<u64>,
    /// Its digest (SHA-256 of the generation file).
    pub digest: Option<String>,
    /// The local snapshot generation (equal to `generation` unless the local directory was
    /// ahead of the cluster when it joined; see the engine's replica install).
    pub local_generation: u64,
    /// The cluster's current generation, as last seen.
    pub cluster_generation: Option<u64>,
    /// Generations this core is behind the cluster, as last seen.
    pub lag: u64,
    /// The database connection.
    pub database: DbState,
    /// Seconds since the state last changed, or since start.
    pub since_secs: u64,
}

/// A handle to this core's cluster membership; clones share it.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &jessy_cluster::redact(&self.inner.url))
            .finish_non_exhaustive()
    }
}

struct Inner {
    url: String,
    engine: Arc<Engine>,
    /// Recorded as `built_by` on the generations this core builds.
    node: String,
    poll: Duration,
    /// The connection builds use; `None` until first needed and after it failed.
    writer: tokio::sync::Mutex<Option<Connection>>,
    /// The connection feedback is appended over: its own, so feedback never waits behind a
    /// build holding the build lock (a learning run holds it for the whole training).
    feedback: tokio::sync::Mutex<Option<Connection>>,
    /// Held while a generation is installed (and during a whole build), so installs happen
    /// one at a time and in increasing order.
    sync: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

struct State {
    served: Option<GenerationHead>,
    cluster: Option<GenerationHead>,
    database: DbState,
    since: Instant,
}

impl Cluster {
    /// A cluster handle for `engine` (which must own its directory). `node` names this core
    /// in the generations it builds.
    pub fn new(url: String, engine: Arc<Engine>, node: String, poll: Duration) -> Cluster {
        Cluster {
            inner: Arc::new(Inner {
                url,
                engine,
                node,
                poll,
                writer: tokio::sync::Mutex::new(None),
                feedback: tokio::sync::Mutex::new(None),
                sync: tokio::sync::Mutex::new(()),
                state: Mutex::new(State {
                    served: None,
                    cluster: None,
                    database: DbState::Degraded("not connected yet".to_string()),
                    since: Instant::now(),
                }),
            }),
        }
    }

    /// The engine this core serves (and builds with).
    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_database(&self, database: DbState) {
        let mut state = self.state();
        if state.database != database {
            match &database {
                DbState::Connected => tracing::info!("cluster database connected"),
                DbState::Degraded(reason) => {
                    tracing::warn!(%reason, "cluster database lost; serving the last generation (degraded)")
                }
            }
            state.database = database;
            state.since = Instant::now();
        }
    }

    /// Why the core is degraded, if it is (for `/ready`).
    pub fn degraded(&self) -> Option<String> {
        match &self.state().database {
            DbState::Connected => None,
            DbState::Degraded(reason) => Some(reason.clone()),
        }
    }

    /// What `GET /v1/cluster` reports.
    pub fn status(&self) -> ClusterStatus {
        let local_generation = self.inner.engine.stats().generation;
        let state = self.state();
        let generation = state.served.as_ref().map(|h| h.generation);
        let cluster_generation = state.cluster.as_ref().map(|h| h.generation);
        let lag = match (&state.served, &state.cluster) {
            (Some(served), Some(cluster)) if served.digest != cluster.digest => {
                cluster.generation.saturating_sub(served.generation).max(1)
            }
            (None, Some(cluster)) => cluster.generation,
            _ => 0,
        };
        ClusterStatus {
            generation,
            digest: state.served.as_ref().map(|h| h.digest.clone()),
            local_generation,
            cluster_generation,
            lag,
            database: state.database.clone(),
            since_secs: state.since.elapsed().as_secs(),
        }
    }

    /// The connection in `slot`, (re)connecting when it is missing or closed.
    async fn connected<'a>(
        &self,
        slot: &'a mut Option<Connection>,
    ) -> Result<&'a mut Connection, ClusterError> {
        if slot.as_ref().is_none_or(Connection::is_closed) {
            *slot = Some(Connection::open(&self.inner.url).await?);
        }
        Ok(slot.as_mut().expect("connected above"))
    }

    /// After a failed database call over the connection in `slot`: a lost connection is
    /// dropped (the next call reconnects) and the core reports `degraded` until a success.
    fn note_failure(&self, slot: &mut Option<Connection>, error: &ClusterError) {
        if error.is_connection() {
            *slot = None;
            self.set_database(DbState::Degraded(error.to_string()));
        }
    }

    /// Appends `records` to the cluster's feedback log, committed before this returns; returns
    /// how many records the log holds. A lost connection marks the core degraded and is
    /// replaced on the next call.
    pub(crate) async fn append_feedback(
        &self,
        records: &[jessy_cluster::feedback::FeedbackRecord],
    ) -> Result<usize, ClusterError> {
        let mut slot = self.inner.feedback.lock().await;
        let result = async {
            let connection = self.connected(&mut slot).await?;
            connection.append_feedback(records).await
        }
        .await;
        if let Err(error) = &result {
            self.note_failure(&mut slot, error);
        }
        result
    }
}
