//! Loading, joining and following the cluster's generations (see the parent module's docs).

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use jessy_cluster::listen::{self, Listener};
use jessy_cluster::{generations, ClusterError, Connection, GenerationHead, SourceChange};
use jessy_engine::Engine;

use super::{Cluster, DbState};

/// Longest wait between reconnection attempts while the database is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
    let mut connection = Connection::open(url).await?;
    connection.migrate().await?;
    match connection.current().await? {
        Some(head) => {
            tracing::info!(
                generation = head.generation,
                "joining a cluster: adopting its current generation"
            );
            Ok(Some(connection.fetch(&head).await?))
        }
        None => Ok(None),
    }
}

impl Cluster {
    /// Joins the cluster once: migrates, then seeds it (when empty) or catches up with it.
    /// Errors leave the core serving its local generation; [`Cluster::run`] retries.
    pub async fn join(&self) -> Result<(), ClusterError> {
        let mut connection = Connection::open(&self.inner.url).await?;
        connection.migrate().await?;
        let _sync = self.inner.sync.lock().await;
        self.note_local_digest().await;
        let build = connection.begin_build().await?;
        match build.current().await? {
            None => {
                let engine = self.inner.engine.clone();
                let (bytes, rows) = tokio::task::spawn_blocking(move || {
                    let registry = engine.registry();
                    engine
                        .current_bytes()
                        .map(|bytes| (bytes, super::source_rows(&registry)))
                })
                .await
                .map_err(|e| ClusterError::Data(format!("seeding task failed: {e}")))?
                .map_err(|e| ClusterError::Data(e.to_string()))?;
                let generation = self.inner.engine.stats().generation;
                let head = build
                    .publish(
                        generation,
                        None,
                        &bytes,
                        &self.inner.node,
                        &SourceChange::Replace(rows),
                    )
                    .await?;
                build.commit().await?;
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
                build.commit().await?;
                let served = self.state().served.clone();
                if served.as_ref().map(|s| &s.digest) != Some(&head.digest) {
                    tracing::warn!(
                        local_generation = self.inner.engine.stats().generation,
                        cluster_generation = head.generation,
                        "the local registry differs from the cluster's; following the cluster"
                    );
                }
                self.install_locked(head.clone(), connection.fetch(&head))
                    .await?;
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

    /// Installs `head` unless it is what this core serves; `fetch` downloads its bytes and is
    /// only awaited when they are needed. The caller holds `sync`.
    pub(super) async fn install_locked(
        &self,
        head: GenerationHead,
        fetch: impl Future<Output = Result<Vec<u8>, ClusterError>>,
    ) -> Result<(), ClusterError> {
        if self.state().served.as_ref().map(|s| &s.digest) == Some(&head.digest) {
            self.state().cluster = Some(head);
            return Ok(());
        }
        let bytes = fetch.await?;
        self.install_bytes(bytes, head).await
    }

    pub(super) async fn install_bytes(
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

    /// Catches up with the cluster's current generation over the listening connection. A
    /// success also clears a `degraded` state that a failed write may have set while this
    /// connection was fine.
    async fn sync(&self, listener: &Listener) -> Result<(), ClusterError> {
        let _sync = self.inner.sync.lock().await;
        if let Some(head) = generations::current(&listener.client).await? {
            self.install_locked(head.clone(), generations::fetch(&listener.client, &head))
                .await?;
        }
        self.set_database(DbState::Connected);
        Ok(())
    }

    /// Follows the cluster until `shutdown` is cancelled: join, listen, poll; on a lost
    /// connection report degraded, back off, reconnect and catch up.
    pub async fn run(self, shutdown: jessy_http::CancellationToken) {
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
                let mut listener =
                    listen::listen(&self.inner.url, &[jessy_cluster::GENERATION_CHANNEL]).await?;
                // Poll right after (re)connecting: whatever was notified meanwhile is lost.
                self.sync(&listener).await?;
                self.set_database(DbState::Connected);
                backoff = Duration::from_millis(200);
                let mut ticker = tokio::time::interval(self.inner.poll);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        note = listener.notifications.recv() => match note {
                            Some(_) => self.sync(&listener).await?,
                            None => return Err(ClusterError::Data("the listening connection closed".to_string())),
                        },
                        _ = ticker.tick() => self.sync(&listener).await?,
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
}
