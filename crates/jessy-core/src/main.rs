//! The `jessy-core` binary: configuration, logging, then [`jessy_core::Server::start`] until
//! SIGINT/SIGTERM.
//!
//! Exit status: 0 after a graceful shutdown (SIGTERM/SIGINT), 1 when the service cannot start
//! (bad configuration, unreadable or corrupt snapshot, address in use) or the server fails.
#![deny(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use jessy_core::{Config, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    if let Err(error) = jessy_http::log::init(&config.log, config.log_format) {
        eprintln!("jessy-core: {error}");
        return ExitCode::FAILURE;
    }
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "jessy-core failed");
            eprintln!("jessy-core: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let server = Server::start(config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "jessy-core listening on http://{}", server.addr())
            .context("cannot write to stdout")?;
        stdout.flush().context("cannot write to stdout")?;
    }
    tokio::spawn(jessy_http::shutdown::cancel_on_signal(
        server.shutdown_token(),
    ));
    server.wait().await
}
