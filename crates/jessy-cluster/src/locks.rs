//! The advisory-lock keys of the cluster, one per critical section. Transaction-scoped
//! (`pg_advisory_xact_lock`) wherever possible: PostgreSQL releases them at commit, at
//! rollback, and when the holder's connection dies, so a killed process never leaves a lock
//! behind.

/// Serializes schema migrations across every service starting at once.
pub const MIGRATE: i64 = 0x4A45_5353_0000_0001;
/// One builder at a time: held by the transaction that reads the current generation, builds
/// the next one from it and publishes it. Also taken by seeding, so an empty cluster is
/// seeded exactly once.
pub const BUILD: i64 = 0x4A45_5353_0000_0002;

/// Takes `key` for the rest of the transaction `tx` (waits while another holds it).
pub async fn lock_for_transaction(
    tx: &tokio_postgres::Transaction<'_>,
    key: i64,
) -> Result<(), tokio_postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .await
        .map(drop)
}
