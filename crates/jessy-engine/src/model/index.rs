//! Lookup structures derived from the stored arrays at load time (never stored, so they cannot
//! disagree with what they index): the key directory and the dense-row map.

/// A bucket directory over sorted `keys`: with `bits` = ⌈log₂ n⌉ − 2 (about 2.5 keys per
/// bucket), entry `b` is the first row whose key's top `bits` bits are ≥ `b`; there are
/// `2^bits + 1` entries, the last being `keys.len()`. Costs 1.6 bytes per key (keys themselves
/// cost 8) and turns a lookup into one directory read and a scan of a few adjacent keys. Keys
/// are finalized hashes, uniform over `u64`, so buckets are evenly filled.
pub fn build_key_index(keys: &[u64]) -> Vec<u32> {
    let bits = index_bits_for(keys.len());
    let buckets = 1usize << bits;
    let mut index = Vec::with_capacity(buckets + 1);
    let mut j = 0usize;
    for b in 0..buckets {
        while j < keys.len() && (keys[j].checked_shr(64 - bits).unwrap_or(0) as usize) < b {
            j += 1;
        }
        index.push(j as u32);
    }
    index.push(keys.len() as u32);
    index
}

/// The dense map of a model with `rows` feature rows: entry `w` holds the bitmap of rows
/// `64w..64w + 64` (bit set = dense) and the number of dense rows before `64w`, so the dense
/// index of a row is one entry read and a popcount. 12 bytes per 64 rows (24 KB for 136k
/// rows, small enough to stay in cache), instead of a dependent binary search per feature.
pub fn build_dense_map(dense_rows: &[u32], rows: usize) -> Vec<(u64, u32)> {
    let mut map = vec![(0u64, 0u32); rows.div_ceil(64)];
    for &r in dense_rows {
        if let Some(entry) = map.get_mut(r as usize / 64) {
            entry.0 |= 1u64 << (r % 64);
        }
    }
    let mut rank = 0u32;
    for entry in &mut map {
        entry.1 = rank;
        rank += entry.0.count_ones();
    }
    map
}

/// Directory size for `n` keys.
pub(super) fn index_bits_for(n: usize) -> u32 {
    let log = usize::BITS - n.max(1).leading_zeros(); // ⌈log₂(n + 1)⌉-ish
    log.saturating_sub(2).min(30)
}

/// The directory's `bits`, when it is a usable directory (`2^bits + 1` entries).
#[inline]
pub(super) fn key_index_bits(index: &[u32]) -> Option<u32> {
    let buckets = index.len().checked_sub(1)?;
    (buckets.is_power_of_two() && buckets <= 1 << 30).then(|| buckets.trailing_zeros())
}
