//! `jessy serve`: jessy-core and jessy-api together in one process, on the embedded default
//! registry (or a snapshot directory), with a development API key — the one-command start.
//! The services themselves are [`jessy_cli::stack`]; this module parses flags and prints.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser};
use jessy_cli::stack::Stack;

/// Flags of `jessy serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address of the engine service (jessy-core): the internal port. Queries need no
    /// credential there; layer writes need the admin token this command makes for each run.
    #[arg(long, default_value = "127.0.0.1:8080")]
    core_addr: String,
    /// Address of the gateway (jessy-api): the port meant for clients (API keys, rate limits).
    #[arg(long, default_value = "127.0.0.1:3000")]
    api_addr: String,
    /// Address of the gateway's Prometheus `/metrics` listener, or `off`.
    #[arg(long, default_value = "127.0.0.1:9091")]
    metrics_addr: String,
    /// Snapshot directory (created with the default registry when empty; default: the
    /// jessy-core data directory).
    #[arg(long, env = "JESSY_REGISTRY")]
    registry: Option<PathBuf>,
    /// Keys file for the gateway. Each start replaces the key named `dev` in it (the name is
    /// reserved) with a new one that has every scope; other keys are left alone.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Sentence-encoder model directory for the semantic cascade of a snapshot built with
    /// `jessy build --encoder` (as jessy-core's `--encoder`): unsure queries go to it.
    #[arg(long)]
    encoder: Option<PathBuf>,
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
    if let Some(dir) = &args.encoder {
        core_flags.extend(["--encoder".into(), dir.display().to_string()]);
    }
    let core_config = jessy_core::Config::try_parse_from(&core_flags)?;
    core_config.validate()?;
    jessy_http::log::init(&core_config.log, core_config.log_format)?;
    let mut api_config = jessy_api::Config::try_parse_from([
        "jessy-api",
        "--addr",
        args.api_addr.as_str(),
        "--metrics-addr",
        args.metrics_addr.as_str(),
    ])?;
    api_config.keys_file = args.keys.clone();

    let stack = Stack::start(core_config, api_config).await?;
    let (core_addr, api_addr, key) = (stack.core_addr(), stack.api_addr(), stack.key());
    println!(
        "jessy-api (gateway, for clients)  http://{api_addr}   keys file: {}",
        stack.keys().display()
    );
    println!(
        "jessy-core (engine, internal)     http://{core_addr}   registry: {}",
        stack.registry().display()
    );
    println!("web console                       http://{api_addr}/console   (sign in with the key below)");
    if let Some(metrics) = stack.metrics_addr() {
        println!("gateway metrics                   http://{metrics}/metrics");
    }
    println!();
    println!("development API key (scopes query,write,admin; replaces the previous `dev` key):");
    println!("  export JESSY_KEY={key}");
    println!();
    println!("try:");
    println!(
        "  curl -s http://{api_addr}/api/v1/query -H \"Authorization: Bearer $JESSY_KEY\" -H 'Content-Type: application/json' \\\n       -d '{{\"query\": \"I am anxious about my exam tomorrow\"}}'"
    );
    println!("  curl -s http://{api_addr}/api/health");
    println!("press Ctrl-C to stop");

    jessy_http::shutdown::signal().await;
    stack.stop().await
}
