//! The semantic cascade's side of the commands: loading the sentence encoder, attaching it to
//! an engine, and the build settings that train the head.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use jessy_engine::build::SemanticBuild;
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

/// Build settings for the encoder in `dir`, caching embeddings in the output directory.
pub fn build_settings(dir: &Path, out: &Path) -> anyhow::Result<SemanticBuild> {
    Ok(SemanticBuild::new(
        load_encoder(dir)?,
        Some(out.join(EMBEDDING_CACHE_FILE)),
    ))
}

/// One line on stderr about a trained head.
pub fn report_head(head: &SemanticHead) {
    let p = &head.params;
    eprintln!(
        "semantic head: encoder {}, blend {:.1}, escalate below margin {:.3} ({:.1}% of validation lines, cap {:.0}%), cascade threshold {:.4}",
        head.encoder,
        p.blend,
        p.escalate_below,
        p.val_rate * 100.0,
        p.max_rate * 100.0,
        p.threshold
    );
}
