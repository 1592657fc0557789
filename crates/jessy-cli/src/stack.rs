//! jessy-core and jessy-api in one process: the engine service on one listener, the gateway
//! on another in front of it, both stopped by one signal.
//!
//! `jessy serve` runs this for a one-command start; the BDD suite and other tests start it
//! through `jessy-testkit` on ephemeral ports. Printing, logging setup and waiting for Ctrl-C
//! stay with the caller (they belong to whoever owns the process).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jessy_http::{CancellationToken, Secret};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Name of the development API key [`Stack::start`] puts in the keys file. The name is
/// reserved: every start replaces all keys of that name with a new one.
pub const DEV_KEY_NAME: &str = "dev";

/// A running jessy-core + jessy-api pair. Dropping it asks both to stop without waiting;
/// [`Stack::stop`] stops them and waits for both to drain.
pub struct Stack {
    core: Option<jessy_core::Server>,
    core_addr: SocketAddr,
    api_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    registry: PathBuf,
    keys: PathBuf,
    key: String,
    /// Stops both services: the gateway's token, which also cancels the core's.
    stop: CancellationToken,
    api_task: Option<ServiceTask>,
    metrics_task: Option<ServiceTask>,
}

type ServiceTask = JoinHandle<anyhow::Result<()>>;

impl Stack {
    /// Loads the snapshot of `core` (building the default registry into an empty directory),
    /// binds `core.addr`, `api.addr` and `api.metrics_addr` (port 0 picks a free port), makes
    /// a development key named [`DEV_KEY_NAME`] with every scope the only `dev` key of
    /// `api.keys_file` (default: `dev-api-keys` in the snapshot directory; earlier `dev` keys
    /// stop working), points the gateway at the bound core, and starts serving both.
    ///
    /// Layer writes: unless `core` already has an admin token (or allows unauthenticated
    /// writes), a random one is made for this run and given to both services, so writes work
    /// through the gateway (with the dev key's `write` scope) and nobody else can write to the
    /// core port. A token configured on `core` is passed to the gateway too.
    ///
    /// Every fallible step (configuration, snapshot, binds, the key) happens before
    /// anything is served, so an error leaves nothing running. `api.core_urls` is replaced.
    pub async fn start(
        mut core: jessy_core::Config,
        mut api: jessy_api::Config,
    ) -> anyhow::Result<Stack> {
        core.validate()?;
        match core.write_token()? {
            Some(token) => {
                if api.core_admin_token.is_none() && api.core_admin_token_file.is_none() {
                    api.core_admin_token = Some(token);
                }
            }
            None if core.allow_unauthenticated_writes => {}
            None => {
                let token = jessy_api::secret::random_token();
                let token = Secret::new(&token)?;
                core.admin_token = Some(token.clone());
                api.core_admin_token = Some(token);
                api.core_admin_token_file = None;
            }
        }
        let registry = core.registry_dir()?;
        let engine = jessy_core::Server::load(&core).await?;
        let core_listener = bind(core.addr).await?;
        let core_addr = core_listener.local_addr()?;
        let keys = api
            .keys_file
            .clone()
            .unwrap_or_else(|| registry.join("dev-api-keys"));
        let key = jessy_api::auth::replace_key(DEV_KEY_NAME, jessy_api::auth::Scopes::ALL, &keys)
            .context("creating the development API key")?;
        api.keys_file = Some(keys.clone());
        api.core_urls = vec![
            jessy_api::config::parse_core_url(&format!("http://{core_addr}"))
                .map_err(anyhow::Error::msg)?,
        ];
        let api_state = jessy_api::AppState::new(&api)?;
        let api_listener = bind(api.addr).await?;
        let api_addr = api_listener.local_addr()?;
        let metrics_listener = match api.metrics_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(listener) => Some(listener.local_addr()?),
            None => None,
        };
        // The core starts after every other fallible step: from here on nothing can fail
        // before both serve.
        let core_server = jessy_core::Server::start_on(core_listener, engine, core).await?;
        let metrics_task = metrics_listener
            .map(|listener| tokio::spawn(jessy_api::serve_metrics(listener, api_state.clone())));
        let stop = CancellationToken::new();
        let core_stop = core_server.shutdown_token();
        let api_task = tokio::spawn({
            let stop = stop.clone();
            async move {
                let served = jessy_api::serve_with_state(api_listener, api_state, stop).await;
                // The gateway drains first, so its requests in flight still reach the core.
                core_stop.cancel();
                served
            }
        });
        Ok(Stack {
            core: Some(core_server),
            core_addr,
            api_addr,
            metrics_addr,
            registry,
            keys,
            key,
            stop,
            api_task: Some(api_task),
            metrics_task,
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

    /// Where the gateway serves `/metrics`, if it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
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
        self.stop.cancel();
        let (Some(core), Some(api)) = (self.core.take(), self.api_task.take()) else {
            return Ok(());
        };
        let (core, api) = tokio::join!(core.wait(), api);
        core?;
        api.context("jessy-api task")??;
        // The gateway's shutdown ends its metrics listener too.
        if let Some(metrics) = self.metrics_task.take() {
            metrics.await.context("jessy-api metrics task")??;
        }
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(core) = &self.core {
            core.shutdown_token().cancel();
        }
    }
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}
