//! Test support. Where the tests find the real model: `JESSY_TEST_ENCODER`, else the cache directory
//! `scripts/fetch-encoder.sh` fills. A test that needs the model and cannot find it fails,
//! saying how to get it: a missing model must never pass for a working encoder.

use std::path::PathBuf;

use jessy_encoder::SentenceEncoder;

/// The model directory the tests use.
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("JESSY_TEST_ENCODER") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models/all-MiniLM-L6-v2")
}

/// The real encoder, or a failure saying how to fetch it.
pub fn encoder() -> SentenceEncoder {
    let dir = model_dir();
    assert!(
        dir.join("model.safetensors").exists(),
        "the sentence encoder is not at {}: run `bash scripts/fetch-encoder.sh` (or set \
         JESSY_TEST_ENCODER to a model directory)",
        dir.display()
    );
    SentenceEncoder::load(&dir).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()))
}
