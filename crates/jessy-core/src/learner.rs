//! The automatic learner and the no-match inbox's upkeep.
//!
//! Off by default. With `--learn-after N`, a learning run starts once N feedback items have
//! arrived since the last run; with `--learn-interval SECS`, a run starts every SECS seconds
//! when any feedback arrived since the last one. One run at a time: a trigger during a run is
//! remembered and handled after it. Runs go to the blocking pool; queries keep being served
//! from the current generation, which the run swaps only if its guard passes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jessy_engine::LearnReport;
use tokio::sync::{Mutex, Notify};

use crate::error::CoreError;
use crate::state::AppState;

/// How often the no-match inbox is saved beside the snapshot.
pub const INBOX_SAVE_EVERY: Duration = Duration::from_secs(10);

/// Learning triggers and the one-run-at-a-time lock.
#[derive(Debug, Default)]
pub struct Learner {
    /// Feedback items since the last run started.
    pending: AtomicUsize,
    wake: Notify,
    running: Mutex<()>,
    after: Option<usize>,
}

impl Learner {
    /// A learner that wakes after `after` feedback items (if set).
    pub fn new(after: Option<usize>) -> Learner {
        Learner {
            after: after.filter(|&n| n > 0),
            ..Learner::default()
        }
    }

    /// Waits until no learning run is running, then starts one: the count of feedback since
    /// the last run starts again from zero. The run lasts as long as the guard is held.
    pub(crate) async fn begin_run(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let running = self.running.lock().await;
        self.pending.store(0, Ordering::Release);
        running
    }

    /// Counts arrived feedback, waking the learner when `--learn-after` is reached.
    pub fn feedback_arrived(&self, items: usize) {
        let pending = self.pending.fetch_add(items, Ordering::AcqRel) + items;
        if self.after.is_some_and(|n| pending >= n) {
            self.wake.notify_one();
        }
    }
}

/// Runs one learning pass now (waiting for a running one to finish first); see
/// [`crate::writer::Writer::learn`].
pub async fn learn_now(state: &AppState) -> Result<LearnReport, CoreError> {
    state.writer().learn().await
}

/// The background upkeep: the automatic learner (when configured) and the inbox saver.
/// Returns when `stop` is cancelled (the server then saves the inbox once more). A learning
/// run in progress finishes first: it publishes whole or not at all.
pub async fn run(state: AppState, interval: Option<Duration>, stop: jessy_http::CancellationToken) {
    let learner: Arc<AppState> = Arc::new(state);
    let mut save = tokio::time::interval(INBOX_SAVE_EVERY);
    let mut learn_tick = interval.map(tokio::time::interval);
    loop {
        let interval_due = async {
            match learn_tick.as_mut() {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            _ = save.tick() => save_inbox(&learner).await,
            () = learner.learner().wake.notified() => run_logged(&learner).await,
            () = interval_due => {
                if learner.learner().pending.load(Ordering::Acquire) > 0 {
                    run_logged(&learner).await;
                }
            }
        }
    }
}

async fn run_logged(state: &AppState) {
    if let Err(e) = learn_now(state).await {
        tracing::error!(error = %e, "automatic learning failed; serving the current generation");
    }
}

/// Saves the no-match inbox on the blocking pool, logging a failure.
pub async fn save_inbox(state: &AppState) {
    let engine = state.engine().clone();
    match tokio::task::spawn_blocking(move || engine.save_inbox()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "saving the no-match inbox"),
        Err(e) => tracing::warn!(error = %e, "inbox save task failed"),
    }
}
