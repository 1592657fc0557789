//! Services in this process, on loopback ports: one jessy-core ([`InProcessCore`], an
//! upstream for gateway tests that can crash and restart), and jessy-core with jessy-api in
//! front ([`TestStack`], over the same [`Stack`] that `jessy serve` runs).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

pub use jessy_cli::stack::Stack;
use tokio::runtime::Runtime;

use crate::eventually::{eventually, TIMEOUT};
use crate::registry::prepared_dir;

/// jessy-core on a copy of the default registry, served on its own runtime so that
/// [`InProcessCore::kill`] can end it like a crash: the listener and every open connection
/// close at once, with no drain (a stopped server alone would keep serving the
/// connections it already accepted).
pub struct InProcessCore {
    /// Where it listens.
    pub addr: SocketAddr,
    runtime: Option<Runtime>,
    _dir: tempfile::TempDir,
}

impl InProcessCore {
    /// Loads a fresh copy of the default registry and serves it on `addr` (port 0 picks a
    /// free port; a fixed one lets a test restart a killed core where it was).
    pub async fn start(addr: impl ToSocketAddrs) -> InProcessCore {
        InProcessCore::start_with(addr, |_| {}).await
    }

    /// [`InProcessCore::start`] with `configure` adjusting the core's configuration (open
    /// writes, …) before it serves.
    pub async fn start_with(
        addr: impl ToSocketAddrs,
        configure: impl FnOnce(&mut jessy_core::Config),
    ) -> InProcessCore {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("in-process-core")
            .enable_all()
            .build()
            .expect("core runtime");
        let (dir, engine) = runtime
            .spawn_blocking(|| {
                let dir = prepared_dir();
                let engine = jessy_core::load_engine(dir.path()).expect("load the snapshot");
                (dir, engine)
            })
            .await
            .expect("snapshot loading task");
        let listener = std::net::TcpListener::bind(addr)
            .unwrap_or_else(|e| panic!("cannot bind jessy-core: {e}"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("bound address");
        let mut config = jessy_core::Config {
            addr,
            registry: Some(dir.path().to_owned()),
            ..jessy_core::Config::default()
        };
        configure(&mut config);
        // Registered with the core's own runtime, so the listener dies with it; started there
        // too, so every task of the server does.
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("tokio listener")
        };
        runtime
            .spawn(jessy_core::Server::start_on(listener, engine, config))
            .await
            .expect("core start task")
            .expect("the core starts");
        InProcessCore {
            addr,
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Ends the core like SIGKILL ends a process and returns once its sockets are closed:
    /// later connections are refused, open ones are cut. Returns the address it had.
    pub async fn kill(mut self) -> SocketAddr {
        let runtime = self.runtime.take().expect("core running");
        tokio::task::spawn_blocking(move || runtime.shutdown_timeout(Duration::from_secs(5)))
            .await
            .expect("core runtime shutdown");
        self.addr
    }
}

impl Drop for InProcessCore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime blocks, which is not allowed inside the test's runtime.
            runtime.shutdown_background();
        }
    }
}

/// A [`Stack`] on loopback ports over a fresh copy of the default registry, returned once
/// the gateway reports its core up. Dropping it stops both services; the directory (snapshot
/// and keys file) is removed.
pub struct TestStack {
    stack: Stack,
    _dir: tempfile::TempDir,
}

impl TestStack {
    /// Starts the stack; `configure` adjusts the gateway's configuration (rate limits, …)
    /// before it starts. Neither service reads the environment.
    pub async fn start(configure: impl FnOnce(&mut jessy_api::Config)) -> TestStack {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let dir = tokio::task::spawn_blocking(prepared_dir)
            .await
            .expect("prepare a snapshot directory");
        let core = jessy_core::Config {
            addr: loopback,
            registry: Some(dir.path().to_owned()),
            ..jessy_core::Config::default()
        };
        let mut api = jessy_api::Config {
            addr: loopback,
            metrics_addr: Some(loopback),
            ..jessy_api::Config::default()
        };
        configure(&mut api);
        let stack = Stack::start(core, api).await.expect("the stack starts");
        let health = format!("http://{}/api/health", stack.api_addr());
        eventually(TIMEOUT, "the gateway to report its core up", || async {
            reqwest::get(&health)
                .await
                .is_ok_and(|response| response.status() == 200)
        })
        .await;
        TestStack { stack, _dir: dir }
    }

    /// The gateway's `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.stack.api_addr())
    }

    /// The development API key the gateway accepts.
    pub fn key(&self) -> &str {
        self.stack.key()
    }

    /// The stack itself (addresses, keys file, [`Stack::stop`]).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }
}
