//! Versioned schema migrations, applied by every service on start.
//!
//! Safe when several cores and gateways start at once against an empty database: the whole
//! check-and-apply runs in one transaction holding the [`crate::locks::MIGRATE`] advisory
//! lock, so exactly one process applies each missing migration and the others wait, then find
//! nothing to do. PostgreSQL DDL is transactional, so a process killed halfway leaves the
//! schema as it was. Migrations are append-only: never edit a released one, add the next.

use tokio_postgres::Client;

use crate::{locks, ClusterError};

/// The migrations, in order; version = position + 1.
pub const MIGRATIONS: &[&str] = &[
    // 1: generations, the current pointer, the registry source, feedback, API keys.
    r#"
    CREATE TABLE jessy_generations (
        generation  BIGINT PRIMARY KEY,
        digest      TEXT NOT NULL,
        size        BIGINT NOT NULL,
        chunks      INTEGER NOT NULL,
        parent      BIGINT,
        built_by    TEXT NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE jessy_generation_chunks (
        generation  BIGINT NOT NULL REFERENCES jessy_generations ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        bytes       BYTEA NOT NULL,
        PRIMARY KEY (generation, seq)
    );
    CREATE TABLE jessy_current (
        singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        generation  BIGINT NOT NULL REFERENCES jessy_generations
    );
    CREATE TABLE jessy_registry (
        singleton    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        name         TEXT NOT NULL,
        description  TEXT NOT NULL,
        out_of_scope JSONB NOT NULL,
        generation   BIGINT NOT NULL
    );
    CREATE TABLE jessy_dimensions (
        id          TEXT PRIMARY KEY,
        body        JSONB NOT NULL,
        generation  BIGINT NOT NULL
    );
    CREATE TABLE jessy_layers (
        dimension   TEXT NOT NULL,
        id          TEXT NOT NULL,
        body        JSONB NOT NULL,
        generation  BIGINT NOT NULL,
        PRIMARY KEY (dimension, id)
    );
    CREATE TABLE jessy_calibration_lines (
        seq         INTEGER PRIMARY KEY,
        text        TEXT NOT NULL,
        dimension   TEXT,
        layer       TEXT
    );
    CREATE TABLE jessy_feedback (
        id          BIGSERIAL PRIMARY KEY,
        text        TEXT NOT NULL,
        layer       TEXT,
        query_id    TEXT,
        received_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE jessy_api_keys (
        id          BIGSERIAL PRIMARY KEY,
        name        TEXT NOT NULL,
        digest      TEXT NOT NULL UNIQUE,
        scopes      TEXT NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        revoked_at  TIMESTAMPTZ
    );
    CREATE INDEX jessy_api_keys_name ON jessy_api_keys (name);
    "#,
    // 2: gateway heartbeats, so each gateway (and the console's Cluster page) can list the
    // others. Times are the database's clock (`now()`), never a gateway's, so ages compare.
    r#"
    CREATE TABLE jessy_gateways (
        id           TEXT PRIMARY KEY,
        address      TEXT NOT NULL,
        version      TEXT NOT NULL,
        started_at   TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        stopped_at   TIMESTAMPTZ
    );
    CREATE INDEX jessy_gateways_last_seen ON jessy_gateways (last_seen_at DESC);
    "#,
];

/// The schema version this binary writes and reads.
pub fn latest() -> i32 {
    MIGRATIONS.len() as i32
}

/// Brings the schema up to [`latest`]; returns the versions applied (empty when another
/// process already did). Refuses ([`ClusterError::SchemaTooNew`]) a database migrated by a
/// newer binary, which may have changed tables this one would misread.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, ClusterError> {
    let tx = client.transaction().await?;
    locks::lock_for_transaction(&tx, locks::MIGRATE).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS jessy_schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM jessy_schema_migrations",
            &[],
        )
        .await?
        .get(0);
    if found > latest() {
        return Err(ClusterError::SchemaTooNew {
            known: latest(),
            found,
        });
    }
    let mut applied = Vec::new();
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO jessy_schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        applied.push(version);
    }
    tx.commit().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "cluster schema migrated");
    }
    Ok(applied)
}
