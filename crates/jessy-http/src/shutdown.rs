//! Shutdown: the signal both binaries (and `jessy serve`) wait for, and the token everything
//! that runs stops on.
//!
//! A service's accept loop, its connections, its background tasks (health checks, the
//! learner, heartbeats, key reloads) and its WebSocket sessions all watch one
//! [`CancellationToken`] (or a child of it), so one `cancel()` stops them all and a
//! `TaskTracker` tells when they have. [`cancel_on_signal`] ties a token to SIGINT/SIGTERM.

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what `docker stop` and Kubernetes
/// send). A signal that cannot be listened for is logged and then never completes, so the
/// other one still works.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Cancels `token` when [`signal`] completes (or returns at once if it is cancelled first),
/// for a binary whose token is also cancelled by other means.
pub async fn cancel_on_signal(token: CancellationToken) {
    tokio::select! {
        () = signal() => token.cancel(),
        () = token.cancelled() => {}
    }
}
