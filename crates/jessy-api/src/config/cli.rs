//! The `jessy-api` binary's command line: serve (no subcommand, the flags of [`Config`]) or
//! one administrative action on keys and tokens.
//!
//! Kept apart from [`Config`] because embedders (`jessy serve`, the test kit) build a
//! `Config` and never see these subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::Config;
use crate::caller::Scopes;

/// Command line of the `jessy-api` binary: either serve (no subcommand) or manage keys.
#[derive(Debug, Parser)]
#[command(
    name = "jessy-api",
    version,
    about = "Public HTTP gateway for jessy-core"
)]
pub struct Cli {
    /// A one-off administrative action instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings used when serving.
    #[command(flatten)]
    pub config: Config,
}

/// Administrative subcommands of the binary.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Create a random API key, append its SHA-256 to the keys file and print the key once.
    ///
    /// Only the digest is stored, so a leaked keys file does not leak usable keys; the printed
    /// key cannot be recovered later and must be saved by the operator.
    Keygen {
        /// Name of the client the key is for; it labels metrics and the rate-limit bucket.
        name: String,
        /// Keys file to append to (created with mode 0600 if absent).
        #[arg(
            long = "keys",
            env = "JESSY_API_KEYS_FILE",
            required_unless_present = "cluster",
            conflicts_with = "cluster"
        )]
        keys: Option<PathBuf>,
        /// Cluster mode: store the key in the cluster's PostgreSQL instead of a file; it works
        /// on every gateway of the cluster at once.
        #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
        cluster: Option<String>,
        /// What the key may do, comma-separated: `query` (queries, stream, dimensions),
        /// `write` (layer writes), `admin` (health details, status).
        #[arg(long, default_value = "query")]
        scopes: Scopes,
    },
    /// Cluster mode: revoke every key named NAME in the cluster; every gateway stops
    /// accepting them within a second (notified) or a poll interval at worst.
    Revoke {
        /// Name of the keys to revoke.
        name: String,
        /// The cluster's PostgreSQL URL.
        #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
        cluster: String,
    },
    /// Write a random admin token to FILE (mode 0600) unless FILE already holds one: the
    /// shared secret for jessy-core's `--admin-token-file` and this gateway's
    /// `--core-admin-token-file`. Prints nothing secret.
    AdminToken {
        /// File to create.
        file: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_subcommand_parses() {
        let cli = Cli::try_parse_from(["jessy-api", "keygen", "alice", "--keys", "/tmp/k"])
            .expect("parse");
        assert_eq!(
            cli.command,
            Some(Command::Keygen {
                name: "alice".into(),
                keys: Some(PathBuf::from("/tmp/k")),
                cluster: None,
                scopes: Scopes::DEFAULT,
            })
        );
        let cli = Cli::try_parse_from([
            "jessy-api",
            "keygen",
            "ops",
            "--keys",
            "/tmp/k",
            "--scopes",
            "query,admin",
        ])
        .expect("parse");
        assert!(matches!(
            cli.command,
            Some(Command::Keygen { scopes, .. }) if scopes.to_string() == "query,admin"
        ));
        assert!(Cli::try_parse_from([
            "jessy-api",
            "keygen",
            "x",
            "--keys",
            "k",
            "--scopes",
            "root"
        ])
        .is_err());
        let serve = Cli::try_parse_from(["jessy-api", "--addr", "127.0.0.1:0"]).expect("parse");
        assert_eq!(serve.command, None);
        // Cluster keys: --cluster instead of --keys, never both, and one of them is needed.
        let cli = Cli::try_parse_from(["jessy-api", "keygen", "c", "--cluster", "postgres://h/db"])
            .expect("parse");
        assert!(matches!(
            cli.command,
            Some(Command::Keygen { keys: None, cluster: Some(url), .. }) if url == "postgres://h/db"
        ));
        assert!(Cli::try_parse_from([
            "jessy-api",
            "keygen",
            "c",
            "--cluster",
            "postgres://h/db",
            "--keys",
            "k"
        ])
        .is_err());
        if std::env::var_os("JESSY_API_KEYS_FILE").is_none()
            && std::env::var_os("JESSY_CLUSTER_URL").is_none()
        {
            assert!(Cli::try_parse_from(["jessy-api", "keygen", "c"]).is_err());
        }
    }
}
