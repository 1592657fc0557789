//! What every core says about itself, asked on demand: each core's generation for
//! `GET /api/v1/status`, and the fuller report of `GET /api/v1/cluster` (the console's Cluster
//! page). Behind one gateway of a cluster the cores may briefly serve different generations (one
//! installs a notification before another), and an operator checking that a write reached the
//! fleet needs all of them, with each core's view of the cluster database.

use futures_util::future::join_all;
use jessy_protocol::request_id::REQUEST_ID_HEADER;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Upstream, UpstreamPool, UpstreamStatus};

/// One core as `GET /api/v1/cluster` reports it: the gateway's own view (state, load) and the
/// core's answers to `GET /ready` and, in cluster mode, `GET /v1/cluster`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoreReport {
    /// The gateway's view: URL, up/down, in flight, failures, requests.
    #[serde(flatten)]
    pub upstream: UpstreamStatus,
    /// Whether `/ready` answered 200 just now.
    pub ready: bool,
    /// Why it is not ready (no answer, or the core's own error message), when it is not.
    pub not_ready: Option<String>,
    /// The core's `/ready` answer (generation, dimensions, layers, degraded…), when ready.
    pub readiness: Option<Value>,
    /// The core's `/v1/cluster` answer (cluster generation, lag, database state); `None` for a
    /// standalone core (which answers 404) or one that did not answer.
    pub cluster: Option<Value>,
}

/// The answer to one `GET` of a core: its JSON body on a 2xx, else why not.
enum Answer {
    Json(Value),
    Refused(u16, String),
    Silent(String),
}

impl UpstreamPool {
    /// `GET {core}/{path}` within the health timeout.
    async fn ask(&self, upstream: &Upstream, path: &str, request_id: &str) -> Answer {
        let mut url = upstream.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.split('/'));
        }
        let response = match self
            .client
            .get(url)
            .header(REQUEST_ID_HEADER, request_id)
            .timeout(self.health_timeout)
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => return Answer::Silent(super::forward::error_chain(&error)),
        };
        let status = response.status();
        let body = response.json::<Value>().await.ok();
        if status.is_success() {
            match body {
                Some(body) => Answer::Json(body),
                None => Answer::Silent(format!("answered {status} without JSON")),
            }
        } else {
            let message = body
                .as_ref()
                .and_then(|b| b.pointer("/error/message"))
                .and_then(Value::as_str)
                .map_or_else(|| status.to_string(), str::to_string);
            Answer::Refused(status.as_u16(), message)
        }
    }

    /// Each core's `GET /ready`, asked concurrently: `{url, generation, degraded}`, with
    /// `generation: null` for a core that did not answer (down, draining or too slow).
    pub async fn core_generations(&self, request_id: &str) -> Vec<Value> {
        let asks = self.upstreams.iter().map(|upstream| async move {
            let body = match self.ask(upstream, "ready", request_id).await {
                Answer::Json(body) => Some(body),
                Answer::Refused(..) | Answer::Silent(_) => None,
            };
            json!({
                "url": upstream.label,
                "generation": body.as_ref().and_then(|b| b.get("generation")).cloned(),
                "degraded": body.as_ref().and_then(|b| b.get("degraded")).cloned(),
            })
        });
        join_all(asks).await
    }

    /// Every core's [`CoreReport`], in configuration order; all cores and both routes of each
    /// are asked concurrently, so the answer takes one health timeout at worst.
    pub async fn core_reports(&self, request_id: &str) -> Vec<CoreReport> {
        let statuses = self.status();
        let asks = self
            .upstreams
            .iter()
            .zip(statuses)
            .map(|(upstream, status)| async move {
                let (ready, cluster) = tokio::join!(
                    self.ask(upstream, "ready", request_id),
                    self.ask(upstream, "v1/cluster", request_id),
                );
                let (readiness, not_ready) = match ready {
                    Answer::Json(body) => (Some(body), None),
                    Answer::Refused(code, message) => (None, Some(format!("{code}: {message}"))),
                    Answer::Silent(why) => (None, Some(format!("no answer: {why}"))),
                };
                CoreReport {
                    upstream: status,
                    ready: readiness.is_some(),
                    not_ready,
                    readiness,
                    cluster: match cluster {
                        Answer::Json(body) => Some(body),
                        Answer::Refused(..) | Answer::Silent(_) => None,
                    },
                }
            });
        join_all(asks).await
    }
}
