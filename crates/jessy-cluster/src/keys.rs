//! Gateway API keys in the cluster: a key made once works on every gateway, and a revoked
//! one stops working on all of them.
//!
//! Only SHA-256 digests are stored (as in the gateways' keys files). Changes `NOTIFY`
//! [`crate::KEYS_CHANNEL`] in the same transaction, so gateways listening reload at once;
//! they also reload on an interval, because a notification sent while a gateway was
//! disconnected is never replayed.

use tokio_postgres::GenericClient;

use crate::ClusterError;

/// One active key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// The key's name (several keys may share one: rotation).
    pub name: String,
    /// SHA-256 of the key, lowercase hex.
    pub digest: String,
    /// Its scopes, as the gateway writes them (`query,write`).
    pub scopes: String,
}

/// Adds a key and notifies gateways, in one transaction.
pub async fn insert(
    client: &mut tokio_postgres::Client,
    name: &str,
    digest: &str,
    scopes: &str,
) -> Result<(), ClusterError> {
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO jessy_api_keys (name, digest, scopes) VALUES ($1, $2, $3)",
        &[&name, &digest, &scopes],
    )
    .await?;
    tx.execute("SELECT pg_notify($1, 'insert')", &[&crate::KEYS_CHANNEL])
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every active key named `name` and notifies gateways; returns how many were.
pub async fn revoke(client: &mut tokio_postgres::Client, name: &str) -> Result<u64, ClusterError> {
    let tx = client.transaction().await?;
    let revoked = tx
        .execute(
            "UPDATE jessy_api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await?;
    tx.execute("SELECT pg_notify($1, 'revoke')", &[&crate::KEYS_CHANNEL])
        .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Every key not revoked, oldest first.
pub async fn active(client: &impl GenericClient) -> Result<Vec<KeyRow>, ClusterError> {
    Ok(client
        .query(
            "SELECT name, digest, scopes FROM jessy_api_keys WHERE revoked_at IS NULL ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|row| KeyRow {
            name: row.get(0),
            digest: row.get(1),
            scopes: row.get(2),
        })
        .collect())
}
