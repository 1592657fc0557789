//! `jessy cluster …`: operator commands for cluster mode (see docs/operations.md).

use std::path::PathBuf;

use anyhow::Context as _;

/// The `jessy cluster` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Publish a snapshot directory to the cluster: seeds an empty cluster (instead of letting
    /// the first core seed it from its own registry), or with --replace becomes the cluster's
    /// next generation; every core follows.
    Push {
        /// Snapshot directory (made by `jessy build`).
        snapshot: PathBuf,
        /// The cluster's PostgreSQL URL.
        #[arg(long = "cluster", env = "JESSY_CLUSTER_URL", hide_env_values = true)]
        cluster: String,
        /// Replace the registry of a cluster that already has one.
        #[arg(long)]
        replace: bool,
    },
}

/// Runs a `jessy cluster` subcommand on a runtime of its own (the CLI is otherwise blocking).
pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        ClusterCommand::Push {
            snapshot,
            cluster,
            replace,
        } => {
            let head = runtime.block_on(jessy_core::cluster::push(&cluster, &snapshot, replace))?;
            eprintln!(
                "published {} as cluster generation {} ({} bytes, sha256 {})",
                snapshot.display(),
                head.generation,
                head.size,
                head.digest
            );
            Ok(())
        }
    }
}
