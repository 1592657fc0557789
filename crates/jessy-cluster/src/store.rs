//! The store's API for the services: a [`Connection`] to the cluster's database and the one
//! write protocol, [`BuildTx`].
//!
//! The table modules ([`crate::generations`], [`crate::source`], [`crate::feedback`]) each
//! know one table and take whatever client or transaction the caller owns. This module owns
//! what a service must not get wrong by composing them itself:
//!
//! 1. A build runs in **one transaction holding [`crate::locks::BUILD`]** (taken by
//!    [`Connection::begin_build`], before anything is read), so there is one builder in the
//!    whole cluster at a time and the generation it reads as current stays current until it
//!    commits: two writers can never build on the same generation, so no acknowledged write
//!    is overwritten.
//! 2. A generation is **published together with the source change** it holds
//!    ([`BuildTx::publish`]: the generation rows, the current pointer, the `NOTIFY` and the
//!    source rows in the same transaction), so the rows always describe the current
//!    generation.
//! 3. Nothing is visible until [`BuildTx::commit`]. A `BuildTx` dropped without committing,
//!    or a process killed mid-build, leaves nothing behind: PostgreSQL rolls the transaction
//!    back and releases the lock (it is transaction-scoped), and the queued `NOTIFY` is never
//!    delivered.
//!
//! Callers number generations (the bytes they publish already carry the number): the next
//! one follows the current one read under the lock, and the primary key refuses a duplicate.

use tokio_postgres::{Client, Transaction};

use crate::feedback::{self, FeedbackRecord, StoredFeedback};
use crate::generations::{self, GenerationHead};
use crate::source::{self, SourceRows};
use crate::{locks, migrate, ClusterError};

/// One connection to the cluster's database, for a service that keeps it between calls.
///
/// A connection that is lost stays lost: every call fails with an error for which
/// [`ClusterError::is_connection`] is true, and [`Connection::is_closed`] turns true; the
/// owner drops it and opens a new one.
pub struct Connection {
    client: Client,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Connects to `url` (see [`crate::connect`]).
    pub async fn open(url: &str) -> Result<Connection, ClusterError> {
        Ok(Connection {
            client: crate::connect(url).await?,
        })
    }

    /// Whether the connection is gone (the server closed it or the network failed).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Brings the schema up to date (see [`crate::migrate`]); returns the versions applied.
    pub async fn migrate(&mut self) -> Result<Vec<i32>, ClusterError> {
        migrate::migrate(&mut self.client).await
    }

    /// The current generation, or `None` for an empty (unseeded) cluster.
    pub async fn current(&self) -> Result<Option<GenerationHead>, ClusterError> {
        generations::current(&self.client).await
    }

    /// Downloads and verifies the bytes of `head` (see [`generations::fetch`]).
    pub async fn fetch(&self, head: &GenerationHead) -> Result<Vec<u8>, ClusterError> {
        generations::fetch(&self.client, head).await
    }

    /// Appends `records` to the feedback log and returns how many records it holds with
    /// them; committed when this returns (see [`feedback::append_counted`]).
    pub async fn append_feedback(
        &mut self,
        records: &[FeedbackRecord],
    ) -> Result<usize, ClusterError> {
        feedback::append_counted(&mut self.client, records).await
    }

    /// Starts a build: opens a transaction and takes the build lock in it, waiting while
    /// another builder (on any service) holds it. See the module docs for what it protects.
    pub async fn begin_build(&mut self) -> Result<BuildTx<'_>, ClusterError> {
        let tx = self.client.transaction().await?;
        locks::lock_for_transaction(&tx, locks::BUILD).await?;
        Ok(BuildTx { tx })
    }
}

/// A build in progress: one transaction holding the cluster's build lock. Dropped without
/// [`BuildTx::commit`], it is rolled back and changes nothing.
pub struct BuildTx<'a> {
    tx: Transaction<'a>,
}

impl std::fmt::Debug for BuildTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildTx").finish_non_exhaustive()
    }
}

/// The source-row change a generation holds, recorded with it by [`BuildTx::publish`].
#[derive(Debug, Clone, PartialEq)]
pub enum SourceChange {
    /// One layer created or replaced: its source (the engine's JSON).
    Upsert {
        /// Dimension id.
        dimension: String,
        /// Layer id.
        id: String,
        /// The layer's source.
        body: serde_json::Value,
    },
    /// One layer deleted.
    Delete {
        /// Dimension id.
        dimension: String,
        /// Layer id.
        id: String,
    },
    /// Every row replaced: seeding, `jessy cluster push`, and learning (which rewrites
    /// examples across many layers).
    Replace(SourceRows),
}

impl BuildTx<'_> {
    /// The current generation as of the lock: it stays current until this build commits.
    pub async fn current(&self) -> Result<Option<GenerationHead>, ClusterError> {
        generations::current(&self.tx).await
    }

    /// Downloads and verifies the bytes of `head`, inside the build's transaction.
    pub async fn fetch(&self, head: &GenerationHead) -> Result<Vec<u8>, ClusterError> {
        generations::fetch(&self.tx, head).await
    }

    /// The whole feedback log, oldest first (the input of a learning run).
    pub async fn feedback(&self) -> Result<Vec<StoredFeedback>, ClusterError> {
        feedback::read_all(&self.tx).await
    }

    /// Records `bytes` as generation `generation` (built from `parent`, by `built_by`) with
    /// `change`, makes it current and queues the `NOTIFY`; none of it is visible before
    /// [`BuildTx::commit`]. `generation` is one more than [`BuildTx::current`] (or, for an
    /// empty cluster, the first generation's own number).
    pub async fn publish(
        &self,
        generation: u64,
        parent: Option<u64>,
        bytes: &[u8],
        built_by: &str,
        change: &SourceChange,
    ) -> Result<GenerationHead, ClusterError> {
        let head = generations::publish(&self.tx, generation, parent, bytes, built_by).await?;
        match change {
            SourceChange::Upsert {
                dimension,
                id,
                body,
            } => source::upsert_layer(&self.tx, generation, dimension, id, body).await?,
            SourceChange::Delete { dimension, id } => {
                source::delete_layer(&self.tx, dimension, id).await?
            }
            SourceChange::Replace(rows) => source::replace_all(&self.tx, generation, rows).await?,
        }
        Ok(head)
    }

    /// Commits the build (releasing the lock); a published generation is durable and
    /// current when this returns.
    pub async fn commit(self) -> Result<(), ClusterError> {
        Ok(self.tx.commit().await?)
    }
}
