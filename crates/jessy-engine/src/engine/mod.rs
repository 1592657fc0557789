//! The [`Engine`]: the facade over one registry store. A query runs the query path's stages in
//! order over the current generation; a layer write runs the build path and publishes the next
//! generation ([`write`]).

mod cascade;
mod judge;
mod replica;
mod usage;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::build::{self, BuildError, BuildOptions};
use crate::parser::{self, ParseError};
use crate::query::result::QueryResult;
use crate::query::{self, NoMatchReason, Pool, QueryOptions, Routing, Scratch};
use crate::registry::{self, Registry};
use crate::storage::{Claimed, OpenError, Recovery, Store, StoreStats};
use crate::usage::recent::RECENT_QUERIES;
use crate::usage::{FeedbackLog, NoMatchInbox, RecentQueries, RecentQuery};

pub use cascade::FastQuery;
pub use judge::is_right;
pub use replica::{InstallError, Prepared};
pub use usage::{AcceptError, Figures, LearnError, LearnReport, SuggestedLayer, GUARD_Z};
pub use write::{Upserted, WriteError};

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
    /// The snapshot's semantic head was trained with another encoder than the one given.
    #[error("the snapshot's semantic head was trained with encoder {snapshot}, not {encoder}: rebuild it with this encoder or pass the one it was built with")]
    EncoderMismatch {
        /// The encoder the head was trained with.
        snapshot: String,
        /// The encoder given.
        encoder: String,
    },
}

/// The routing engine over one registry store.
///
/// An engine opened on a directory for writing ([`Engine::open`],
/// [`Engine::open_or_init_default`]) owns it until dropped: a second writing engine on the
/// same directory, in this process or another, fails with [`OpenError::Locked`], and
/// `jessy build --out` into it fails with [`crate::PublishError::Locked`]. One writer per
/// directory is what keeps a writer from publishing over generations it never saw.
/// [`Engine::open_read_only`] needs no ownership and refuses writes.
pub struct Engine {
    store: Store<Registry>,
    /// Set when opening re-published a lost manifest ([`Engine::recovery`]).
    recovery: Option<Recovery>,
    pool: Pool,
    /// Serializes writers in this process (the directory lock serializes processes), so a
    /// read-modify-publish cycle never loses a concurrent write. It guards where the last
    /// write's training ended, which the next write starts from (see `build::WarmStart`).
    write_lock: std::sync::Mutex<Option<std::sync::Arc<build::WarmStart>>>,
    /// The last queries, so feedback can name one by its `query_id`.
    recent: RecentQueries,
    /// Queries answered `no_match`, for suggested layers.
    inbox: NoMatchInbox,
    /// The feedback log, opened on first use (`None` until then).
    feedback: std::sync::Mutex<Option<FeedbackLog>>,
    /// The sentence encoder of the semantic cascade, when one is attached
    /// ([`Engine::with_encoder`]).
    encoder: Option<Arc<dyn crate::semantic::Encoder>>,
}

impl Engine {
    fn new(store: Store<Registry>) -> Engine {
        let inbox = NoMatchInbox::new();
        if let Some(dir) = store.dir() {
            if let Err(e) = inbox.load(dir) {
                // The inbox is derived traffic, not registry data: set the damaged file aside
                // (never delete it) and start empty rather than refuse to serve.
                let aside = dir.join(format!("{}.damaged", crate::usage::inbox::INBOX_FILE));
                let _ = std::fs::rename(dir.join(crate::usage::inbox::INBOX_FILE), &aside);
                tracing::warn!(error = %e, aside = %aside.display(), "no-match inbox unreadable; set aside, starting empty");
            }
        }
        Engine {
            store,
            recovery: None,
            pool: Pool::new(),
            write_lock: Default::default(),
            recent: RecentQueries::new(RECENT_QUERIES),
            inbox,
            feedback: Default::default(),
            encoder: None,
        }
    }

    /// Opens the published snapshot in `dir` for reading and writing, owning the directory
    /// while the engine lives ([`OpenError::Locked`] if another writer owns it).
    ///
    /// A directory with generation files but no `CURRENT` manifest is recovered from the
    /// newest generation file that validates completely, and [`Engine::recovery`] says so;
    /// one with neither is [`OpenError::NoSnapshot`].
    pub fn open(dir: &Path) -> Result<Engine, EngineError> {
        match Store::claim(dir)? {
            Claimed::Opened(store) => Ok(Engine::new(store)),
            Claimed::Recovered(store, recovery) => Ok(Engine::recovered(store, recovery)),
            Claimed::Empty(_) => Err(OpenError::NoSnapshot {
                dir: dir.to_path_buf(),
            }
            .into()),
        }
    }

    /// Opens the published snapshot in `dir` for reading only: no ownership is taken, so it
    /// works beside the core that owns the directory, and layer writes fail with
    /// [`crate::PublishError::ReadOnly`]. The engine keeps serving the generation it opened.
    pub fn open_read_only(dir: &Path) -> Result<Engine, EngineError> {
        Ok(Engine::new(Store::open_read_only(dir)?))
    }

    /// An engine over the bytes of one generation file held in memory (writes publish in
    /// memory only). Used for the embedded default registry and in tests.
    pub fn from_bytes(bytes: &[u8]) -> Result<Engine, EngineError> {
        Ok(Engine::new(Store::in_memory(bytes)?))
    }

    /// Opens `dir` like [`Engine::open`], first building the embedded default registry into
    /// it when it is absent or holds no snapshot at all (no manifest and no generation file;
    /// other files are left alone).
    ///
    /// Never replaces data: a corrupt manifest or generation is an error naming the file; a
    /// directory with generation files but no manifest is recovered from the newest complete
    /// generation ([`Engine::recovery`] says so), or refused when none validates.
    pub fn open_or_init_default(dir: &Path) -> Result<Engine, EngineError> {
        Engine::open_or_fill(dir, |empty| {
            let source = registry::default_source().map_err(BuildError::from)?;
            let compiled = build::compile(&source, &BuildOptions::for_default_registry()?)?;
            Ok(empty
                .publish_first(|generation| compiled.encode(generation))
                .map_err(BuildError::from)?)
        })
    }

    /// Creates `dir` if needed and opens (or recovers) its snapshot for writing; a directory
    /// holding none is filled with the first generation `fill` publishes.
    fn open_or_fill(
        dir: &Path,
        fill: impl FnOnce(crate::storage::EmptyDir) -> Result<Store<Registry>, EngineError>,
    ) -> Result<Engine, EngineError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        match Store::claim(dir)? {
            Claimed::Opened(store) => Ok(Engine::new(store)),
            Claimed::Recovered(store, recovery) => Ok(Engine::recovered(store, recovery)),
            Claimed::Empty(empty) => Ok(Engine::new(fill(empty)?)),
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
        // Read-only: several `jessy query` processes may map the cache at once.
        match Engine::open_read_only(&dir) {
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
        Engine::open_read_only(&dir)
    }

    fn recovered(store: Store<Registry>, recovery: Recovery) -> Engine {
        Engine {
            recovery: Some(recovery),
            ..Engine::new(store)
        }
    }

    /// What opening did to a directory that had lost its `CURRENT` manifest, if it did: the
    /// generation re-published and the newer files passed over. A service should log it
    /// loudly; the directory was damaged or edited by hand.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// Whether layer writes are possible: the engine is in memory or owns its directory.
    pub fn is_writable(&self) -> bool {
        self.store.is_writable()
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

    /// The generation files in the snapshot directory, oldest first (empty for an engine in
    /// memory). Collection keeps only the generations still in use, so this is what is left on
    /// disk, not every generation ever published; a service's history of why each one was
    /// published (jessy-core's change notes) merges with it.
    pub fn stored_generations(&self) -> std::io::Result<Vec<crate::storage::StoredGeneration>> {
        match self.dir() {
            Some(dir) => crate::storage::publish::stored_generations(dir),
            None => Ok(Vec::new()),
        }
    }

    /// Routes `text` through the whole pipeline; with an encoder attached and a semantic head
    /// in the snapshot, an unsure query is escalated to the encoder (milliseconds instead of
    /// microseconds) and decided by the cascade. The result's `query_id` names it for
    /// feedback ([`Engine::record_feedback`]) while it is among the last
    /// [`crate::usage::RECENT_QUERIES`] queries; a `no_match` also goes to the no-match
    /// inbox ([`Engine::suggestions`]).
    pub fn query(&self, text: &str, options: &QueryOptions) -> Result<QueryResult, ParseError> {
        let result = self.query_unrecorded(text, options)?;
        Ok(self.remember(result, text))
    }

    /// [`Engine::query`] without remembering the query (no `query_id`, no inbox): for
    /// evaluation and the learning guard, whose lines are not traffic.
    pub fn query_unrecorded(
        &self,
        text: &str,
        options: &QueryOptions,
    ) -> Result<QueryResult, ParseError> {
        // `Infallible`: this caller never defers, so the deferred case cannot be built.
        match self.query_staged(text, options, || None::<std::convert::Infallible>)? {
            Ok(result) => Ok(*result),
            Err(never) => match never {},
        }
    }

    /// [`Engine::query`] without running the encoder: the lexical answer (remembered, with
    /// its `query_id`) when the cascade would not escalate, [`FastQuery::NeedsEncoder`] when
    /// it would. A service answers the first on its request thread and sends the second to a
    /// bounded pool of blocking workers (which call [`Engine::query`]), so fast queries never
    /// queue behind encoder work.
    pub fn query_fast(&self, text: &str, options: &QueryOptions) -> Result<FastQuery, ParseError> {
        Ok(
            match self.query_staged(text, options, || Some(FastQuery::NeedsEncoder))? {
                Ok(result) => FastQuery::Answered(Box::new(self.remember(*result, text))),
                Err(deferred) => deferred,
            },
        )
    }

    /// Gives `result` its `query_id` and files a no-match in the inbox.
    fn remember(&self, mut result: QueryResult, text: &str) -> QueryResult {
        let decision = match result.outcome {
            crate::Outcome::Matched => result
                .dimensions
                .first()
                .and_then(|d| d.layers.last().map(|l| (d.id.clone(), l.id.clone()))),
            crate::Outcome::NoMatch => {
                self.inbox.record(text);
                None
            }
        };
        result.query_id = self.recent.remember(RecentQuery {
            text: text.to_string(),
            generation: result.generation,
            decision,
        });
        result
    }

    /// The query path. When the cascade would escalate, `defer` decides: `Some(d)` stops
    /// before the encoder and returns `Err(d)`; `None` runs the encoder here. The type of `d`
    /// says which callers can be deferred at all.
    fn query_staged<D>(
        &self,
        text: &str,
        options: &QueryOptions,
        defer: impl FnOnce() -> Option<D>,
    ) -> Result<Result<Box<QueryResult>, D>, ParseError> {
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
        let mut routing = routing;
        // Parsed text without a word has nothing an encoder could add either: not escalated.
        let cascade = if routing.iterations > 0 {
            match self.plan(&registry, &scratch, &routing) {
                Some(plan) => {
                    if plan.escalate {
                        if let Some(deferred) = defer() {
                            return Ok(Err(deferred));
                        }
                    }
                    Some(self.escalate(&registry, &mut scratch, &mut routing, text, &plan))
                }
                None => None,
            }
        } else {
            None
        };
        let t_context = Instant::now();
        let mut result = query::summarize(&registry, &scratch, text, &routing, options);
        result.timings_us.context = t_context.elapsed().as_secs_f64() * 1e6;
        if let Some(trace) = cascade {
            if trace.path == crate::semantic::AnswerPath::Semantic
                && routing.no_match == Some(NoMatchReason::BelowThreshold)
            {
                result.no_match_reason = Some(format!(
                    "decision value {:.3} of the semantic cascade is below its threshold {:.3}",
                    routing.decision,
                    registry.semantic_head().map_or(0.0, |h| h.params.threshold)
                ));
            }
            result.timings_us.encoder = trace.encoder_us;
            result.cascade = Some(trace);
        }
        result.timings_us.total = started.elapsed().as_secs_f64() * 1e6;
        Ok(Ok(Box::new(result)))
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
        routing.parse_us += parse_us;
        Ok(routing)
    }
}
