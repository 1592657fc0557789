//! `GET /api/v1/cluster`: the gateways and cores serving this registry, with their generations
//! and health; the data of the console's Cluster page.
//!
//! **Scope `admin`**, like `/api/v1/status`: the answer names the cores' internal URLs and
//! every gateway's address, which a query-only client has no business knowing.
//!
//! - **Cores**: every core behind this gateway ([`crate::upstream::CoreReport`]): the gateway's
//!   view (up/down, load, failures), the core's `/ready` (generation, size, degraded) and, in
//!   cluster mode, its `/v1/cluster` (cluster generation, lag, database state). Asked on
//!   demand, concurrently, within the health timeout.
//! - **Gateways**: outside cluster mode, this one. In cluster mode, every gateway that has
//!   recorded a heartbeat ([`crate::heartbeat`]), live, stale or stopped; when the database is
//!   out of reach the list is replaced by the reason (this gateway keeps serving either way).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::{AdminScope, Authorized};
use crate::heartbeat::{BEAT_INTERVAL, STALE_AFTER};
use crate::state::AppState;
use jessy_http::RequestId;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/cluster", get(cluster))
}

/// The gateways (see the module docs) and every core's report.
async fn cluster(
    _: Authorized<AdminScope>,
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
) -> Json<Value> {
    let stale_after = STALE_AFTER.as_secs_f64();
    let this_address = crate::heartbeat::advertised(state.listen_addr());
    let (cores, gateways) = tokio::join!(state.upstreams().core_reports(&request_id), async {
        match state.heartbeat() {
            None => json!({
                "mode": "standalone",
                "this_gateway": null,
                "gateways": [{
                    "id": null,
                    "address": this_address,
                    "version": env!("CARGO_PKG_VERSION"),
                    "started_at": null,
                    "uptime_seconds": state.uptime().as_secs(),
                    "last_seen_at": null,
                    "seen_seconds_ago": 0.0,
                    "stopped_at": null,
                    "liveness": "live",
                    "this": true,
                }],
                "gateways_total": 1,
                "gateways_error": null,
            }),
            Some(heartbeat) => {
                let (rows, total, error) = match heartbeat.list().await {
                    Ok(list) => (list.rows, list.total, None),
                    Err(problem) => (Vec::new(), 0, Some(problem)),
                };
                let rows: Vec<Value> = rows
                    .iter()
                    .map(|row| {
                        json!({
                            "id": row.id,
                            "address": row.address,
                            "version": row.version,
                            "started_at": row.started_at,
                            "uptime_seconds": null,
                            "last_seen_at": row.last_seen_at,
                            "seen_seconds_ago": row.seen_secs_ago,
                            "stopped_at": row.stopped_at,
                            "liveness": row.liveness(stale_after).as_str(),
                            "this": row.id == heartbeat.id(),
                        })
                    })
                    .collect();
                json!({
                    "mode": "cluster",
                    "this_gateway": heartbeat.id(),
                    "gateways": rows,
                    "gateways_total": total,
                    "gateways_error": error,
                })
            }
        }
    });
    let mut answer = gateways;
    answer["beat_interval_seconds"] = json!(BEAT_INTERVAL.as_secs());
    answer["stale_after_seconds"] = json!(STALE_AFTER.as_secs());
    answer["upstreams_up"] = json!(state.upstreams().healthy_count());
    answer["cores"] = json!(cores);
    Json(answer)
}
