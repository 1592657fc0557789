//! The semantic cascade: a sentence encoder for the queries the lexical path is unsure of.
//!
//! Words and character n-grams cannot see that "I'm skint" and "my balance is low" mean the
//! same; a small sentence encoder can, but it costs milliseconds where the lexical path costs
//! microseconds. So the two run as a cascade: the lexical path answers when its calibrated
//! margin says it is sure, and only the uncertain queries pay for the encoder, whose embedding
//! a second linear head (trained at build time, stored in the snapshot) turns into class
//! scores that are blended with the lexical ones.
//!
//! The engine does not run a neural network itself: it knows an encoder only through the
//! [`Encoder`] trait, which the `jessy-encoder` crate implements (candle on CPU). That keeps
//! the inference stack out of every build that does not want it, and lets the tests drive the
//! cascade's logic with any encoder.
//!
//! - `head`: the head's parameters, its scoring, and its byte form in the snapshot;
//! - `train`: fitting the head (one-vs-rest L2-loss SVM on dense vectors);
//! - `calibrate`: choosing the blend, the escalation margin and the cascade's no-match
//!   threshold on validation lines;
//! - `cascade`: the query-time decision (escalate or not) and the blended logits;
//! - [`cache`]: embeddings of training lines cached by content digest, so a rebuild only
//!   encodes new lines.

pub mod cache;
pub(crate) mod calibrate;
pub(crate) mod cascade;
pub(crate) mod head;
pub(crate) mod train;

use std::fmt;

pub use cache::EmbeddingCache;
pub use cascade::{AnswerKind, Path as AnswerPath};
pub use head::{CascadeParams, GroupRates, HeadError, SemanticHead};

/// Who an encoder is: a digest of everything that decides its vectors (weights, tokenizer,
/// configuration) and a name for messages. A head trained on one encoder's vectors is
/// meaningless on another's, so the snapshot stores the identity and the engine refuses to
/// run a head with a different encoder.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncoderId {
    /// SHA-256 over the files that determine the vectors.
    pub digest: [u8; 32],
    /// Embedding dimension.
    pub dim: u32,
    /// A human-readable name (the model directory's name); not part of the identity.
    pub name: String,
}

impl EncoderId {
    /// The digest as lowercase hex.
    pub fn digest_hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `other` produces the same vectors (same digest and dimension; names may differ).
    pub fn same_vectors(&self, other: &EncoderId) -> bool {
        self.digest == other.digest && self.dim == other.dim
    }
}

impl fmt::Display for EncoderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.digest_hex();
        write!(
            f,
            "{} (dim {}, sha256 {}…)",
            self.name,
            self.dim,
            &hex[..12]
        )
    }
}

/// An encoder failed on some input or could not run.
#[derive(Debug, thiserror::Error)]
#[error("sentence encoder: {message}")]
pub struct EncodeError {
    /// What went wrong.
    pub message: String,
}

impl EncodeError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> EncodeError {
        EncodeError {
            message: message.into(),
        }
    }
}

/// A sentence encoder: text in, one L2-normalized vector of [`Encoder::dim`] floats per text.
///
/// Implementations must be deterministic (the same text gives the same vector, whatever else is
/// in the batch, up to float rounding) and must never panic on any UTF-8 text: empty strings,
/// very long texts and any script are valid inputs.
pub trait Encoder: Send + Sync {
    /// Who this encoder is (see [`EncoderId`]).
    fn identity(&self) -> &EncoderId;

    /// Length of every vector.
    fn dim(&self) -> usize {
        self.identity().dim as usize
    }

    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncodeError>;
}
