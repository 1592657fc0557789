//! The `jessy-api` binary: parse flags, then either run `keygen` or serve until
//! SIGINT/SIGTERM. Everything else lives in the library so tests and `jessy serve` share it.
//!
//! Exit codes: 0 after a clean shutdown or a successful keygen, 1 on any error (the cause
//! chain is printed on stderr).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use jessy_api::{AppState, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jessy-api: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Keygen {
            name,
            keys,
            cluster,
            scopes,
        }) => {
            let (key, place) = match (cluster, keys) {
                (Some(url), _) => (
                    jessy_api::cluster_keys::keygen(&url, &name, scopes).await?,
                    "the cluster".to_owned(),
                ),
                (None, Some(keys)) => (
                    jessy_api::auth::generate_key_with_scopes(&name, scopes, &keys)?,
                    keys.display().to_string(),
                ),
                (None, None) => anyhow::bail!("give --keys FILE or --cluster URL"),
            };
            println!("{key}");
            eprintln!(
                "added key {name:?} (scopes: {scopes}) to {place}; save it now, it cannot be shown again"
            );
            return Ok(());
        }
        Some(Command::Revoke { name, cluster }) => {
            let revoked = jessy_api::cluster_keys::revoke(&cluster, &name).await?;
            eprintln!("revoked {revoked} key(s) named {name:?} in the cluster");
            return Ok(());
        }
        Some(Command::AdminToken { file }) => {
            if jessy_api::secret::write_admin_token(&file)? {
                eprintln!("wrote a new admin token to {}", file.display());
            } else {
                eprintln!("{} already exists; left as it is", file.display());
            }
            return Ok(());
        }
        None => {}
    }
    let config = cli.config;
    jessy_http::log::init(&config.log_filter, config.log_format)?;
    // Fallible setup (keys file, URLs) before binding, so a bad config never prints the
    // "listening" line that scripts wait for.
    let state = AppState::new(&config)?;
    // Cluster mode: keys from PostgreSQL and the Redis limiter before the first request.
    state.connect_cluster().await?;
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let metrics = match config.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "jessy-api listening on http://{addr}")?;
        stdout.flush()?;
    }
    let metrics =
        metrics.map(|listener| tokio::spawn(jessy_api::serve_metrics(listener, state.clone())));
    let shutdown = jessy_http::CancellationToken::new();
    tokio::spawn(jessy_http::shutdown::cancel_on_signal(shutdown.clone()));
    let result = jessy_api::serve_with_state(listener, state, shutdown).await;
    if let Some(task) = metrics {
        task.await.context("metrics task")??;
    }
    result
}
