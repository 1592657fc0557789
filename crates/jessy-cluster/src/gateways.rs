//! Gateway heartbeats: how the gateways of one cluster learn that the others exist.
//!
//! Gateways share no connection with each other, only the database, so each one records a row
//! (`jessy_gateways`) when it starts and refreshes its `last_seen_at` on an interval; a gateway
//! that stops cleanly stamps `stopped_at`. Reading the table lists every gateway the cluster
//! has known. Rows are never deleted here: a gateway that stopped beating is shown as *stale*
//! (it crashed, hangs, or lost the database) rather than vanishing, because an operator looking
//! for a missing gateway needs to see that it is missing. `docs/operations.md` has the one
//! `DELETE` that forgets old rows.
//!
//! Every time is the database's clock (`now()`): gateways on different machines may disagree
//! about the time, and an age computed from two clocks would call a live gateway stale.

use tokio_postgres::GenericClient;

use crate::ClusterError;

/// What a gateway says about itself on each beat.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat<'a> {
    /// Unique per gateway process (a new one at each start), so a restarted gateway is a new
    /// row and the old one is visibly stopped or stale.
    pub id: &'a str,
    /// Where it listens, as it knows it (`host:port`).
    pub address: &'a str,
    /// Its version (`CARGO_PKG_VERSION`).
    pub version: &'a str,
    /// Seconds it has been running: `started_at` is `now() - uptime` on the database's clock.
    pub uptime_secs: f64,
}

/// How a listed gateway is doing, judged from its last beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Beat within the staleness bound.
    Live,
    /// No beat for longer than the bound, and it did not say it stopped.
    Stale,
    /// It stopped cleanly (`stopped_at` is set).
    Stopped,
}

impl Liveness {
    /// `live`, `stale` or `stopped`, as the gateway's API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Live => "live",
            Liveness::Stale => "stale",
            Liveness::Stopped => "stopped",
        }
    }
}

/// One gateway as the table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRow {
    /// Its id (see [`Beat::id`]).
    pub id: String,
    /// Its address.
    pub address: String,
    /// Its version.
    pub version: String,
    /// When it started, RFC 3339 in UTC.
    pub started_at: String,
    /// When it last beat, RFC 3339 in UTC.
    pub last_seen_at: String,
    /// Seconds since its last beat, on the database's clock.
    pub seen_secs_ago: f64,
    /// When it stopped cleanly, if it did.
    pub stopped_at: Option<String>,
}

impl GatewayRow {
    /// Live, stale (no beat for more than `stale_after_secs`) or stopped.
    pub fn liveness(&self, stale_after_secs: f64) -> Liveness {
        if self.stopped_at.is_some() {
            Liveness::Stopped
        } else if self.seen_secs_ago > stale_after_secs {
            Liveness::Stale
        } else {
            Liveness::Live
        }
    }
}

/// Records a beat: inserts the gateway's row the first time, refreshes `last_seen_at` after.
/// A beat after a recorded stop clears the stop (the same process beats only while it runs).
pub async fn beat(client: &impl GenericClient, beat: &Beat<'_>) -> Result<(), ClusterError> {
    client
        .execute(
            "INSERT INTO jessy_gateways (id, address, version, started_at, last_seen_at)
             VALUES ($1, $2, $3, now() - make_interval(secs => $4), now())
             ON CONFLICT (id) DO UPDATE
                SET address = EXCLUDED.address, version = EXCLUDED.version,
                    last_seen_at = now(), stopped_at = NULL",
            &[&beat.id, &beat.address, &beat.version, &beat.uptime_secs],
        )
        .await?;
    Ok(())
}

/// Stamps the gateway `id` stopped (a clean shutdown), so it is listed as stopped, not stale.
pub async fn stopped(client: &impl GenericClient, id: &str) -> Result<(), ClusterError> {
    client
        .execute(
            "UPDATE jessy_gateways SET stopped_at = now(), last_seen_at = now() WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

/// At most `limit` gateways, those not stopped first, most recently seen first; and how many
/// rows the table holds in all (the page says when it shows fewer).
pub async fn list(
    client: &impl GenericClient,
    limit: i64,
) -> Result<(Vec<GatewayRow>, u64), ClusterError> {
    const TIME: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";
    let sql = format!(
        "SELECT id, address, version,
                to_char(started_at AT TIME ZONE 'UTC', {TIME}),
                to_char(last_seen_at AT TIME ZONE 'UTC', {TIME}),
                EXTRACT(EPOCH FROM now() - last_seen_at)::float8,
                to_char(stopped_at AT TIME ZONE 'UTC', {TIME})
           FROM jessy_gateways
          ORDER BY (stopped_at IS NULL) DESC, last_seen_at DESC, id
          LIMIT $1"
    );
    let rows = client
        .query(&sql, &[&limit])
        .await?
        .iter()
        .map(|row| GatewayRow {
            id: row.get(0),
            address: row.get(1),
            version: row.get(2),
            started_at: row.get(3),
            last_seen_at: row.get(4),
            seen_secs_ago: row.get(5),
            stopped_at: row.get(6),
        })
        .collect();
    let total: i64 = client
        .query_one("SELECT count(*) FROM jessy_gateways", &[])
        .await?
        .get(0);
    Ok((rows, total.max(0) as u64))
}
