//! Running the gateway on a listener until a shutdown signal, with a bounded drain.

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::routes::{app, metrics_app};
use crate::state::AppState;

/// Serves the gateway on `listener` until `shutdown` completes, then drains.
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
    shutdown: impl Future<Output = ()> + Send + 'static,
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
/// (which [`serve_with_state`] starts when its own shutdown signal fires).
pub async fn serve_metrics(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "jessy-api metrics listener");
    }
    let mut stopping = state.shutdown_signal();
    axum::serve(
        jessy_protocol::wire::JsonErrorListener(listener),
        metrics_app(state),
    )
    .with_graceful_shutdown(async move { crate::shutdown::stopped(&mut stopping).await })
    .await
    .context("metrics server failed")
}

/// [`serve`] with a state built beforehand: lets the binary report configuration errors
/// before it binds and prints its "listening" line, and lets tests keep a handle on the state.
///
/// Connections are capped at [`Config::max_connections`] (beyond it they wait in the listen
/// backlog) and closed when they do not deliver a request head within
/// [`Config::header_read_timeout`] (see [`jessy_protocol::server`]).
///
/// Shutdown sequence: when `shutdown` completes, the listener stops accepting, WebSocket
/// sessions are told to close, the health checker stops, and in-flight requests get
/// [`AppState::shutdown_grace`] to finish; connections still open after that are dropped.
pub async fn serve_with_state(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("cannot read the listener address")?;
    state.set_listen_addr(addr);
    state.probe_upstreams().await;
    let background = state.spawn_background_tasks();

    let signal_state = state.clone();
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutdown requested; draining connections");
        signal_state.begin_shutdown();
    };
    let limits = state.connection_limits();
    let router = app(state.clone());
    // The peer address feeds the failed-authentication throttle (read as
    // `ConnectInfo<SocketAddr>`); the accept loop gives the 400/414/431 hyper answers by
    // itself the JSON error body.
    let server = jessy_protocol::server::serve(
        listener,
        limits,
        move |remote| {
            let router = router.clone();
            tower::service_fn(move |mut request: axum::http::Request<_>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                let mut router = router.clone();
                async move {
                    use tower::Service as _;
                    router.call(request).await
                }
            })
        },
        graceful,
    );
    tracing::info!(%addr, "jessy-api serving");

    let grace = state.shutdown_grace();
    let mut stopping = state.shutdown_signal();
    let drain_deadline = async move {
        crate::shutdown::stopped(&mut stopping).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        () = server => {}
        () = drain_deadline => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "drain deadline reached; closing remaining connections");
        }
    }
    state.begin_shutdown();
    if let Err(error) = background.await {
        tracing::warn!(%error, "background task ended abnormally");
    }
    tracing::info!("jessy-api stopped");
    Ok(())
}
