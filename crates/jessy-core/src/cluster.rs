//! Cluster mode: this core as one replica of a registry kept in PostgreSQL.
//!
//! - **Joining** ([`Cluster::join`]): migrate the schema, then, under the cluster's build
//!   lock, seed an empty cluster from this core's current generation (once: the lock makes
//!   the first core to get it the only seeder), or follow a non-empty one: download its
//!   current generation, verify the digest, publish it locally and swap.
//! - **Following** ([`Cluster::run`]): a listening connection gets a `NOTIFY` per published
//!   generation; because a notification sent while the connection was down is never
//!   replayed, the core also polls on every (re)connection and every
//!   [`crate::Config::cluster_poll_secs`]. While the database is unreachable the core keeps
//!   serving its last generation and reports `degraded` (with the reason) on `/ready` and
//!   `GET /v1/cluster`; it reconnects with a capped backoff and catches up.
//! - **Writing** ([`Cluster::upsert_layer`], [`Cluster::delete_layer`]): one transaction
//!   takes the build lock (one builder in the whole cluster at a time), catches this core up
//!   to the current generation if it is behind, builds the next generation from it, stores it
//!   with the source change and makes it current, queues the `NOTIFY`, and commits; only then
//!   is the write acknowledged and installed here. A writer killed before the commit leaves
//!   nothing behind (PostgreSQL rolls the transaction back and releases the lock), so no
//!   half-published generation is ever visible, and two writers can never build on the same
//!   generation, so no acknowledged write is overwritten.
//!
//! - **Learning and feedback** ([`Cluster::record_feedback`], [`Cluster::learn`],
//!   [`Cluster::accept_suggestion`]): feedback given to any core is committed to the
//!   cluster's feedback log; a learning run is a write like a layer write — under the build
//!   lock it learns from the whole log and, when its guard passes, publishes the learned
//!   generation with the learned registry source in one transaction.
//!
//! Installing is serialized by one lock ([`Inner::sync`]) shared by the follower and the
//! writer, so generations are installed in increasing order.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jessy_cluster::generations::{self, GenerationHead};
use jessy_cluster::source::{self, SourceRows};
use jessy_cluster::{listen, locks, migrate, ClusterError, GENERATION_CHANNEL};
use jessy_engine::registry::LayerSource;
use jessy_engine::{Engine, LearnReport, Prepared, Registry};
use jessy_http::CancellationToken;
use serde::Serialize;

use crate::error::CoreError;

/// Longest wait between reconnection attempts while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
    /// The connection writes use; `None` until first needed and after it failed.
    writer: tokio::sync::Mutex<Option<jessy_cluster::tokio_postgres::Client>>,
    /// The connection feedback is appended over: its own, so feedback never waits behind a
    /// write holding the build lock (a learning run holds it for the whole training).
    feedback: tokio::sync::Mutex<Option<jessy_cluster::tokio_postgres::Client>>,
    /// Held while a generation is installed (and during a whole write), so installs happen
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

/// Opens the local snapshot directory for a cluster core. A directory holding no snapshot is
/// filled with the cluster's current generation when the cluster has one (a new core joins
/// without building anything), else with the embedded default registry (which then seeds the
/// cluster). An unreachable cluster is not an error here: the core starts on its local data
/// and joins once the database answers.
pub async fn load_engine(dir: &Path, url: &str) -> anyhow::Result<Engine> {
    let adopt = if Engine::holds_snapshot(dir) {
        None
    } else {
        match fetch_current(url).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(error = %error, "cluster unreachable at start; starting from the local registry directory");
                None
            }
        }
    };
    let dir = dir.to_path_buf();
    let engine = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create snapshot directory {}", dir.display()))?;
        Engine::open_or_adopt(&dir, adopt.as_deref())
            .with_context(|| format!("cannot load the snapshot in {}", dir.display()))
    })
    .await??;
    if let Some(recovery) = engine.recovery() {
        tracing::error!(
            generation = recovery.generation,
            "RECOVERED a snapshot directory without its CURRENT manifest: {recovery}"
        );
    }
    Ok(engine)
}

/// The cluster's current generation's bytes, or `None` for an empty cluster.
async fn fetch_current(url: &str) -> Result<Option<Vec<u8>>, ClusterError> {
    let mut client = jessy_cluster::connect(url).await?;
    migrate::migrate(&mut client).await?;
    match generations::current(&client).await? {
        Some(head) => {
            tracing::info!(
                generation = head.generation,
                "joining a cluster: adopting its current generation"
            );
            Ok(Some(generations::fetch(&client, &head).await?))
        }
        None => Ok(None),
    }
}

/// The outcome of a layer write through the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The cluster generation holding the write (committed when this is returned).
    pub generation: u64,
    /// For an upsert: whether the layer was new.
    pub created: bool,
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

    /// Joins the cluster once: migrates, then seeds it (when empty) or catches up with it.
    /// Errors leave the core serving its local generation; [`Cluster::run`] retries.
    pub async fn join(&self) -> Result<(), ClusterError> {
        let mut client = jessy_cluster::connect(&self.inner.url).await?;
        migrate::migrate(&mut client).await?;
        let _sync = self.inner.sync.lock().await;
        self.note_local_digest().await;
        let tx = client.transaction().await?;
        locks::lock_for_transaction(&tx, locks::BUILD).await?;
        match generations::current(&tx).await? {
            None => {
                let engine = self.inner.engine.clone();
                let (bytes, rows) = tokio::task::spawn_blocking(move || {
                    let registry = engine.registry();
                    engine
                        .current_bytes()
                        .map(|bytes| (bytes, source_rows(&registry)))
                })
                .await
                .map_err(|e| ClusterError::Data(format!("seeding task failed: {e}")))?
                .map_err(|e| ClusterError::Data(e.to_string()))?;
                let generation = self.inner.engine.stats().generation;
                let head =
                    generations::publish(&tx, generation, None, &bytes, &self.inner.node).await?;
                source::replace_all(&tx, generation, &rows).await?;
                tx.commit().await?;
                tracing::info!(
                    generation,
                    digest = %head.digest,
                    "seeded the empty cluster with this core's registry"
                );
                let mut state = self.state();
                state.served = Some(head.clone());
                state.cluster = Some(head);
            }
            Some(head) => {
                tx.commit().await?;
                let served = self.state().served.clone();
                if served.as_ref().map(|s| &s.digest) != Some(&head.digest) {
                    tracing::warn!(
                        local_generation = self.inner.engine.stats().generation,
                        cluster_generation = head.generation,
                        "the local registry differs from the cluster's; following the cluster"
                    );
                }
                self.install_locked(&client, head).await?;
            }
        }
        self.set_database(DbState::Connected);
        Ok(())
    }

    /// Records which cluster generation the local one is, by digest, when nothing is known
    /// yet (at start, before the first join).
    async fn note_local_digest(&self) {
        if self.state().served.is_some() {
            return;
        }
        let engine = self.inner.engine.clone();
        let head = tokio::task::spawn_blocking(move || {
            let generation = engine.stats().generation;
            engine.current_bytes().ok().map(|bytes| GenerationHead {
                generation,
                digest: generations::digest_hex(&bytes),
                size: bytes.len() as u64,
            })
        })
        .await
        .ok()
        .flatten();
        self.state().served = head;
    }

    /// Installs `head` unless it is what this core serves. The caller holds `sync`.
    async fn install_locked(
        &self,
        client: &impl jessy_cluster::tokio_postgres::GenericClient,
        head: GenerationHead,
    ) -> Result<(), ClusterError> {
        if self.state().served.as_ref().map(|s| &s.digest) == Some(&head.digest) {
            self.state().cluster = Some(head);
            return Ok(());
        }
        let bytes = generations::fetch(client, &head).await?;
        self.install_bytes(bytes, head).await
    }

    async fn install_bytes(
        &self,
        bytes: Vec<u8>,
        head: GenerationHead,
    ) -> Result<(), ClusterError> {
        let engine = self.inner.engine.clone();
        let local = tokio::task::spawn_blocking(move || engine.install(&bytes))
            .await
            .map_err(|e| ClusterError::Data(format!("install task failed: {e}")))?
            .map_err(|e| ClusterError::Corrupt {
                generation: head.generation,
                problem: e.to_string(),
            })?;
        tracing::info!(
            generation = head.generation,
            local,
            "installed cluster generation"
        );
        let mut state = self.state();
        state.served = Some(head.clone());
        if state
            .cluster
            .as_ref()
            .is_none_or(|c| c.generation <= head.generation)
        {
            state.cluster = Some(head);
        }
        Ok(())
    }

    /// Catches up with the cluster's current generation over `client`. A success also
    /// clears a `degraded` state that a failed write may have set while this connection was
    /// fine.
    async fn sync(
        &self,
        client: &jessy_cluster::tokio_postgres::Client,
    ) -> Result<(), ClusterError> {
        let _sync = self.inner.sync.lock().await;
        if let Some(head) = generations::current(client).await? {
            self.install_locked(client, head).await?;
        }
        self.set_database(DbState::Connected);
        Ok(())
    }

    /// Follows the cluster until `shutdown` is cancelled: join, listen, poll; on a lost
    /// connection report degraded, back off, reconnect and catch up.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        let mut joined = self.state().database == DbState::Connected;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let outcome = async {
                if !joined {
                    self.join().await?;
                    joined = true;
                }
                let mut listener = listen::listen(&self.inner.url, &[GENERATION_CHANNEL]).await?;
                // Poll right after (re)connecting: whatever was notified meanwhile is lost.
                self.sync(&listener.client).await?;
                self.set_database(DbState::Connected);
                backoff = Duration::from_millis(200);
                let mut ticker = tokio::time::interval(self.inner.poll);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        note = listener.notifications.recv() => match note {
                            Some(_) => self.sync(&listener.client).await?,
                            None => return Err(ClusterError::Data("the listening connection closed".to_string())),
                        },
                        _ = ticker.tick() => self.sync(&listener.client).await?,
                        () = shutdown.cancelled() => return Ok(()),
                    }
                }
            }
            .await;
            match outcome {
                Ok(()) => return,
                Err(error) => {
                    self.set_database(DbState::Degraded(error.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Creates or replaces a layer through the cluster (see the module docs).
    pub async fn upsert_layer(
        &self,
        dimension: &str,
        layer: LayerSource,
    ) -> Result<Written, CoreError> {
        let change = SourceChange::Upsert {
            dimension: dimension.to_string(),
            id: layer.id.clone(),
            body: serde_json::to_value(&layer).map_err(CoreError::internal)?,
        };
        let dim = dimension.to_string();
        let (created, generation) = self
            .write(Reads::Nothing, move |engine, generation, _| {
                let prepared = engine.prepare_upsert(&dim, layer, generation)?;
                Ok(Built {
                    answer: prepared.created,
                    publish: Some((prepared, change)),
                })
            })
            .await?;
        Ok(Written {
            generation: generation.expect("a layer write always publishes"),
            created,
        })
    }

    /// Deletes a layer through the cluster (see the module docs).
    pub async fn delete_layer(&self, dimension: &str, layer: &str) -> Result<u64, CoreError> {
        let change = SourceChange::Delete {
            dimension: dimension.to_string(),
            id: layer.to_string(),
        };
        let (dim, id) = (dimension.to_string(), layer.to_string());
        let ((), generation) = self
            .write(Reads::Nothing, move |engine, generation, _| {
                let prepared = engine.prepare_delete(&dim, &id, generation)?;
                Ok(Built {
                    answer: (),
                    publish: Some((prepared, change)),
                })
            })
            .await?;
        Ok(generation.expect("a layer write always publishes"))
    }

    /// Records a batch of feedback (already validated and resolved by the engine,
    /// [`Engine::resolve_feedback`]) in the cluster's feedback log, committed before this
    /// returns; returns how many records the log holds. Feedback given to any core is there
    /// for a learning run on any core.
    pub async fn record_feedback(
        &self,
        records: Vec<jessy_engine::usage::FeedbackRecord>,
    ) -> Result<usize, CoreError> {
        let received_at = std::time::SystemTime::now();
        let rows: Vec<_> = records
            .into_iter()
            .map(|r| jessy_cluster::feedback::FeedbackRecord {
                text: r.text,
                layer: r.layer,
                query_id: r.query_id,
                received_at,
            })
            .collect();
        let mut slot = self.inner.feedback.lock().await;
        let result = async {
            let client = self.connected(&mut slot).await?;
            jessy_cluster::feedback::append_counted(client, &rows).await
        }
        .await;
        result.map_err(|error| {
            self.note_failure(&mut slot, &error);
            tracing::warn!(%error, "recording feedback in the cluster failed");
            CoreError::NotReady(format!(
                "the cluster database is unavailable, the feedback was not recorded: {error}"
            ))
        })
    }

    /// Learns from the cluster's whole feedback log (every core's) through the cluster: under
    /// the build lock, caught up to the current generation, the engine learns exactly as a
    /// standalone core does ([`Engine::prepare_learn`]: the same fold, guard and build), and a
    /// candidate that passes the guard is stored as the next generation with the learned
    /// registry source, in one transaction, then installed here; the other cores follow it.
    /// A refused candidate publishes nothing. Layer writes anywhere in the cluster wait for
    /// the run (one builder at a time).
    pub async fn learn(&self) -> Result<LearnReport, CoreError> {
        let (mut report, generation) = self
            .write(Reads::Feedback, |engine, generation, records| {
                let (report, prepared) = engine.prepare_learn(&records, generation)?;
                let publish = match prepared {
                    None => None,
                    Some(prepared) => {
                        let learned = Engine::from_bytes(&prepared.bytes)
                            .map_err(|e| CoreError::internal(anyhow::anyhow!("{e}")))?;
                        let rows = source_rows(&learned.registry());
                        Some((prepared, SourceChange::Replace(rows)))
                    }
                };
                Ok(Built {
                    answer: report,
                    publish,
                })
            })
            .await?;
        if let Some(generation) = generation {
            report.published = true;
            report.generation = generation;
        }
        Ok(report)
    }

    /// Accepts suggestion `id` of this core's no-match inbox: the layer it suggests is written
    /// through the cluster like any layer write, then its queries leave the inbox.
    pub async fn accept_suggestion(
        &self,
        id: &str,
        dimension: &str,
        layer: &str,
        name: &str,
    ) -> Result<Written, CoreError> {
        let engine = self.inner.engine.clone();
        let (id, dim, layer_id, name) = (
            id.to_string(),
            dimension.to_string(),
            layer.to_string(),
            name.to_string(),
        );
        let suggested = tokio::task::spawn_blocking(move || {
            engine.suggested_layer(&id, &dim, &layer_id, &name)
        })
        .await
        .map_err(|e| CoreError::internal(anyhow::anyhow!("accept task failed: {e}")))??;
        let written = self.upsert_layer(dimension, suggested.layer).await?;
        let engine = self.inner.engine.clone();
        let members = suggested.members;
        let _ = tokio::task::spawn_blocking(move || {
            engine.forget_unrouted(&members);
            if let Err(e) = engine.save_inbox() {
                tracing::warn!(error = %e, "saving the no-match inbox");
            }
        })
        .await;
        Ok(written)
    }

    /// The connection in `slot`, (re)connecting when it is missing or closed.
    async fn connected<'a>(
        &self,
        slot: &'a mut Option<jessy_cluster::tokio_postgres::Client>,
    ) -> Result<&'a mut jessy_cluster::tokio_postgres::Client, ClusterError> {
        if slot.as_ref().is_none_or(|c| c.is_closed()) {
            *slot = Some(jessy_cluster::connect(&self.inner.url).await?);
        }
        Ok(slot.as_mut().expect("connected above"))
    }

    /// After a failed database call over the connection in `slot`: a lost connection is
    /// dropped (the next call reconnects) and the core reports `degraded` until a success.
    fn note_failure(
        &self,
        slot: &mut Option<jessy_cluster::tokio_postgres::Client>,
        error: &ClusterError,
    ) {
        if error.is_connection() {
            *slot = None;
            self.set_database(DbState::Degraded(error.to_string()));
        }
    }

    /// Runs one write through the cluster (see the module docs): `build` gets the engine
    /// (caught up with the cluster), the next generation's number and, with
    /// [`Reads::Feedback`], the cluster's feedback log; what it returns to publish is stored
    /// and committed before this returns. Returns `build`'s answer and the generation
    /// published, if any.
    async fn write<R, B>(&self, reads: Reads, build: B) -> Result<(R, Option<u64>), CoreError>
    where
        R: Send + 'static,
        B: BuildStep<R>,
    {
        let _sync = self.inner.sync.lock().await;
        let mut writer = self.inner.writer.lock().await;
        let result = match self.connected(&mut writer).await {
            Ok(client) => self.write_in(client, reads, build).await,
            Err(error) => Err(Failure::Cluster(error)),
        };
        if let Err(Failure::Cluster(error)) = &result {
            self.note_failure(&mut writer, error);
        }
        let (answer, published) = result.map_err(|failure| match failure {
            Failure::Cluster(error) => unavailable(error),
            Failure::Core(error) => error,
        })?;
        let Some((prepared, head)) = published else {
            return Ok((answer, None));
        };
        let generation = prepared.generation;
        // Committed: the write is durable in the cluster. Installing here makes it visible to
        // this core's next query; if that fails the follower installs it later.
        if let Err(error) = self.install_bytes(prepared.bytes, head).await {
            tracing::error!(%error, generation, "a committed generation failed to install locally; the follower will retry");
        }
        Ok((answer, Some(generation)))
    }

    async fn write_in<R, B>(
        &self,
        client: &mut jessy_cluster::tokio_postgres::Client,
        reads: Reads,
        build: B,
    ) -> Result<(R, Option<(Prepared, GenerationHead)>), Failure>
    where
        R: Send + 'static,
        B: BuildStep<R>,
    {
        let tx = client.transaction().await?;
        locks::lock_for_transaction(&tx, locks::BUILD).await?;
        let current = generations::current(&tx).await?.ok_or_else(|| {
            Failure::Core(CoreError::NotReady(
                "the cluster is not seeded yet; retry once this core has joined".to_string(),
            ))
        })?;
        // Behind (a notification not yet handled)? Catch up first: the next generation is
        // built from the cluster's current one, never from an older local one.
        self.install_locked(&tx, current.clone()).await?;
        let feedback = match reads {
            Reads::Nothing => Vec::new(),
            Reads::Feedback => jessy_cluster::feedback::read_all(&tx)
                .await?
                .into_iter()
                .map(|stored| jessy_engine::usage::FeedbackRecord {
                    text: stored.record.text,
                    layer: stored.record.layer,
                    query_id: stored.record.query_id,
                })
                .collect(),
        };
        let engine = self.inner.engine.clone();
        let next = current.generation + 1;
        let built = tokio::task::spawn_blocking(move || build(&engine, next, feedback))
            .await
            .map_err(|e| {
                Failure::Core(CoreError::internal(anyhow::anyhow!(
                    "build task failed: {e}"
                )))
            })?
            .map_err(Failure::Core)?;
        let Some((prepared, change)) = built.publish else {
            // Nothing to publish (a refused learning run): release the lock, change nothing.
            tx.commit().await?;
            return Ok((built.answer, None));
        };
        let head = generations::publish(
            &tx,
            next,
            Some(current.generation),
            &prepared.bytes,
            &self.inner.node,
        )
        .await?;
        match &change {
            SourceChange::Upsert {
                dimension,
                id,
                body,
            } => source::upsert_layer(&tx, next, dimension, id, body).await?,
            SourceChange::Delete { dimension, id } => {
                source::delete_layer(&tx, dimension, id).await?
            }
            SourceChange::Replace(rows) => source::replace_all(&tx, next, rows).await?,
        }
        tx.commit().await?;
        Ok((built.answer, Some((prepared, head))))
    }
}

/// What a write reads from the cluster, under the build lock, before it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Nothing beyond the current generation (layer writes).
    Nothing,
    /// The whole feedback log (learning).
    Feedback,
}

/// A write's build step: given the engine (caught up with the cluster), the next generation's
/// number and the feedback log it asked for ([`Reads`]), what to answer and what to publish.
/// It runs on the blocking pool.
trait BuildStep<R>:
    FnOnce(&Engine, u64, Vec<jessy_engine::usage::FeedbackRecord>) -> Result<Built<R>, CoreError>
    + Send
    + 'static
{
}

impl<R, F> BuildStep<R> for F where
    F: FnOnce(
            &Engine,
            u64,
            Vec<jessy_engine::usage::FeedbackRecord>,
        ) -> Result<Built<R>, CoreError>
        + Send
        + 'static
{
}

/// What a write's build step produced.
struct Built<R> {
    /// The caller's answer.
    answer: R,
    /// The next generation and the source change recorded with it; `None` publishes nothing.
    publish: Option<(Prepared, SourceChange)>,
}

/// The source-row change a write records with its generation.
enum SourceChange {
    Upsert {
        dimension: String,
        id: String,
        body: serde_json::Value,
    },
    Delete {
        dimension: String,
        id: String,
    },
    /// Learning rewrites examples across many layers: every row is replaced.
    Replace(SourceRows),
}

/// Why a cluster write failed: the cluster (database) or the write itself.
enum Failure {
    Cluster(ClusterError),
    Core(CoreError),
}

impl From<ClusterError> for Failure {
    fn from(error: ClusterError) -> Failure {
        Failure::Cluster(error)
    }
}

impl From<jessy_cluster::tokio_postgres::Error> for Failure {
    fn from(error: jessy_cluster::tokio_postgres::Error) -> Failure {
        Failure::Cluster(error.into())
    }
}

fn unavailable(error: ClusterError) -> CoreError {
    tracing::warn!(%error, "cluster write failed");
    CoreError::NotReady(format!(
        "the cluster database is unavailable, the write was not applied: {error}"
    ))
}

/// `jessy cluster push`: makes the snapshot in `snapshot` the cluster's generation — its
/// first (seeding an empty cluster explicitly), or, with `replace`, its next one, renumbered
/// to follow the current generation. Every core follows within a notification. Returns what
/// was published.
pub async fn push(url: &str, snapshot: &Path, replace: bool) -> anyhow::Result<GenerationHead> {
    let engine = Engine::open_read_only(snapshot)
        .with_context(|| format!("cannot open the snapshot in {}", snapshot.display()))?;
    let mut client = jessy_cluster::connect(url).await?;
    migrate::migrate(&mut client).await?;
    let tx = client.transaction().await?;
    locks::lock_for_transaction(&tx, locks::BUILD).await?;
    let current = generations::current(&tx).await?;
    if let (Some(current), false) = (&current, replace) {
        anyhow::bail!(
            "the cluster already holds generation {} (digest {}); pass --replace to publish this snapshot as its next generation",
            current.generation,
            current.digest
        );
    }
    let generation = current
        .as_ref()
        .map_or(engine.stats().generation, |c| c.generation + 1);
    let bytes = engine.current_bytes_as(generation)?;
    let rows = source_rows(&engine.registry());
    let head = generations::publish(
        &tx,
        generation,
        current.as_ref().map(|c| c.generation),
        &bytes,
        "jessy cluster push",
    )
    .await?;
    source::replace_all(&tx, generation, &rows).await?;
    tx.commit().await?;
    Ok(head)
}

/// The registry source of `registry` as the cluster's rows.
fn source_rows(registry: &Registry) -> SourceRows {
    let source = registry.to_source();
    let mut rows = SourceRows {
        name: source.name.clone(),
        description: source.description.clone(),
        out_of_scope: source.out_of_scope.clone(),
        ..SourceRows::default()
    };
    for dimension in &source.dimensions {
        for layer in &dimension.layers {
            rows.layers.push((
                dimension.id.clone(),
                layer.id.clone(),
                serde_json::to_value(layer).unwrap_or(serde_json::Value::Null),
            ));
        }
        let mut header = dimension.clone();
        header.layers.clear();
        rows.dimensions.push((
            dimension.id.clone(),
            serde_json::to_value(&header).unwrap_or(serde_json::Value::Null),
        ));
    }
    rows.calibration = registry
        .validation_lines()
        .map(|(text, label)| {
            (
                text.to_string(),
                label.map(|(d, l)| (d.to_string(), l.to_string())),
            )
        })
        .collect();
    rows
}
