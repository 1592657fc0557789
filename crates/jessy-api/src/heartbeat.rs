//! Cluster mode: this gateway's heartbeat in PostgreSQL, and the list of every gateway of the
//! cluster that `GET /api/v1/cluster` (the console's Cluster page) shows.
//!
//! Gateways never talk to each other; the database is the only thing they share, so each
//! one says it exists there ([`jessy_cluster::gateways`]): a row at start, a beat every
//! [`BEAT_INTERVAL`], `stopped_at` on a clean shutdown. A gateway that has not beaten for
//! [`STALE_AFTER`] is listed as stale, never dropped from the list.
//!
//! The beating task keeps its connection in [`Heartbeat`], and the listing route reuses it, so
//! an auto-refreshing console page costs one query, not one connection, per refresh. While the
//! database is unreachable the task reconnects every [`RETRY_INTERVAL`] and the route says why
//! the list is missing instead of showing an empty one.
//!
//! The task is given what it reports (the advertised address, the start time) rather than the
//! gateway's state, so this module depends on nothing of the gateway but its cluster client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use jessy_cluster::gateways::{self, Beat, GatewayRow};
use tokio_postgres::Client;

/// How often a gateway beats. Five seconds, like the key reload ([`crate::cluster_keys`]): a
/// write per gateway every five seconds is nothing for PostgreSQL, and an operator sees a
/// gateway die within [`STALE_AFTER`].
pub const BEAT_INTERVAL: Duration = Duration::from_secs(5);

/// No beat for this long and the gateway is listed as stale: three missed beats, so one slow
/// beat (a busy database, a GC pause on the database host) does not flap the page.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// Pause before reconnecting after the database was lost.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Most gateways listed. Every gateway start adds a row (a restarted gateway is a new process),
/// so an old cluster accumulates stopped rows; the newest are listed and the total is given.
pub const LIST_LIMIT: i64 = 100;

/// Bound on the last write at shutdown, so a lost database never holds the drain open.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// This gateway's identity and its connection to the cluster database.
pub struct Heartbeat {
    url: String,
    /// `gw-` and 12 random hex digits: unique per process start.
    id: String,
    /// The connection of the beating task, while it is connected.
    client: ArcSwapOption<Client>,
    /// Why the last beat or connection failed, cleared by a successful beat.
    problem: Mutex<Option<String>>,
}

/// By hand: the URL may hold a password, and the client has nothing worth printing.
impl std::fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeat")
            .field("id", &self.id)
            .field("url", &jessy_cluster::redact(&self.url))
            .finish_non_exhaustive()
    }
}

/// The gateways of the cluster as `GET /api/v1/cluster` lists them.
#[derive(Debug, Clone)]
pub struct GatewayList {
    /// The rows, not stopped first, most recently seen first (at most [`LIST_LIMIT`]).
    pub rows: Vec<GatewayRow>,
    /// Rows in the table.
    pub total: u64,
}

impl Heartbeat {
    /// A heartbeat for the cluster database at `url` (not connected until [`run`] starts).
    pub fn new(url: String) -> Heartbeat {
        let mut bytes = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Heartbeat {
            url,
            id: format!("gw-{}", hex::encode(bytes)),
            client: ArcSwapOption::empty(),
            problem: Mutex::new(None),
        }
    }

    /// This gateway's id in `jessy_gateways`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every gateway of the cluster, or why they cannot be listed now.
    pub async fn list(&self) -> Result<GatewayList, String> {
        let Some(client) = self.client.load_full() else {
            let problem = self
                .problem
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            return Err(
                problem.unwrap_or_else(|| "not connected to the cluster database yet".into())
            );
        };
        gateways::list(&*client, LIST_LIMIT)
            .await
            .map(|(rows, total)| GatewayList { rows, total })
            .map_err(|error| format!("cannot list the gateways: {error}"))
    }

    fn set_problem(&self, problem: Option<String>) {
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = problem;
    }
}

/// The address this gateway records: the listener's, with an unspecified IP (`0.0.0.0`, `::`)
/// replaced by the host name, which other machines can resolve, unlike "0.0.0.0".
pub fn advertised(addr: Option<SocketAddr>) -> String {
    let Some(addr) = addr else {
        return "unknown".to_string();
    };
    if !addr.ip().is_unspecified() {
        return addr.to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("{host}:{}", addr.port()),
        None => addr.to_string(),
    }
}

/// Beats every [`BEAT_INTERVAL`] until `shutdown` turns true, then records the stop. Each
/// beat records `address` (see [`advertised`]) and the time since `started`. Reconnects on
/// any error; never returns early.
pub async fn run(
    heartbeat: Arc<Heartbeat>,
    address: String,
    started: Instant,
    shutdown: jessy_http::CancellationToken,
) {
    let version = env!("CARGO_PKG_VERSION");
    loop {
        let outcome: Result<(), String> = async {
            let client = jessy_cluster::connect(&heartbeat.url)
                .await
                .map_err(|e| e.to_string())?;
            let client = Arc::new(client);
            heartbeat.client.store(Some(client.clone()));
            let mut ticker = tokio::time::interval(BEAT_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let beat = Beat {
                            id: heartbeat.id(),
                            address: &address,
                            version,
                            uptime_secs: started.elapsed().as_secs_f64(),
                        };
                        gateways::beat(&*client, &beat)
                            .await
                            .map_err(|e| format!("heartbeat failed: {e}"))?;
                        heartbeat.set_problem(None);
                    }
                    () = shutdown.cancelled() => {
                        let stop = gateways::stopped(&*client, heartbeat.id());
                        if let Ok(Err(error)) = tokio::time::timeout(STOP_TIMEOUT, stop).await {
                            tracing::warn!(%error, "cannot record this gateway's stop in the cluster");
                        }
                        return Ok(());
                    }
                }
            }
        }
        .await;
        heartbeat.client.store(None);
        match outcome {
            Ok(()) => return,
            Err(problem) => {
                tracing::warn!(error = %problem, "gateway heartbeat: the cluster database is unreachable; retrying");
                heartbeat.set_problem(Some(problem));
                tokio::select! {
                    _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_address_is_replaced_by_the_host_name() {
        assert_eq!(advertised(None), "unknown");
        let addr: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert_eq!(advertised(Some(addr)), "127.0.0.1:3000");
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let shown = advertised(Some(any));
        assert!(shown.ends_with(":3000"), "{shown}");
        assert!(
            !shown.starts_with("0.0.0.0")
                || std::fs::metadata("/proc/sys/kernel/hostname").is_err(),
            "{shown}"
        );
    }

    #[test]
    fn ids_differ_per_process_start() {
        let (a, b) = (Heartbeat::new("x".into()), Heartbeat::new("x".into()));
        assert_ne!(a.id(), b.id());
        assert!(
            a.id().starts_with("gw-") && a.id().len() == 15,
            "{}",
            a.id()
        );
    }
}
