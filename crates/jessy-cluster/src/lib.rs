//! # jessy-cluster
//!
//! The shared store of a Jessy cluster: many jessy-core processes and many jessy-api gateways
//! serving one registry, with no replication protocol of Jessy's own. PostgreSQL is the
//! registry of record; Redis holds the rate-limit state gateways share.
//!
//! - [`migrate`]: the schema, as numbered migrations applied under an advisory lock, so any
//!   number of services may start at once against a fresh database.
//! - [`generations`]: published snapshot generations (number, SHA-256 digest, size, bytes in
//!   1 MiB chunks) and the pointer to the current one; publishing is part of the caller's
//!   transaction, so a generation and the change it holds commit together or not at all.
//! - [`source`]: the registry source (dimensions, layers, calibration lines) as rows, written
//!   in the same transaction as the generation built from it.
//! - [`feedback`]: the feedback log (append a batch durably; read all or since an id).
//! - [`keys`]: gateway API keys (SHA-256 digests, scopes, revocation).
//! - [`gateways`]: gateway heartbeats, so gateways (and the console) can list each other.
//! - [`listen`]: a connection that delivers `NOTIFY` messages (new generations, key changes).
//! - [`ratelimit`]: a GCRA rate limiter as one atomic Redis script.
//! - [`store`]: what the services use: a [`Connection`] and the build protocol
//!   ([`store::BuildTx`]: one transaction under the build lock that publishes a generation
//!   with its source change), so no service opens transactions or takes locks itself.
//!
//! The crate knows nothing of routing: generation bytes are opaque here and verified by the
//! engine that installs them. The table modules' functions take a client or transaction the
//! caller owns; only [`store`] and this crate compose them into transactions. The driver is
//! not re-exported: a service that needs more than [`store`] offers asks for it here.
#![deny(unsafe_code)]

pub mod error;
pub mod feedback;
pub mod gateways;
pub mod generations;
pub mod keys;
pub mod listen;
pub mod locks;
pub mod migrate;
pub mod ratelimit;
pub mod source;
pub mod store;

pub use error::ClusterError;
pub use generations::{digest_hex, GenerationHead};
pub use store::{BuildTx, Connection, SourceChange};

/// The channel a `NOTIFY` names when a generation is published; the payload is its number.
pub const GENERATION_CHANNEL: &str = "jessy_generation";
/// The channel a `NOTIFY` names when API keys change (created or revoked).
pub const KEYS_CHANNEL: &str = "jessy_keys";

/// Connects to PostgreSQL at `url` and drives the connection on a tokio task. The client
/// fails its calls once the connection is gone (`Client::is_closed` turns true); callers
/// reconnect. No TLS: clusters run on a private network or a Unix socket, like jessy-core's
/// internal port (document a TLS-terminating proxy such as pgbouncer for anything else).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, ClusterError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|source| ClusterError::Connect {
            url: redact(url),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// A service URL (PostgreSQL or Redis) whose `Debug` and `Display` hide the password, so a
/// configuration printed into a log never leaks it. [`ServiceUrl::expose`] gives the real one
/// to the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// The URL with its password, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ServiceUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<ServiceUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the URL is empty".to_string());
        }
        Ok(ServiceUrl(text.to_string()))
    }
}

impl std::fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

impl std::fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

/// `url` with any password replaced by `***`, for logs and error messages.
pub fn redact(url: &str) -> String {
    // postgres://user:password@host/db → postgres://user:***@host/db
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("host=h user=u"), "host=h user=u");
        let url: super::ServiceUrl = "redis://:pw@h:6379".parse().unwrap();
        assert_eq!(
            format!("{url:?} {url}"),
            "\"redis://:***@h:6379\" redis://:***@h:6379"
        );
        assert_eq!(url.expose(), "redis://:pw@h:6379");
    }
}
