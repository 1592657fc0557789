//! Running the gateway on a listener until its shutdown token is cancelled, with a bounded
//! drain. The accept loop, limits and drain are jessy-http's ([`jessy_http::serve`]).

use anyhow::Context;
use jessy_http::CancellationToken;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::routes::{app, metrics_app};
use crate::state::AppState;

/// Serves the gateway on `listener` until `shutdown` is cancelled, then drains.
///
/// Builds the state from `config` (keys file, upstream pool), tests the connection to every
/// core and logs which are reachable, starts the health checker, and serves. The listener is
/// taken already bound so callers choose the address (tests bind port 0) and can print the
/// real one; this function prints nothing to stdout. The metrics listener is bound at
/// `config.metrics_addr` (when not `off`) and served alongside. Configuration errors are
/// returned before anything is served.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState::new(&config)?;
    let metrics = match config.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    let metrics = metrics.map(|listener| tokio::spawn(serve_metrics(listener, state.clone())));
    let result = serve_with_state(listener, state, shutdown).await;
    if let Some(task) = metrics {
        task.await.context("metrics task")??;
    }
    result
}

/// Serves [`metrics_app`] (`GET /metrics`) on `listener` until the state's shutdown begins
/// (which [`serve_with_state`] starts when its own token is cancelled).
pub async fn serve_metrics(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "jessy-api metrics listener");
    }
    let limits = state.connection_limits();
    let grace = state.shutdown_grace();
    let stop = state.shutdown_signal();
    jessy_http::serve(listener, limits, metrics_app(state), stop, grace).await;
    Ok(())
}

/// [`serve`] with a state built beforehand: lets the binary report configuration errors
/// before it binds and prints its "listening" line, and lets tests keep a handle on the state.
///
/// Connections are capped at [`Config::max_connections`] (beyond it they wait in the listen
/// backlog) and closed when they do not deliver a request head within
/// [`Config::header_read_timeout`] (see [`jessy_http::listener`]).
///
/// Shutdown sequence: when `shutdown` is cancelled, the state's shutdown begins: the listener
/// stops accepting, WebSocket sessions are told to close, the health checker stops, and
/// in-flight requests get [`AppState::shutdown_grace`] to finish; connections still open
/// after that are abandoned.
pub async fn serve_with_state(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("cannot read the listener address")?;
    state.set_listen_addr(addr);
    state.probe_upstreams().await;
    let background = state.spawn_background_tasks();
    let link = {
        let state = state.clone();
        let stopping = state.shutdown_signal();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {
                    tracing::info!("shutdown requested; draining connections");
                    state.begin_shutdown();
                }
                () = stopping.cancelled() => {}
            }
        })
    };
    tracing::info!(%addr, "jessy-api serving");
    jessy_http::serve(
        listener,
        state.connection_limits(),
        app(state.clone()),
        state.shutdown_signal(),
        state.shutdown_grace(),
    )
    .await;
    state.begin_shutdown();
    let _ = link.await;
    if let Err(error) = background.await {
        tracing::warn!(%error, "background task ended abnormally");
    }
    tracing::info!("jessy-api stopped");
    Ok(())
}
