//! Active health checks: the startup probe and the periodic checker.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::forward::{error_chain, REQUEST_ID_HEADER};
use super::{UpstreamPool, UpstreamState};

impl UpstreamPool {
    /// Checks every core once, concurrently, and returns how many are up afterwards.
    pub async fn check_all(&self) -> usize {
        join_all((0..self.upstreams.len()).map(|index| self.check(index))).await;
        self.healthy_count()
    }

    /// `GET {core}/health`: a 2xx within the health timeout is a success, anything else a
    /// failure counted towards [`super::FAILURE_THRESHOLD`].
    async fn check(&self, index: usize) {
        let upstream = &self.upstreams[index];
        let mut url = upstream.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("health");
        }
        let result = self
            .client
            .get(url)
            .timeout(self.health_timeout)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                self.mark_success(index);
                // A jessy-core says which query ids it issues; remember it for feedback.
                if let Ok(body) = response.json::<serde_json::Value>().await {
                    if let Some(prefix) = body.get("query_ids").and_then(|p| p.as_str()) {
                        upstream.set_query_ids(prefix);
                    }
                }
            }
            Ok(response) => {
                self.mark_failure(
                    index,
                    &format!("health check returned {}", response.status()),
                );
            }
            Err(error) => self.mark_failure(index, &error_chain(&error)),
        }
    }

    /// The startup connection test: checks every core once and logs which are reachable, so
    /// an operator reading the startup log knows at once whether the gateway can serve. The
    /// gateway serves either way (its health endpoint says 503 until a core is up), so
    /// starting before the cores is harmless and it recovers on its own.
    pub async fn probe(&self) -> usize {
        let up = self.check_all().await;
        for status in self.status() {
            match status.state {
                UpstreamState::Up => tracing::info!(upstream = %status.url, "upstream reachable"),
                UpstreamState::Down => {
                    tracing::warn!(upstream = %status.url, "upstream unreachable at startup");
                }
            }
        }
        if up == 0 {
            tracing::warn!(
                configured = self.upstreams.len(),
                "no upstream reachable; /api/health reports 503 until one comes up"
            );
        } else {
            tracing::info!(up, configured = self.upstreams.len(), "upstreams checked");
        }
        up
    }

    /// Runs [`Self::check_all`] every `interval` until `shutdown` turns true. Missed ticks
    /// are delayed rather than bunched, so a slow round never triggers a burst of checks.
    pub async fn run_health_checks(&self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; the startup probe just ran
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    self.check_all().await;
                }
                () = crate::shutdown::stopped(&mut shutdown) => break,
            }
        }
    }

    /// The snapshot generation reported by an up core's `GET /ready`, trying each up core in
    /// balancing order until one answers. `None` when no core is up or none is ready.
    pub async fn snapshot_generation(&self, request_id: &str) -> Option<u64> {
        let mut tried = Vec::new();
        while tried.len() < self.upstreams.len() {
            let index = self.pick_excluding(&tried)?;
            tried.push(index);
            let mut url = self.upstreams[index].url.clone();
            if let Ok(mut path) = url.path_segments_mut() {
                path.pop_if_empty().push("ready");
            }
            let response = self
                .client
                .get(url)
                .header(REQUEST_ID_HEADER, request_id)
                .timeout(self.health_timeout)
                .send()
                .await;
            let Ok(response) = response else { continue };
            if !response.status().is_success() {
                continue;
            }
            let Ok(body) = response.json::<serde_json::Value>().await else {
                continue;
            };
            if let Some(generation) = body.get("generation").and_then(serde_json::Value::as_u64) {
                return Some(generation);
            }
        }
        None
    }

    /// Like `pick` but skipping every core in `tried`.
    fn pick_excluding(&self, tried: &[usize]) -> Option<usize> {
        self.status()
            .iter()
            .enumerate()
            .filter(|(index, status)| status.state == UpstreamState::Up && !tried.contains(index))
            .min_by_key(|(_, status)| status.in_flight)
            .map(|(index, _)| index)
    }
}
