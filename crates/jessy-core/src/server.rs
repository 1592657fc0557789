//! Running the service: loading the engine, serving a listener, shutting down gracefully.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jessy_engine::Engine;
use tokio::net::TcpListener;

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
/// One function for every way the service starts (jessy-core, `jessy serve`, tests), so the
/// encoder is honoured the same everywhere. A snapshot without a semantic head keeps working
/// lexically (logged at `warn`: the operator asked for a cascade it does not have); a model
/// other than the one the head was trained with is an error.
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

/// Serves [`app`] on `listener` until `shutdown` completes, then drains.
///
/// Connections are capped at [`crate::Config::max_connections`] (beyond it they wait in the
/// listen backlog) and closed when they do not deliver a request head within
/// [`crate::Config::header_read_timeout_ms`] (see [`jessy_protocol::server`]).
///
/// Draining: `/ready` turns 503, the listener stops accepting, idle connections close, and
/// in-flight requests get [`crate::Config::shutdown_grace_secs`] to finish; whatever is still
/// open after that is dropped and `serve` returns `Ok` all the same (the drop is logged). The
/// listener is taken already bound so callers (and tests) can bind port 0 and learn the port.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let grace = state.config().shutdown_grace();
    let draining = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let state = state.clone();
        let draining = draining.clone();
        async move {
            shutdown.await;
            tracing::info!(grace_secs = grace.as_secs(), "shutdown requested; draining");
            state.begin_drain();
            // `notify_one` stores a permit, so the waiter below cannot miss it.
            draining.notify_one();
        }
    };
    let upkeep = {
        let handle = state.metrics().handle().clone();
        AbortOnDrop(tokio::spawn(async move {
            let mut tick = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        }))
    };
    let learning = AbortOnDrop(tokio::spawn(crate::learner::run(
        state.clone(),
        state
            .config()
            .learn_interval
            .filter(|&s| s > 0)
            .map(std::time::Duration::from_secs),
    )));
    let final_save = state.clone();
    let limits = state.config().connection_limits();
    let router = app(state);
    let server = jessy_protocol::server::serve(listener, limits, move |_| router.clone(), signal);
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        () = draining.notified() => {
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                tracing::warn!(grace_secs = grace.as_secs(), "grace period over; dropping open connections");
            }
        }
    }
    drop(upkeep);
    drop(learning);
    crate::learner::save_inbox(&final_save).await;
    tracing::info!("stopped");
    Ok(())
}

/// Aborts a background task when the owner goes away, so `serve` leaves nothing running.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
