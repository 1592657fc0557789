//! The model directory's configuration: `config.json` (the transformer's shape) and, when
//! present, sentence-transformers' `sentence_bert_config.json` (the sequence cap) and
//! `1_Pooling/config.json` (the pooling mode).

use std::path::Path;

use serde::Deserialize;

use crate::error::LoadError;

/// The BERT shape this crate runs: every field the forward pass needs, checked at load.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// `"bert"` (others of the same shape are accepted only under that name).
    #[serde(default)]
    pub model_type: Option<String>,
    /// Word-piece vocabulary size.
    pub vocab_size: usize,
    /// Width of every hidden state (the embedding dimension).
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// The feed-forward activation; only the exact (erf) GELU is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Token-type (segment) embeddings.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Only `"absolute"` position embeddings are supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".to_string()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

/// Sequence cap when the directory does not say: all-MiniLM-L6-v2's, which sentence-transformers
/// applies (its tokenizer.json's own 128 is overridden there too).
pub const DEFAULT_MAX_SEQ_LEN: usize = 256;

impl BertConfig {
    /// Reads and checks `config.json` in `dir`.
    pub fn read(dir: &Path) -> Result<BertConfig, LoadError> {
        let path = dir.join("config.json");
        let text = read_text(&path)?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| LoadError::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        config
            .check()
            .map_err(|message| LoadError::Config { path, message })?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.model_type {
            if t != "bert" {
                return Err(format!("model_type {t:?}: only \"bert\" is supported"));
            }
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "hidden_act {:?}: only \"gelu\" is supported",
                self.hidden_act
            ));
        }
        if let Some(p) = &self.position_embedding_type {
            if p != "absolute" {
                return Err(format!(
                    "position_embedding_type {p:?}: only \"absolute\" is supported"
                ));
            }
        }
        if self.num_attention_heads == 0
            || self.hidden_size == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.max_position_embeddings < 3 || self.vocab_size == 0 || self.type_vocab_size == 0 {
            return Err("max_position_embeddings, vocab_size or type_vocab_size too small".into());
        }
        Ok(())
    }
}

/// The longest sequence to encode (special tokens included): sentence-transformers'
/// `max_seq_length` when the directory has it, else [`DEFAULT_MAX_SEQ_LEN`]; never more than
/// the position embeddings cover.
pub fn max_seq_len(dir: &Path, config: &BertConfig) -> Result<usize, LoadError> {
    let path = dir.join("sentence_bert_config.json");
    let from_file = if path.exists() {
        let text = read_text(&path)?;
        let c: SentenceBertConfig = serde_json::from_str(&text).map_err(|e| LoadError::Config {
            path: path.clone(),
            message: e.to_string(),
        })?;
        c.max_seq_length
    } else {
        None
    };
    Ok(from_file
        .unwrap_or(DEFAULT_MAX_SEQ_LEN)
        .clamp(3, config.max_position_embeddings))
}

/// Refuses a directory whose sentence-transformers pooling is not mean pooling, the one this
/// crate implements: silently pooling differently would give vectors that look fine and mean
/// something else.
pub fn check_pooling(dir: &Path) -> Result<(), LoadError> {
    let path = dir.join("1_Pooling").join("config.json");
    if !path.exists() {
        return Ok(());
    }
    let text = read_text(&path)?;
    let p: PoolingConfig = serde_json::from_str(&text).map_err(|e| LoadError::Config {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if !p.pooling_mode_mean_tokens
        || p.pooling_mode_cls_token
        || p.pooling_mode_max_tokens
        || p.pooling_mode_mean_sqrt_len_tokens
    {
        return Err(LoadError::Config {
            path,
            message: "only mean pooling (pooling_mode_mean_tokens alone) is supported".into(),
        });
    }
    Ok(())
}

pub(crate) fn read_text(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}
