//! jessy-core and jessy-api in one process: the engine service on one listener, the gateway
//! on another in front of it, both stopped by one signal.
//!
//! `jessy serve` runs this for a one-command start; the BDD suite and other tests start it
//! through `jessy-testkit` on ephemeral ports. Printing, logging setup and waiting for Ctrl-C
//! stay with the caller (they belong to whoever owns the process).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Name of the development API key [`Stack::start`] adds to the keys file.
pub const DEV_KEY_NAME: &str = "dev";

/// A running jessy-core + jessy-api pair. Dropping it asks both to stop without waiting;
/// [`Stack::stop`] stops them and waits for both to drain.
pub struct Stack {
    core_addr: SocketAddr,
    api_addr: SocketAddr,
    registry: PathBuf,
    keys: PathBuf,
    key: String,
    stop: watch::Sender<bool>,
    tasks: Option<(ServiceTask, ServiceTask)>,
}

type ServiceTask = JoinHandle<anyhow::Result<()>>;

impl Stack {
    /// Loads the snapshot of `core` (building the default registry into an empty directory),
    /// binds `core.addr` and `api.addr` (port 0 picks a free port), adds a development key
    /// named [`DEV_KEY_NAME`] to `api.keys_file` (default: `dev-api-keys` in the snapshot
    /// directory), points the gateway at the bound core, and starts serving both.
    ///
    /// Every fallible step (configuration, snapshot, both binds, the key) happens before
    /// anything is served, so an error leaves nothing running. `api.core_urls` is replaced.
    pub async fn start(
        core: jessy_core::Config,
        mut api: jessy_api::Config,
    ) -> anyhow::Result<Stack> {
        core.validate()?;
        let registry = core.registry_dir()?;
        let engine = {
            let registry = registry.clone();
            tokio::task::spawn_blocking(move || jessy_core::load_engine(&registry))
                .await
                .context("loading the snapshot")??
        };
        let core_listener = bind(core.addr).await?;
        let core_addr = core_listener.local_addr()?;
        let core_state = jessy_core::AppState::new(Arc::new(engine), core);

        let keys = api
            .keys_file
            .clone()
            .unwrap_or_else(|| registry.join("dev-api-keys"));
        let key = jessy_api::generate_key(DEV_KEY_NAME, &keys)
            .context("creating the development API key")?;
        api.keys_file = Some(keys.clone());
        api.core_urls = vec![
            jessy_api::config::parse_core_url(&format!("http://{core_addr}"))
                .map_err(anyhow::Error::msg)?,
        ];
        let api_state = jessy_api::AppState::new(&api)?;
        let api_listener = bind(api.addr).await?;
        let api_addr = api_listener.local_addr()?;

        let (stop, stopped) = watch::channel(false);
        let core_task = tokio::spawn(jessy_core::serve(
            core_listener,
            core_state,
            wait_for_stop(stopped.clone()),
        ));
        let api_task = tokio::spawn(jessy_api::serve_with_state(
            api_listener,
            api_state,
            wait_for_stop(stopped),
        ));
        Ok(Stack {
            core_addr,
            api_addr,
            registry,
            keys,
            key,
            stop,
            tasks: Some((core_task, api_task)),
        })
    }

    /// Where jessy-core listens.
    pub fn core_addr(&self) -> SocketAddr {
        self.core_addr
    }

    /// Where jessy-api listens.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The snapshot directory jessy-core serves.
    pub fn registry(&self) -> &Path {
        &self.registry
    }

    /// The gateway's keys file.
    pub fn keys(&self) -> &Path {
        &self.keys
    }

    /// The development API key (its digest is in [`Stack::keys`]; the key itself is only here).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Stops both services and waits until they have drained; the first error of either wins.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let Some((core, api)) = self.tasks.take() else {
            return Ok(());
        };
        let (core, api) = tokio::join!(core, api);
        core.context("jessy-core task")??;
        api.context("jessy-api task")??;
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
