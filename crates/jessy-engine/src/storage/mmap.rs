//! The MMAP Region: with `model::simd`'s CPU-feature dispatch, the only `unsafe` code in the engine.
//!
//! Two operations need it, and both are justified by the storage contract:
//!
//! 1. **Mapping a file.** `memmap2` documents that mapping is undefined behaviour if the file is
//!    modified while mapped, and that truncating it raises SIGBUS. Jessy owns its snapshot
//!    directory and never does either: every generation file is created with `create_new`, fully
//!    written and fsync'd *before* it is published, never opened for writing again, and replaced
//!    only by publishing a new generation under a new name. Deleting a file (garbage collection)
//!    does not disturb a map already made from it: on Unix the inode lives until the last map
//!    goes away. The remaining risk is another program truncating a file we published; that
//!    breaks the contract and is outside what any mmap reader can defend against, which is why
//!    `jessy verify` exists and why the directory should belong to the Jessy user only.
//! 2. **Viewing validated bytes as `&str`.** The string blob is checked as UTF-8 once when the
//!    snapshot is opened; slicing it on char boundaries keeps it valid, so
//!    [`Region::str_at`] checks the bounds and the two boundaries (O(1)) and skips the O(n)
//!    re-check. That is what makes layer content a zero-copy `&str` on the read path.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use super::error::{Corruption, OpenError};

/// Bytes of a snapshot file: a read-only map of the file, or an aligned heap buffer (the
/// in-memory backend used for the embedded default registry and in tests).
pub struct Region {
    backing: Backing,
    /// Byte range of the region proven to be UTF-8 by [`Region::mark_utf8`].
    utf8: std::ops::Range<usize>,
}

enum Backing {
    Mapped(Mmap),
    /// `u64` storage keeps the buffer 8-byte aligned, like a page-aligned map, so the same
    /// record casts work on both backends.
    Heap(Vec<u64>, usize),
}

impl Region {
    /// Maps `path` read-only.
    ///
    /// Zero-length files are refused before mapping (mapping them fails on some systems and
    /// they cannot hold a header anyway).
    pub fn map(path: &Path) -> Result<Region, OpenError> {
        let io = |source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < 64 {
            return Err(OpenError::Corrupt {
                path: path.to_path_buf(),
                problem: Corruption::TooShort { len },
            });
        }
        // SAFETY: see the module documentation: the file is a published, write-once snapshot
        // file that Jessy never modifies or truncates; its length was just checked non-zero.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(Region {
            backing: Backing::Mapped(map),
            utf8: 0..0,
        })
    }

    /// Copies `bytes` into an aligned heap buffer.
    pub fn from_bytes(bytes: &[u8]) -> Region {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Region {
            backing: Backing::Heap(words, bytes.len()),
            utf8: 0..0,
        }
    }

    /// All bytes of the region.
    pub fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(map) => map,
            Backing::Heap(words, len) => &bytemuck::cast_slice::<u64, u8>(words)[..*len],
        }
    }

    /// Whether the region is a file map (as opposed to a heap buffer).
    pub fn is_mapped(&self) -> bool {
        matches!(self.backing, Backing::Mapped(_))
    }

    /// Checks `range` of the region as UTF-8 (O(n), once per snapshot open) and remembers it,
    /// so that [`Region::utf8_blob`] can hand it out without re-checking.
    pub fn mark_utf8(&mut self, range: std::ops::Range<usize>) -> Result<(), std::str::Utf8Error> {
        let bytes = self.bytes().get(range.clone()).unwrap_or(&[]);
        std::str::from_utf8(bytes)?;
        self.utf8 = if bytes.is_empty() { 0..0 } else { range };
        Ok(())
    }

    /// The range marked by [`Region::mark_utf8`] (empty if none was).
    pub fn utf8_blob(&self) -> Validated<'_> {
        Validated(self.bytes().get(self.utf8.clone()).unwrap_or(&[]))
    }

    /// A sub-slice of `blob` as `&str`, or `None` when out of bounds or not on char boundaries.
    ///
    /// `blob` must have been checked to be valid UTF-8 as a whole (the snapshot does this when it
    /// opens; see [`Validated`]).
    pub fn str_at(blob: Validated<'_>, offset: u64, len: u64) -> Option<&str> {
        let bytes = blob.0;
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        let slice = bytes.get(start..end)?;
        let boundary = |i: usize| i == bytes.len() || (bytes[i] as i8) >= -0x40;
        if !boundary(start) || !boundary(end) {
            return None;
        }
        // SAFETY: `bytes` is valid UTF-8 (the `Validated` invariant) and `start`/`end` are in
        // bounds and on char boundaries (checked above), so the sub-slice is valid UTF-8 too.
        Some(unsafe { std::str::from_utf8_unchecked(slice) })
    }
}

/// A byte slice known to be valid UTF-8; only [`Validated::new`] makes one.
#[derive(Clone, Copy)]
pub struct Validated<'a>(&'a [u8]);

impl<'a> Validated<'a> {
    /// Checks `bytes` as UTF-8.
    #[cfg(test)]
    pub fn new(bytes: &'a [u8]) -> Result<Validated<'a>, std::str::Utf8Error> {
        std::str::from_utf8(bytes)?;
        Ok(Validated(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_at_refuses_bad_ranges_and_split_chars() {
        let text = "héllo";
        let blob = Validated::new(text.as_bytes()).unwrap();
        assert_eq!(Region::str_at(blob, 0, 1), Some("h"));
        assert_eq!(Region::str_at(blob, 1, 2), Some("é"));
        assert_eq!(Region::str_at(blob, 1, 1), None, "splits é");
        assert_eq!(Region::str_at(blob, 2, 1), None, "starts inside é");
        assert_eq!(Region::str_at(blob, 0, 7), None, "past the end");
        assert_eq!(Region::str_at(blob, u64::MAX, 2), None, "overflow");
        assert_eq!(Region::str_at(blob, 6, 0), Some(""));
    }

    #[test]
    fn heap_region_is_aligned() {
        let region = Region::from_bytes(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(region.bytes().len(), 9);
        assert_eq!(region.bytes().as_ptr() as usize % 8, 0);
    }
}
