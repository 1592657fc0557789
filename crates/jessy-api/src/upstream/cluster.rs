//! Every core's generation, for `GET /api/v1/status`: behind one gateway of a cluster the
//! cores may briefly serve different generations (one installs a notification before
//! another), and an operator checking that a write reached the fleet needs all of them.

use futures_util::future::join_all;
use jessy_protocol::request_id::REQUEST_ID_HEADER;
use serde_json::{json, Value};

use super::UpstreamPool;

impl UpstreamPool {
    /// Each core's `GET /ready`, asked concurrently: `{url, generation, degraded}`, with
    /// `generation: null` for a core that did not answer (down, draining or too slow).
    pub async fn core_generations(&self, request_id: &str) -> Vec<Value> {
        let asks = self.upstreams.iter().map(|upstream| async move {
            let mut url = upstream.url.clone();
            if let Ok(mut path) = url.path_segments_mut() {
                path.pop_if_empty().push("ready");
            }
            let body = async {
                let response = self
                    .client
                    .get(url)
                    .header(REQUEST_ID_HEADER, request_id)
                    .timeout(self.health_timeout)
                    .send()
                    .await
                    .ok()?;
                if !response.status().is_success() {
                    return None;
                }
                response.json::<Value>().await.ok()
            }
            .await;
            json!({
                "url": upstream.url.as_str(),
                "generation": body.as_ref().and_then(|b| b.get("generation")).cloned(),
                "degraded": body.as_ref().and_then(|b| b.get("degraded")).cloned(),
            })
        });
        join_all(asks).await
    }
}
