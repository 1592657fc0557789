//! API keys in cluster mode: stored in the cluster's PostgreSQL ([`jessy_cluster::keys`]),
//! so one `jessy-api keygen --cluster` works on every gateway and one `jessy-api revoke`
//! stops a key everywhere.
//!
//! A gateway loads the active keys at start and reloads them when a change is notified
//! (`LISTEN`), and on an interval because a notification sent while it was disconnected is
//! lost. While the database is unreachable it keeps the keys it last loaded: a revocation made
//! meanwhile takes effect once the gateway reconnects, which is the price of not refusing
//! every client during a database outage.
//!
//! The reloaded keys go to the [`Authenticator`] alone: this module knows nothing else of the
//! gateway.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::auth::keys::{validate_name, NewKey};
use crate::auth::{Authenticator, KeyStore};
use crate::caller::Scopes;

/// How often keys are reloaded without a notification.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Makes a key for `name` with `scopes`, stores its digest in the cluster and returns the key
/// (shown once; only the digest is stored).
pub async fn keygen(url: &str, name: &str, scopes: Scopes) -> anyhow::Result<String> {
    // The name rules of keys files (metric label, log field) hold in the cluster too.
    validate_name(name).map_err(|reason| anyhow::anyhow!("invalid key name: {reason}"))?;
    let NewKey { key, digest } = NewKey::generate();
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

/// Keeps `auth`'s keys equal to the cluster's until `shutdown` is cancelled.
pub async fn follow(
    auth: Arc<Authenticator>,
    url: String,
    shutdown: jessy_http::CancellationToken,
) {
    loop {
        let outcome: anyhow::Result<()> = async {
            let mut listener =
                jessy_cluster::listen::listen(&url, &[jessy_cluster::KEYS_CHANNEL]).await?;
            auth.replace_keys(load(&listener.client).await?);
            let mut ticker = tokio::time::interval(RELOAD_INTERVAL);
            ticker.tick().await;
            loop {
                tokio::select! {
                    note = listener.notifications.recv() => {
                        if note.is_none() {
                            anyhow::bail!("the listening connection closed");
                        }
                        auth.replace_keys(load(&listener.client).await?);
                    }
                    _ = ticker.tick() => auth.replace_keys(load(&listener.client).await?),
                    () = shutdown.cancelled() => return Ok(()),
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
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}
