//! API keys in cluster mode: stored in the cluster's PostgreSQL ([`jessy_cluster::keys`]),
//! so one `jessy-api keygen --cluster` works on every gateway and one `jessy-api revoke`
//! stops a key everywhere.
//!
//! A gateway loads the active keys at start and reloads them when a change is notified
//! (`LISTEN`), and on an interval because a notification sent while it was disconnected is
//! lost. While the database is unreachable it keeps the keys it last loaded: a revocation made
//! meanwhile takes effect once the gateway reconnects, which is the price of not refusing
//! every client during a database outage.

use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::auth::{KeyStore, Scopes, KEY_PREFIX};
use crate::state::AppState;

/// How often keys are reloaded without a notification.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Makes a key for `name` with `scopes`, stores its digest in the cluster and returns the key
/// (shown once; only the digest is stored).
pub async fn keygen(url: &str, name: &str, scopes: Scopes) -> anyhow::Result<String> {
    // The name rules of keys files (metric label, log field) hold in the cluster too.
    KeyStore::parse(
        std::path::Path::new("<cluster>"),
        &format!("{name}:{}\n", "0".repeat(64)),
    )
    .map_err(|e| anyhow::anyhow!("invalid key name: {e}"))?;
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
    let key = format!("{KEY_PREFIX}{}", hex::encode(secret));
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    let mut client = jessy_cluster::connect(url).await?;
    jessy_cluster::migrate::migrate(&mut client).await?;
    jessy_cluster::keys::insert(&mut client, name, &digest, &scopes.to_string())
        .await
        .context("cannot store the key in the cluster")?;
    Ok(key)
}

/// Revokes every key named `name`; returns how many were active.
pub async fn revoke(url: &str, name: &str) -> anyhow::Result<u64> {
    let mut client = jessy_cluster::connect(url).await?;
    jessy_cluster::migrate::migrate(&mut client).await?;
    Ok(jessy_cluster::keys::revoke(&mut client, name).await?)
}

/// The cluster's active keys as a [`KeyStore`] (parsed by the same rules as a keys file).
pub async fn load(client: &tokio_postgres::Client) -> anyhow::Result<KeyStore> {
    let rows = jessy_cluster::keys::active(client).await?;
    let text: String = rows
        .iter()
        .map(|row| format!("{}:{}:{}\n", row.name, row.digest, row.scopes))
        .collect();
    Ok(KeyStore::parse(
        std::path::Path::new("<cluster jessy_api_keys>"),
        &text,
    )?)
}

/// Connects, migrates and loads the keys once (at start).
pub async fn load_once(url: &str) -> anyhow::Result<KeyStore> {
    let mut client = jessy_cluster::connect(url).await?;
    jessy_cluster::migrate::migrate(&mut client).await?;
    load(&client).await
}

/// Keeps `state`'s keys equal to the cluster's until `shutdown` turns true.
pub async fn follow(state: AppState, url: String, mut shutdown: watch::Receiver<bool>) {
    loop {
        let outcome: anyhow::Result<()> = async {
            let mut listener =
                jessy_cluster::listen::listen(&url, &[jessy_cluster::KEYS_CHANNEL]).await?;
            state.replace_keys(load(&listener.client).await?);
            let mut ticker = tokio::time::interval(RELOAD_INTERVAL);
            ticker.tick().await;
            loop {
                tokio::select! {
                    note = listener.notifications.recv() => {
                        if note.is_none() {
                            anyhow::bail!("the listening connection closed");
                        }
                        state.replace_keys(load(&listener.client).await?);
                    }
                    _ = ticker.tick() => state.replace_keys(load(&listener.client).await?),
                    _ = shutdown.changed() => return Ok(()),
                }
            }
        }
        .await;
        match outcome {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot reload API keys from the cluster; keeping the last ones loaded");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}
