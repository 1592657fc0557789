//! Running the service: loading the engine, starting it in one call ([`Server::start`]),
//! serving a listener, shutting down gracefully.
//!
//! One start for every way a core runs — the `jessy-core` binary, `jessy serve` and the test
//! kit — so cluster mode, the encoder and the background tasks behave the same in all three.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jessy_engine::Engine;
use jessy_http::{CancellationToken, TaskTracker};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::routes::app;
use crate::state::AppState;

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
/// Without it, a recorder built with `build_recorder` (not installed globally, see
/// [`crate::metrics`]) keeps every sample until the next render.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Opens the snapshot in `dir` for writing, creating the directory and building the embedded
/// default registry into it first when it holds no snapshot (no manifest and no generation
/// file). Blocking: run it before serving or on the blocking pool.
///
/// The engine owns the directory while it lives: a directory another core (or engine) owns is
/// an error naming it. A corrupt snapshot is an error naming the file, never replaced. A
/// directory whose `CURRENT` manifest was lost is recovered from its newest complete
/// generation and the recovery is logged at `error` level, since someone damaged or edited
/// the directory and should know (see [`Engine::recovery`]).
pub fn load_engine(dir: &Path) -> anyhow::Result<Engine> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create snapshot directory {}", dir.display()))?;
    let engine = Engine::open_or_init_default(dir)
        .with_context(|| format!("cannot load the snapshot in {}", dir.display()))?;
    if let Some(recovery) = engine.recovery() {
        tracing::error!(
            dir = %dir.display(),
            generation = recovery.generation,
            file = %recovery.file,
            skipped = recovery.skipped.len(),
            "RECOVERED a snapshot directory without its CURRENT manifest: {recovery}"
        );
    }
    Ok(engine)
}

/// `engine` with the sentence encoder of `model` attached (`None`: unchanged), for the
/// semantic cascade. Loading reads ~90 MB and digests it: blocking, like [`load_engine`].
///
/// A snapshot without a semantic head keeps working lexically (logged at `warn`: the operator
/// asked for a cascade it does not have); a model other than the one the head was trained
/// with is an error.
pub fn attach_encoder(
    engine: Engine,
    model: Option<&Path>,
    workers: usize,
) -> anyhow::Result<Engine> {
    let Some(model) = model else {
        return Ok(engine);
    };
    let encoder = jessy_encoder::SentenceEncoder::load(model)
        .with_context(|| format!("loading the sentence encoder from {}", model.display()))?;
    tracing::info!(encoder = %jessy_engine::semantic::Encoder::identity(&encoder), workers, "sentence encoder loaded");
    let engine = engine.with_encoder(Arc::new(encoder))?;
    if !engine.has_cascade() {
        tracing::warn!("the snapshot has no semantic head (build it with `jessy build --encoder`): the encoder will not be used");
    }
    Ok(engine)
}

/// A running jessy-core. [`Server::stop`] (or cancelling [`Server::shutdown_token`]) drains
/// it; dropping it without stopping leaves it serving until the runtime ends.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Validates `config`, loads the snapshot (in cluster mode: the cluster's current
    /// generation), attaches the encoder, binds `config.addr` (port 0 picks a free port),
    /// joins the cluster and starts following it, and serves. Every fallible step before
    /// serving returns its error with nothing left running: a process that listens has a
    /// valid snapshot (the startup sequence of the architecture diagrams).
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let engine = Server::load(&config).await?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        Server::start_on(listener, engine, config).await
    }

    /// [`Server::start`] with the engine loaded and the listener bound by the caller (the test
    /// kit shares one prepared snapshot between cores, and binds on a runtime it can kill).
    pub async fn start_on(
        listener: TcpListener,
        engine: Engine,
        config: Config,
    ) -> anyhow::Result<Server> {
        config.validate()?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        let engine = Arc::new(engine);
        let cluster = config.cluster_url.as_ref().map(|url| {
            crate::cluster::Cluster::new(
                url.expose().to_string(),
                engine.clone(),
                format!("jessy-core {addr} pid {}", std::process::id()),
                Duration::from_secs(config.cluster_poll_secs),
            )
        });
        if let Some(cluster) = &cluster {
            // Join before the first request, so a core behind the cluster never serves its
            // stale generation; a database that does not answer leaves it degraded, retrying.
            if let Err(error) = cluster.join().await {
                tracing::warn!(%error, "cannot join the cluster yet; serving the local generation (degraded) and retrying");
            }
        }
        let stats = engine.stats();
        tracing::info!(dir = ?engine.dir(), generation = stats.generation, mapped_bytes = stats.mapped_bytes, %addr, "snapshot loaded; listening");
        let state = AppState::with_cluster(engine, config, cluster);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
        Ok(Server {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// The engine `config` asks for: from the cluster in cluster mode, else from the snapshot
    /// directory (the default registry built into an empty one), with the encoder attached.
    pub async fn load(config: &Config) -> anyhow::Result<Engine> {
        config.validate()?;
        let dir = config.registry_dir()?;
        let engine = match &config.cluster_url {
            Some(url) => crate::cluster::load_engine(&dir, url.expose()).await?,
            None => tokio::task::spawn_blocking(move || load_engine(&dir))
                .await
                .context("snapshot loading task")??,
        };
        let (model, workers) = (config.encoder.clone(), config.encoder_worker_count());
        tokio::task::spawn_blocking(move || attach_encoder(engine, model.as_deref(), workers))
            .await
            .context("encoder loading task")?
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its state (engine, metrics, configuration).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The token that stops it: cancel it to begin the drain.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server has stopped (after its token is cancelled) and returns how it
    /// ended.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("jessy-core task")?
    }

    /// Stops the server and waits for the drain.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Serves [`app`] on `listener` until `shutdown` is cancelled, then drains.
///
/// Connections are capped at [`crate::Config::max_connections`] (beyond it they wait in the
/// listen backlog) and closed when they do not deliver a request head within
/// [`crate::Config::header_read_timeout_ms`] (see [`jessy_http::listener`]).
///
/// Draining: `/ready` turns 503, the listener stops accepting, idle connections close, and
/// in-flight requests get [`crate::Config::shutdown_grace_secs`] to finish; whatever is still
/// open after that is abandoned and `serve` returns `Ok` all the same (logged). The
/// background tasks (metrics upkeep, the learner, the cluster follower) stop on the same
/// token, and the no-match inbox is saved once more.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = state.config().shutdown_grace();
    let background = TaskTracker::new();
    background.spawn({
        let handle = state.metrics().handle().clone();
        let stop = shutdown.clone();
        async move {
            let mut tick = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => handle.run_upkeep(),
                }
            }
        }
    });
    background.spawn(crate::learner::run(
        state.clone(),
        state
            .config()
            .learn_interval
            .filter(|&s| s > 0)
            .map(Duration::from_secs),
        shutdown.clone(),
    ));
    if let Some(cluster) = state.cluster() {
        background.spawn(cluster.clone().run(shutdown.clone()));
    }
    background.spawn({
        let state = state.clone();
        let stop = shutdown.clone();
        async move {
            stop.cancelled().await;
            tracing::info!(grace_secs = grace.as_secs(), "shutdown requested; draining");
            state.begin_drain();
        }
    });
    background.close();
    let limits = state.config().connection_limits();
    jessy_http::serve(listener, limits, app(state.clone()), shutdown, grace).await;
    if tokio::time::timeout(grace, background.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks still running after the grace period; leaving them");
    }
    crate::learner::save_inbox(&state).await;
    tracing::info!("stopped");
    Ok(())
}
