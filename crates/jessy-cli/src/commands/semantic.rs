//! The semantic cascade's side of the commands: loading the sentence encoder, attaching it to
//! an engine, and the build settings that train the head.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use jessy_engine::build::SemanticBuild;
use jessy_engine::registry::RegistrySource;
use jessy_engine::semantic::{cache::EMBEDDING_CACHE_FILE, Encoder, SemanticHead};
use jessy_engine::Engine;

/// Loads the encoder in `dir` (no network: the files must be there).
pub fn load_encoder(dir: &Path) -> anyhow::Result<Arc<dyn Encoder>> {
    let encoder = jessy_encoder::SentenceEncoder::load(dir).with_context(|| {
        format!(
            "loading the sentence encoder from {} (scripts/fetch-encoder.sh fetches one)",
            dir.display()
        )
    })?;
    Ok(Arc::new(encoder))
}

/// `engine` with the encoder in `dir` attached, if one is given.
pub fn attach(engine: Engine, dir: Option<&Path>) -> anyhow::Result<Engine> {
    match dir {
        Some(dir) => Ok(engine.with_encoder(load_encoder(dir)?)?),
        None => Ok(engine),
    }
}

/// The encoder directory a build of `registry` (read from `source_dir`) uses: `--encoder` when
/// given, else `[encoder] path` from its registry.toml, relative to the source directory (so a
/// source directory can carry its model with it). `None`: a lexical-only build.
pub fn build_encoder_dir(
    flag: Option<&Path>,
    registry: &RegistrySource,
    source_dir: &Path,
) -> Option<PathBuf> {
    match flag {
        Some(dir) => Some(dir.to_path_buf()),
        None => registry.encoder.as_ref().map(|e| e.resolve(source_dir)),
    }
}

/// Build settings for the encoder in `dir`, caching embeddings in the output directory.
pub fn build_settings(dir: &Path, out: &Path) -> anyhow::Result<SemanticBuild> {
    Ok(SemanticBuild::new(
        load_encoder(dir)?,
        Some(out.join(EMBEDDING_CACHE_FILE)),
    ))
}

/// One line on stderr about a trained head.
pub fn report_head(head: &SemanticHead, cost: Option<f32>) {
    let p = &head.params;
    let groups = p.group_rates.map_or(String::new(), |g| {
        format!(
            ": {:.1}% of in-scope, {:.1}% of out-of-scope lines",
            g.in_scope * 100.0,
            g.out_of_scope * 100.0
        )
    });
    eprintln!(
        "semantic head: encoder {}, C {}, blend {:.1}, escalate below margin {:.3} (match) / {:.3} (no match) ({:.1}% of validation lines{groups}; cap {:.0}% per group), cascade threshold {:.4}",
        head.encoder,
        cost.map_or("?".to_string(), |c| c.to_string()),
        p.blend,
        p.escalate_below_match,
        p.escalate_below_no_match,
        p.val_rate * 100.0,
        p.max_rate * 100.0,
        p.threshold
    );
}
