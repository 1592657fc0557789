//! The `jessy-core` binary: configuration, logging, the snapshot, then [`jessy_core::serve`].
//!
//! Exit status: 0 after a graceful shutdown (SIGTERM/SIGINT), 1 when the service cannot start
//! (bad configuration, unreadable or corrupt snapshot, address in use) or the server fails.
#![deny(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use jessy_core::{AppState, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(error) = jessy_core::telemetry::init(&config.log, config.log_format) {
        eprintln!("jessy-core: {error:#}");
        return ExitCode::FAILURE;
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "jessy-core failed");
            eprintln!("jessy-core: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    let dir = config.registry_dir()?;
    // Initialize, load the mapped regions, then start HTTP: a process that listens has a valid
    // snapshot (the startup sequence of the architecture diagrams).
    let engine = match &config.cluster_url {
        Some(url) => jessy_core::cluster::load_engine(&dir, url.expose()).await?,
        None => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || jessy_core::load_engine(&dir)).await??
        }
    };
    let engine = {
        let (model, workers) = (config.encoder.clone(), config.encoder_worker_count());
        tokio::task::spawn_blocking(move || {
            jessy_core::attach_encoder(engine, model.as_deref(), workers)
        })
        .await??
    };
    let engine = Arc::new(engine);
    let stats = engine.stats();
    tracing::info!(dir = %dir.display(), generation = stats.generation, mapped_bytes = stats.mapped_bytes, "snapshot loaded");
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(%addr, "listening");
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "jessy-core listening on http://{addr}")
            .context("cannot write to stdout")?;
        stdout.flush().context("cannot write to stdout")?;
    }
    let cluster = config.cluster_url.as_ref().map(|url| {
        jessy_core::cluster::Cluster::new(
            url.expose().to_string(),
            engine.clone(),
            format!("jessy-core {addr} pid {}", std::process::id()),
            std::time::Duration::from_secs(config.cluster_poll_secs),
        )
    });
    let (stop_following, following) = tokio::sync::watch::channel(false);
    let follower = match &cluster {
        Some(cluster) => {
            // Join before the first request, so a core behind the cluster never serves its
            // stale generation; a database that does not answer leaves it degraded, retrying.
            if let Err(error) = cluster.join().await {
                tracing::warn!(%error, "cannot join the cluster yet; serving the local generation (degraded) and retrying");
            }
            Some(tokio::spawn(cluster.clone().run(following)))
        }
        None => None,
    };
    let state = AppState::with_cluster(engine, config, cluster);
    let served = jessy_core::serve(listener, state, jessy_core::shutdown_signal()).await;
    stop_following.send_replace(true);
    if let Some(follower) = follower {
        let _ = follower.await;
    }
    served
}
