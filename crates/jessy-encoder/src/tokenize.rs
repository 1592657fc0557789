//! Text → word-piece ids with Hugging Face's `tokenizers`, configured as sentence-transformers
//! uses it: special tokens added, truncated to the model's sequence cap, no padding (batches
//! are padded by the caller, to their own longest sequence).

use std::path::Path;

use jessy_engine::semantic::EncodeError;
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::LoadError;

/// The configured tokenizer.
pub(crate) struct WordPieces {
    tokenizer: Tokenizer,
    pad_id: u32,
    vocab_size: usize,
}

impl WordPieces {
    /// Loads `tokenizer.json`, truncating to `max_len` tokens and checking that every id it
    /// can produce is within the model's `vocab_size` (a mismatched tokenizer would otherwise
    /// index past the embedding table at query time).
    pub(crate) fn load(
        path: &Path,
        max_len: usize,
        vocab_size: usize,
    ) -> Result<WordPieces, LoadError> {
        let fail = |message: String| LoadError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| fail(e.to_string()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(|e| fail(e.to_string()))?;
        tokenizer.with_padding(None);
        let largest = tokenizer
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .unwrap_or(0);
        if largest as usize >= vocab_size {
            return Err(fail(format!(
                "token id {largest} is outside the model's vocabulary of {vocab_size}"
            )));
        }
        let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
        Ok(WordPieces {
            tokenizer,
            pad_id,
            vocab_size,
        })
    }

    /// The id padding positions carry (masked out; any valid id would do).
    pub(crate) fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// One id sequence per text, special tokens included, each at most the sequence cap.
    pub(crate) fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EncodeError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EncodeError::new(format!("tokenizing: {e}")))?;
        encodings
            .into_iter()
            .map(|e| {
                let ids = e.get_ids().to_vec();
                match ids.iter().find(|&&id| id as usize >= self.vocab_size) {
                    Some(id) => Err(EncodeError::new(format!(
                        "tokenizer produced id {id}, outside the vocabulary"
                    ))),
                    None => Ok(ids),
                }
            })
            .collect()
    }
}
