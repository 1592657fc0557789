//! Stable feature hashing: FNV-1a 64 over a namespace byte and the feature's bytes, followed by
//! a 64-bit finalizer.
//!
//! Feature keys are stored in snapshots, so the hash must never change between builds, Rust
//! releases or machines: `std`'s `DefaultHasher` makes no such promise, FNV-1a is fully specified.
//! FNV's high bits mix poorly for short inputs (a 2-character n-gram is 3 bytes), and the model
//! finds a key's row through a directory indexed by the key's top bits, which needs keys spread
//! uniformly over `u64` to fill its buckets evenly; the finalizer (the `fmix64` step of
//! MurmurHash3) spreads every input bit over all output bits.

/// FNV-1a 64 offset basis.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Namespace byte of word unigram features (stems).
pub const KIND_UNIGRAM: u8 = 1;
/// Namespace byte of word bigram features (adjacent stems, with sentence-boundary markers).
pub const KIND_BIGRAM: u8 = 2;
/// Namespace byte of word pair features (two stems a few positions apart, unordered).
pub const KIND_PAIR: u8 = 3;
/// Namespace byte of character n-gram features (over the surface words).
pub const KIND_CHAR: u8 = 4;

/// Separator between the tokens of a multi-token feature. 0xFF never occurs in UTF-8, so
/// `("ab", "c")` and `("a", "bc")` hash differently.
pub const SEP: u8 = 0xFF;
/// Stands for the start of the sentence in bigrams (not a UTF-8 byte either).
pub const BOS: u8 = 0xFE;
/// Stands for the end of the sentence in bigrams.
pub const EOS: u8 = 0xFD;

/// An incremental FNV-1a 64 hasher. `Copy`, so a prefix's state can be extended in several ways
/// (all n-grams starting at one position share their prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Fnv64 {
    /// A hasher for a feature of namespace `kind`.
    #[inline]
    pub const fn new(kind: u8) -> Self {
        Self(OFFSET).byte(kind)
    }

    /// Feeds one byte.
    #[inline]
    pub const fn byte(self, b: u8) -> Self {
        Self((self.0 ^ b as u64).wrapping_mul(PRIME))
    }

    /// Feeds bytes.
    #[inline]
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self = self.byte(b);
        }
        self
    }

    /// Feeds a string's UTF-8 bytes.
    #[inline]
    pub fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }

    /// Feeds a character's UTF-8 bytes.
    #[inline]
    pub fn char(self, c: char) -> Self {
        let mut buf = [0u8; 4];
        self.bytes(c.encode_utf8(&mut buf).as_bytes())
    }

    /// The finished, well-mixed key.
    #[inline]
    pub const fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

/// MurmurHash3's 64-bit finalizer: a bijection on `u64` with full avalanche.
#[inline]
const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The key of the word unigram feature of `stem`. Public so that callers can find a term's
/// model row (expansion, associations) without featurizing text.
pub fn unigram_key(stem: &str) -> u64 {
    with_block(Fnv64::new(KIND_UNIGRAM).str(stem).finish(), 0)
}

/// Bits of a feature key that hold its block (see [`with_block`]).
pub const BLOCK_BITS: u64 = 0b11;

/// A finished hash with its two low bits replaced by the feature's block (0 words, 1 pairs,
/// 2 characters). The key then says which block it belongs to, so a text's keys of all
/// blocks sort together as plain integers and each feature finds its block for the per-block
/// weighting from its own key. 62 hash bits remain: collisions stay out of reach.
#[inline]
pub const fn with_block(key: u64, block: usize) -> u64 {
    (key & !BLOCK_BITS) | (block as u64 & BLOCK_BITS)
}

/// The block of a key made by [`with_block`].
#[inline]
pub const fn block_of(key: u64) -> usize {
    (key & BLOCK_BITS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        // Published FNV-1a 64 test vectors, checked without the namespace byte or finalizer.
        let raw = |s: &[u8]| {
            let mut h = OFFSET;
            for &b in s {
                h = (h ^ b as u64).wrapping_mul(PRIME);
            }
            h
        };
        assert_eq!(raw(b""), 0xcbf29ce484222325);
        assert_eq!(raw(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(raw(b"foobar"), 0x85944171f73967e8);
        assert_eq!(Fnv64(OFFSET).bytes(b"foobar").0, 0x85944171f73967e8);
    }

    #[test]
    fn keys_are_stable() {
        // Fixed keys: if these change, every stored snapshot's feature keys are invalid, and the
        // feature version in `FeatureConfig` must be bumped.
        assert_eq!(unigram_key("balanc"), 0xe473_744b_e081_9110);
        assert_eq!(
            Fnv64::new(KIND_CHAR).str(" ca").finish(),
            0x10cb_2e5b_04ee_15e8
        );
    }

    #[test]
    fn namespaces_and_separators_separate() {
        assert_ne!(unigram_key("ab"), Fnv64::new(KIND_CHAR).str("ab").finish());
        let ab_c = Fnv64::new(KIND_BIGRAM)
            .str("ab")
            .byte(SEP)
            .str("c")
            .finish();
        let a_bc = Fnv64::new(KIND_BIGRAM)
            .str("a")
            .byte(SEP)
            .str("bc")
            .finish();
        assert_ne!(ab_c, a_bc);
        assert_eq!(
            Fnv64::new(KIND_CHAR).char('é').finish(),
            Fnv64::new(KIND_CHAR).str("é").finish()
        );
    }

    #[test]
    fn fmix_is_a_bijection_sample() {
        let mut seen: Vec<u64> = (0..10_000u64).map(fmix64).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10_000);
    }
}
