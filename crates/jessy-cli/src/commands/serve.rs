//! `jessy serve`: jessy-core and jessy-api together in one process, on the embedded default
//! registry (or a snapshot directory), with a development API key — the one-command start.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser};
use tokio::net::TcpListener;

/// Flags of `jessy serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address of the engine service (jessy-core).
    #[arg(long, default_value = "127.0.0.1:8080")]
    core_addr: String,
    /// Address of the public gateway (jessy-api).
    #[arg(long, default_value = "127.0.0.1:3000")]
    api_addr: String,
    /// Snapshot directory (created with the default registry when empty; default: the
    /// jessy-core data directory).
    #[arg(long, env = "JESSY_REGISTRY")]
    registry: Option<PathBuf>,
    /// Keys file for the gateway; a development key named `dev` is added to it at each start.
    #[arg(long)]
    keys: Option<PathBuf>,
}

/// Runs both services until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut core_flags = vec![
        "jessy-core".to_string(),
        "--addr".into(),
        args.core_addr.clone(),
    ];
    if let Some(dir) = &args.registry {
        core_flags.extend(["--registry".into(), dir.display().to_string()]);
    }
    let core_config = jessy_core::Config::try_parse_from(&core_flags)?;
    core_config.validate()?;
    jessy_core::telemetry::init(&core_config.log, core_config.log_format)?;
    let registry = core_config.registry_dir()?;
    let engine = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || jessy_core::load_engine(&registry)).await??
    };
    let core_listener = TcpListener::bind(&args.core_addr)
        .await
        .with_context(|| format!("binding {}", args.core_addr))?;
    let core_addr = core_listener.local_addr()?;
    let core_state = jessy_core::AppState::new(Arc::new(engine), core_config);

    let keys = args
        .keys
        .clone()
        .unwrap_or_else(|| registry.join("dev-api-keys"));
    let key = jessy_api::generate_key("dev", &keys).context("creating the development API key")?;
    let api_config = jessy_api::Config::try_parse_from([
        "jessy-api".to_string(),
        "--addr".into(),
        args.api_addr.clone(),
        "--core".into(),
        format!("http://{core_addr}"),
        "--keys".into(),
        keys.display().to_string(),
    ])?;
    let api_listener = TcpListener::bind(&args.api_addr)
        .await
        .with_context(|| format!("binding {}", args.api_addr))?;
    let api_addr = api_listener.local_addr()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let core = tokio::spawn(jessy_core::serve(
        core_listener,
        core_state,
        stopped(stop_rx.clone()),
    ));
    let api = tokio::spawn(jessy_api::serve(api_listener, api_config, stopped(stop_rx)));

    println!(
        "jessy-core (engine)  http://{core_addr}   registry: {}",
        registry.display()
    );
    println!(
        "jessy-api (gateway)  http://{api_addr}   keys file: {}",
        keys.display()
    );
    println!("development API key (shown once): {key}");
    println!();
    println!("try:");
    println!(
        "  curl -s http://{api_addr}/api/v1/query -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n       -d '{{\"query\": \"I am anxious about my exam tomorrow\"}}'"
    );
    println!("  curl -s http://{core_addr}/health");
    println!("press Ctrl-C to stop");

    jessy_core::shutdown_signal().await;
    let _ = stop_tx.send(true);
    let (core, api) = tokio::join!(core, api);
    core.context("jessy-core task")??;
    api.context("jessy-api task")??;
    Ok(())
}
