//! The [`Engine`]: the facade over one registry store. A query runs the query path's stages in
//! order over the current generation; a layer write runs the build path and publishes the next
//! generation ([`write`]).

mod write;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::build::{self, BuildError, BuildOptions};
use crate::parser::{self, ParseError};
use crate::query::result::QueryResult;
use crate::query::{self, NoMatchReason, Pool, QueryOptions, Routing, Scratch};
use crate::registry::{self, Registry};
use crate::storage::{OpenError, Store, StoreStats};

pub use write::WriteError;

/// Errors from opening or initializing an engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The snapshot could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Building a snapshot failed.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The routing engine over one registry store.
pub struct Engine {
    store: Store<Registry>,
    pool: Pool,
    /// Serializes writers in this process (the directory lock serializes processes), so a
    /// read-modify-publish cycle never loses a concurrent write.
    write_lock: std::sync::Mutex<()>,
}

impl Engine {
    fn new(store: Store<Registry>) -> Engine {
        Engine {
            store,
            pool: Pool::new(),
            write_lock: Default::default(),
        }
    }

    /// Opens the published snapshot in `dir`.
    pub fn open(dir: &Path) -> Result<Engine, EngineError> {
        Ok(Engine::new(Store::open(dir)?))
    }

    /// An engine over the bytes of one generation file held in memory (writes publish in
    /// memory only). Used for the embedded default registry and in tests.
    pub fn from_bytes(bytes: &[u8]) -> Result<Engine, EngineError> {
        Ok(Engine::new(Store::in_memory(bytes)?))
    }

    /// Opens `dir`, first building the embedded default registry into it when it holds no
    /// snapshot yet. A corrupt snapshot is an error, never silently replaced.
    pub fn open_or_init_default(dir: &Path) -> Result<Engine, EngineError> {
        match Store::open(dir) {
            Ok(store) => Ok(Engine::new(store)),
            Err(OpenError::NoSnapshot { .. }) => {
                let source = registry::default_source().map_err(BuildError::from)?;
                build::build_dir(&source, dir, &BuildOptions::for_default_registry()?)?;
                Engine::open(dir)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The embedded default registry from a cache under `cache_root`, built there on first
    /// use: a process that only wants to route a few queries maps a ready snapshot in
    /// milliseconds instead of training the model (a third of a second) every time.
    ///
    /// The cache directory is named by [`registry::default_digest`], so a change to the
    /// embedded registry or to the engine builds a fresh one; caches of other digests are
    /// removed. A cache that fails to open is rebuilt: it is Jessy's own derived data, unlike a
    /// user's registry directory, which is never replaced.
    pub fn open_default_cached(cache_root: &Path) -> Result<Engine, EngineError> {
        let name = format!("default-{:016x}", registry::default_digest());
        let dir = cache_root.join(&name);
        match Engine::open(&dir) {
            Ok(engine) => return Ok(engine),
            Err(EngineError::Open(OpenError::NoSnapshot { .. })) => {}
            Err(_) => {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        if let Ok(entries) = std::fs::read_dir(cache_root) {
            for entry in entries.flatten() {
                let other = entry.file_name();
                let other = other.to_string_lossy();
                if other.starts_with("default-") && other != name {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let source = registry::default_source().map_err(BuildError::from)?;
        build::build_dir(&source, &dir, &BuildOptions::for_default_registry()?)?;
        Engine::open(&dir)
    }

    /// The embedded default registry, compiled in memory (no files, no setup).
    pub fn default_in_memory() -> Result<Engine, EngineError> {
        let source = registry::default_source().map_err(BuildError::from)?;
        let bytes = build::build_bytes(&source, &BuildOptions::for_default_registry()?, 1)?;
        Engine::from_bytes(&bytes)
    }

    /// The current registry generation. Cheap; the generation stays valid (and unchanged)
    /// however many writes publish after it, so views taken from it never mix generations.
    pub fn registry(&self) -> Arc<Registry> {
        self.store.current()
    }

    /// The snapshot directory, if the engine is on disk.
    pub fn dir(&self) -> Option<&Path> {
        self.store.dir()
    }

    /// Generation, regions and mapped bytes.
    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// Routes `text` through the whole pipeline.
    pub fn query(&self, text: &str, options: &QueryOptions) -> Result<QueryResult, ParseError> {
        let started = Instant::now();
        let registry = self.store.current();
        let mut scratch = self.pool.take();
        let routing = match self.route(&registry, &mut scratch, text, options) {
            Ok(routing) => routing,
            // Visible characters but no word (emoji, symbols): a query with nothing in it to
            // route, so a no-match, not an error. A blank text stays an error.
            Err(ParseError::Empty) if !parser::is_blank(text) => {
                scratch.clear_routing();
                Routing::unmatched(NoMatchReason::UnknownTerms)
            }
            Err(e) => return Err(e),
        };
        let t_context = Instant::now();
        let mut result = query::summarize(&registry, &scratch, text, &routing, options);
        result.timings_us.context = t_context.elapsed().as_secs_f64() * 1e6;
        result.timings_us.total = started.elapsed().as_secs_f64() * 1e6;
        Ok(result)
    }

    /// The scoring part of [`Engine::query`], into caller-provided scratch: parse, scan,
    /// navigate, interfere, converge. No heap allocation once `scratch` has warmed up.
    pub fn route(
        &self,
        registry: &Registry,
        scratch: &mut Scratch,
        text: &str,
        options: &QueryOptions,
    ) -> Result<Routing, ParseError> {
        let t = Instant::now();
        scratch.parsed.parse_into(text)?;
        let parse_us = t.elapsed().as_secs_f64() * 1e6;
        let mut routing = query::route(registry, scratch, options.max_iterations);
        routing.parse_us = parse_us;
        Ok(routing)
    }
}
