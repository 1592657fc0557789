//! Waiting for the gateway's shutdown signal.
//!
//! The state owns one `watch<bool>` that turns `true` once when shutdown begins
//! ([`crate::AppState::begin_shutdown`]); the server, the background tasks and WebSocket
//! sessions wait on it. This module holds only the wait, with nothing from the rest of the
//! crate, so every one of them can use it without depending on the state (the upstream
//! health checker, for one, is part of the state and must not import it).

use tokio::sync::watch;

/// Completes once `signal` (from [`crate::AppState::shutdown_signal`]) turns true. The watch
/// guard is dropped inside, so callers can use this in `select!` across awaits in `Send`
/// futures.
pub(crate) async fn stopped(signal: &mut watch::Receiver<bool>) {
    // Err means the sender is gone, i.e. the state was dropped: that is a stop too.
    let _ = signal.wait_for(|stopping| *stopping).await;
}
