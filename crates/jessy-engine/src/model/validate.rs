//! Checking a model's arrays before the query path trusts them: a snapshot whose model breaks
//! an invariant is refused at open, so scoring never panics on a loaded view.

use super::index::key_index_bits;
use super::simd::bf16_to_f32;
use super::{ModelError, ModelView};

impl ModelView<'_> {
    /// Checks every invariant the query path relies on, so that a snapshot loader can refuse
    /// corrupt arrays up front; the query path itself never panics on a validated view.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.feature_config.validate()?;
        let n = self.arrays.keys.len();
        let len = |what, len: usize, expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(ModelError::Length {
                    what,
                    len,
                    expected,
                })
            }
        };
        len("idf", self.arrays.idf.len(), n)?;
        len("row_start", self.arrays.row_start.len(), n + 1)?;
        len(
            "post_weight",
            self.arrays.post_weight.len(),
            self.arrays.post_class.len(),
        )?;
        let classes = self.num_classes as usize;
        if self.arrays.bias.len() != classes && self.arrays.bias.len() != classes + 1 {
            return Err(ModelError::Length {
                what: "bias",
                len: self.arrays.bias.len(),
                expected: classes,
            });
        }
        if let Some(i) = self.arrays.keys.windows(2).position(|w| w[0] >= w[1]) {
            return Err(ModelError::KeysNotSorted { index: i + 1 });
        }
        validate_key_index(self.arrays.keys, self.key_index)?;
        if self.arrays.row_start[0] != 0 {
            return Err(ModelError::RowStart { index: 0 });
        }
        if let Some(i) = self.arrays.row_start.windows(2).position(|w| w[0] > w[1]) {
            return Err(ModelError::RowStart { index: i + 1 });
        }
        if self.arrays.row_start[n] as usize != self.arrays.post_class.len() {
            return Err(ModelError::RowStart { index: n });
        }
        let outputs = self.arrays.bias.len();
        if let Some(i) = self
            .arrays
            .post_class
            .iter()
            .position(|&c| c as usize >= outputs)
        {
            return Err(ModelError::ClassOutOfRange {
                index: i,
                class: self.arrays.post_class[i],
                classes: outputs,
            });
        }
        for row in 0..n {
            let p = &self.arrays.post_class
                [self.arrays.row_start[row] as usize..self.arrays.row_start[row + 1] as usize];
            if p.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ModelError::PostingsNotSorted { row });
            }
        }
        let bad = |what, v: &[f32], positive: bool| match v
            .iter()
            .position(|x| !x.is_finite() || (positive && *x <= 0.0))
        {
            Some(index) => Err(ModelError::NonFinite { what, index }),
            None => Ok(()),
        };
        bad("idf", self.arrays.idf, true)?;
        bad("post_weight", self.arrays.post_weight, false)?;
        bad("bias", self.arrays.bias, false)?;
        len(
            "dense",
            self.arrays.dense.len(),
            self.arrays.dense_rows.len().saturating_mul(outputs),
        )?;
        for (i, &r) in self.arrays.dense_rows.iter().enumerate() {
            let increasing = i == 0 || self.arrays.dense_rows[i - 1] < r;
            let r = r as usize;
            if !increasing || r >= n || self.arrays.row_start[r] != self.arrays.row_start[r + 1] {
                return Err(ModelError::DenseRows { index: i });
            }
        }
        if let Some(index) = self
            .arrays
            .dense
            .iter()
            .position(|&b| !bf16_to_f32(b).is_finite())
        {
            return Err(ModelError::NonFinite {
                what: "dense",
                index,
            });
        }
        if !self.dense_map.is_empty()
            && !dense_map_matches(self.dense_map, self.arrays.dense_rows, n)
        {
            return Err(ModelError::DenseRows {
                index: self.arrays.dense_rows.len(),
            });
        }
        Ok(())
    }
}

/// Whether `map` is exactly [`build_dense_map`] of `dense_rows` (strictly increasing, `< rows`,
/// as validation has already checked), without allocating.
fn dense_map_matches(map: &[(u64, u32)], dense_rows: &[u32], rows: usize) -> bool {
    if map.len() != rows.div_ceil(64) {
        return false;
    }
    let mut next = dense_rows.iter().peekable();
    let mut rank = 0u32;
    for (w, &(bits, stored_rank)) in map.iter().enumerate() {
        let mut expected = 0u64;
        while let Some(&&r) = next.peek() {
            if r as usize / 64 != w {
                break;
            }
            expected |= 1u64 << (r % 64);
            next.next();
        }
        if bits != expected || stored_rank != rank {
            return false;
        }
        rank += bits.count_ones();
    }
    next.peek().is_none()
}

/// Checks that `index` is empty or exactly [`build_key_index`] of `keys`, without allocating.
fn validate_key_index(keys: &[u64], index: &[u32]) -> Result<(), ModelError> {
    if index.is_empty() {
        return Ok(());
    }
    let bits = key_index_bits(index).ok_or(ModelError::KeyIndex { index: 0 })?;
    let mut j = 0usize;
    for (b, &start) in index[..index.len() - 1].iter().enumerate() {
        while j < keys.len() && (keys[j].checked_shr(64 - bits).unwrap_or(0) as usize) < b {
            j += 1;
        }
        if start as usize != j {
            return Err(ModelError::KeyIndex { index: b });
        }
    }
    if index[index.len() - 1] as usize != keys.len() {
        return Err(ModelError::KeyIndex {
            index: index.len() - 1,
        });
    }
    Ok(())
}
