//! Publishing generations another process built: a cluster replica receives verified bytes
//! (numbered by the cluster) and publishes them into its own directory with the same atomic
//! publish as a local write.
//!
//! The number inside the bytes is kept whenever the directory allows it (it is above every
//! generation file there), so a replica's generation is the cluster's. A directory that is
//! ahead (it served another registry before joining the cluster, or the cluster was restored
//! from an older backup) cannot reuse a number — files are write-once and numbers only grow —
//! so the bytes are *restamped*: the header's generation and the footer's CRC are rewritten
//! and the result is validated like any other generation before it is published.

use std::path::Path;
use std::sync::Arc;

use super::format::{footer, Header, FOOTER_LEN};
use super::{open_current, publish, verify, EmptyDir, Generation, PublishError, Snapshot, Store};
use crate::storage::error::{Corruption, OpenError};

/// The generation number stored in a generation file's bytes (checked fully later, when the
/// bytes are verified before publishing).
pub fn generation_of(bytes: &[u8]) -> Result<u64, OpenError> {
    let header_len = std::mem::size_of::<Header>();
    if bytes.len() < header_len + FOOTER_LEN {
        return Err(OpenError::Corrupt {
            path: "<replica>".into(),
            problem: Corruption::TooShort {
                len: bytes.len() as u64,
            },
        });
    }
    let header: Header = bytemuck::pod_read_unaligned(&bytes[..header_len]);
    Ok(header.generation)
}

/// `bytes` renumbered as `generation`: header field and footer CRC rewritten, nothing else.
///
/// The old CRC is checked first: rewriting the footer of damaged bytes would otherwise
/// launder the damage into a file whose checksum matches.
pub fn restamp(bytes: &[u8], generation: u64) -> Result<Vec<u8>, OpenError> {
    generation_of(bytes)?;
    let body_len = bytes.len() - FOOTER_LEN;
    let stored = u32::from_le_bytes(
        bytes[body_len..body_len + 4]
            .try_into()
            .expect("4 bytes of footer"),
    );
    let computed = crc32fast::hash(&bytes[..body_len]);
    if stored != computed {
        return Err(OpenError::Corrupt {
            path: "<replica>".into(),
            problem: Corruption::Checksum { stored, computed },
        });
    }
    let header_len = std::mem::size_of::<Header>();
    let mut header: Header = bytemuck::pod_read_unaligned(&bytes[..header_len]);
    header.generation = generation;
    let mut out = bytes.to_vec();
    out[..header_len].copy_from_slice(bytemuck::bytes_of(&header));
    let body_len = out.len() - FOOTER_LEN;
    let foot = footer(&out[..body_len], out.len() as u64);
    out[body_len..].copy_from_slice(&foot);
    Ok(out)
}

/// The bytes to write as generation `n`: `bytes` as they are when they hold `n`, restamped
/// otherwise.
fn numbered(bytes: &[u8], n: u64) -> Vec<u8> {
    match generation_of(bytes) {
        Ok(own) if own == n => bytes.to_vec(),
        // A restamp failure leaves the bytes unchanged; verification then refuses them.
        _ => restamp(bytes, n).unwrap_or_else(|_| bytes.to_vec()),
    }
}

impl EmptyDir {
    /// Publishes `bytes` (a complete generation file) as the directory's first generation,
    /// keeping the number they hold, and returns the owning store over it.
    pub fn publish_first_bytes<G: Generation>(
        self,
        bytes: &[u8],
    ) -> Result<Store<G>, PublishError> {
        let at_least = generation_of(bytes)?;
        let generation = {
            let _lock = publish::lock_publish(&self.dir)?;
            publish::publish_locked_from(&self.dir, at_least, |n| numbered(bytes, n), verify::<G>)?;
            open_current::<G>(&self.dir)?
        };
        let store = Store::with_current(Some(&self.dir), generation);
        Ok(Store {
            owner: Some(self.owner),
            ..store
        })
    }
}

impl<G: Generation> Store<G> {
    /// Publishes `bytes`, a complete generation file built elsewhere, and makes it current:
    /// under the number they hold when the directory allows it, else the next free one
    /// (restamped). Verified exactly as a reader will before anything touches the disk; the
    /// same ownership and conflict rules as [`Store::publish`].
    pub fn publish_replica(&self, bytes: &[u8]) -> Result<Arc<G>, PublishError> {
        let at_least = generation_of(bytes)?;
        let generation = match &self.dir {
            None => {
                let snapshot = Snapshot::from_bytes(bytes, Path::new("<memory>"))?;
                Arc::new(G::load(snapshot)?)
            }
            Some(dir) => {
                let _lock = self.lock_for_publish(dir)?;
                publish::publish_locked_from(dir, at_least, |n| numbered(bytes, n), verify::<G>)?;
                Arc::new(open_current(dir)?)
            }
        };
        Ok(self.swap_in(generation))
    }
}
