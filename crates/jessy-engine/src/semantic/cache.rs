//! Embeddings of training lines, cached across builds.
//!
//! Encoding CLINC150's 18k training and validation lines takes minutes on two cores; a layer
//! write that adds a few examples should not pay that again. The cache maps each line's text
//! to its vector for one encoder (the file records the encoder's digest; a file for another
//! encoder, or a damaged one, is ignored and rewritten — it is derived data). Lookups are by the
//! whole text, so two lines can never share a vector by a digest collision.
//!
//! File: magic, encoder digest, dimension, count, then per entry the text's length and bytes
//! and its vector (little-endian `f32`), and a CRC32 of everything before it. Written to a
//! temporary file and renamed into place, so a crash leaves the old cache or the new one.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use super::{EncodeError, Encoder, EncoderId};

const MAGIC: [u8; 8] = *b"JSEMEMB1";
/// The cache's file name in a snapshot directory (storage collects only generation files, so
/// it stays).
pub const EMBEDDING_CACHE_FILE: &str = "embeddings.cache";
/// Texts sent to the encoder per call: large enough for its batching, small enough that a
/// failure loses little work.
const CHUNK: usize = 1024;

/// Vectors by text, for one encoder.
#[derive(Debug, Default)]
pub struct EmbeddingCache {
    digest: [u8; 32],
    dim: u32,
    vectors: HashMap<String, Vec<f32>>,
    /// Vectors computed since loading (the file needs writing when non-zero).
    pub encoded: usize,
    /// Lookups answered from the cache.
    pub hits: usize,
}

impl EmbeddingCache {
    /// An empty cache for `encoder`.
    pub fn new(encoder: &EncoderId) -> EmbeddingCache {
        EmbeddingCache {
            digest: encoder.digest,
            dim: encoder.dim,
            ..EmbeddingCache::default()
        }
    }

    /// The cache stored at `path` if it is intact and for `encoder`; otherwise an empty one.
    pub fn load(path: &Path, encoder: &EncoderId) -> EmbeddingCache {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| parse(&bytes, encoder))
            .unwrap_or_else(|| EmbeddingCache::new(encoder))
    }

    /// Vectors cached.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// The vector of every text, encoding (in batches) only those not cached yet.
    pub fn embed_all(
        &mut self,
        encoder: &dyn Encoder,
        texts: &[&str],
    ) -> Result<Vec<Vec<f32>>, EncodeError> {
        if encoder.identity().digest != self.digest || encoder.identity().dim != self.dim {
            return Err(EncodeError::new(
                "embedding cache belongs to another encoder",
            ));
        }
        let mut missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| !self.vectors.contains_key(*t))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        self.hits += texts.len() - missing.len();
        for chunk in missing.chunks(CHUNK) {
            let vectors = encoder.embed(chunk)?;
            if vectors.len() != chunk.len() || vectors.iter().any(|v| v.len() != self.dim as usize)
            {
                return Err(EncodeError::new(
                    "encoder returned the wrong number or size of vectors",
                ));
            }
            self.encoded += chunk.len();
            for (text, v) in chunk.iter().zip(vectors) {
                self.vectors.insert((*text).to_string(), v);
            }
        }
        Ok(texts.iter().map(|t| self.vectors[*t].clone()).collect())
    }

    /// Writes the cache to `path` (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.dim.to_le_bytes());
        out.extend_from_slice(&(self.vectors.len() as u64).to_le_bytes());
        let mut entries: Vec<(&String, &Vec<f32>)> = self.vectors.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        for (text, v) in entries {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
            for x in v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

fn parse(bytes: &[u8], encoder: &EncoderId) -> Option<EmbeddingCache> {
    let (body, crc) = bytes.split_at(bytes.len().checked_sub(4)?);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = body.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    if take(8)? != MAGIC || take(32)? != encoder.digest {
        return None;
    }
    let dim = u32::from_le_bytes(take(4)?.try_into().ok()?);
    if dim != encoder.dim {
        return None;
    }
    let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let mut cache = EmbeddingCache::new(encoder);
    for _ in 0..count {
        let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let text = std::str::from_utf8(take(len)?).ok()?.to_string();
        let v: Vec<f32> = take(dim as usize * 4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        cache.vectors.insert(text, v);
    }
    Some(cache)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Vectors from character statistics; counts what it encodes.
    struct Counting {
        id: EncoderId,
        calls: AtomicUsize,
    }

    impl Encoder for Counting {
        fn identity(&self) -> &EncoderId {
            &self.id
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncodeError> {
            self.calls.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| {
                    vec![
                        t.len() as f32,
                        t.chars().filter(|c| *c == 'a').count() as f32,
                    ]
                })
                .collect())
        }
    }

    fn encoder(digest: u8) -> Counting {
        Counting {
            id: EncoderId {
                digest: [digest; 32],
                dim: 2,
                name: "counting".into(),
            },
            calls: AtomicUsize::new(0),
        }
    }

    #[test]
    fn a_rebuild_encodes_only_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("embeddings.cache");
        let enc = encoder(1);
        let mut cache = EmbeddingCache::load(&path, enc.identity());
        assert!(cache.is_empty());
        let v = cache
            .embed_all(&enc, &["banana", "apple", "banana"])
            .unwrap();
        assert_eq!(v[0], vec![6.0, 3.0]);
        assert_eq!(v[0], v[2]);
        assert_eq!(enc.calls.load(Ordering::SeqCst), 2);
        cache.save(&path).unwrap();

        let mut again = EmbeddingCache::load(&path, enc.identity());
        assert_eq!(again.len(), 2);
        let v = again.embed_all(&enc, &["apple", "cherry"]).unwrap();
        assert_eq!(v[1], vec![6.0, 0.0]);
        assert_eq!(enc.calls.load(Ordering::SeqCst), 3, "only 'cherry' was new");
        assert_eq!((again.hits, again.encoded), (1, 1));

        // Another encoder's file is not used; a damaged file is ignored.
        assert!(EmbeddingCache::load(&path, encoder(2).identity()).is_empty());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[20] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(EmbeddingCache::load(&path, enc.identity()).is_empty());
        assert!(cache.embed_all(&encoder(2), &["x"]).is_err());
    }
}
