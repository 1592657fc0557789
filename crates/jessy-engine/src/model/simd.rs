//! The one vector kernel of the query path: `acc += a · x` over a dense model row, whose
//! weights are stored as bfloat16.
//!
//! A query's frequent features (common character n-grams, function words) have weights for
//! most outputs and are stored dense; adding them is most of the scoring work, and reading
//! them most of its memory traffic. bfloat16 is the top half of an `f32`: half the bytes, the
//! full exponent range, 8 significant bits (a relative rounding error of at most 2⁻⁸, which on
//! CLINC150 left accuracy where it was: 0.9340 in-scope vs 0.9338 with `f32`), and widening it
//! back is a shift.
//!
//! The portable loop is vectorized by the compiler for the baseline target (SSE2). On a CPU
//! with AVX2 the same loop, compiled for AVX2, does 8 lanes. It is a widen, a multiply and an
//! add per element either way (no fused multiply-add), so every path gives bit-identical
//! results: a snapshot routes the same on every machine.
//!
//! This module and the memory map are the engine's only `unsafe` code: calling a function
//! compiled for a CPU feature is `unsafe`, and is sound once that feature has been detected.
#![allow(unsafe_code)]

/// The bfloat16 nearest to `x` (ties to even); NaN stays NaN.
pub fn bf16_from_f32(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x40;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The `f32` value of a bfloat16.
#[inline(always)]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// `acc[i] += a · x[i]` over the shorter of the two slices, `x` in bfloat16.
#[inline]
pub fn axpy_bf16(acc: &mut [f32], a: f32, x: &[u16]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `axpy_avx2` only needs AVX2, which the CPU has (detected just above).
            unsafe { axpy_avx2(acc, a, x) };
            return;
        }
    }
    axpy_portable(acc, a, x);
}

/// The portable loop. Slices as separate, non-aliasing arguments let the compiler vectorize.
#[inline(always)]
fn axpy_portable(acc: &mut [f32], a: f32, x: &[u16]) {
    let n = acc.len().min(x.len());
    for (l, &w) in acc[..n].iter_mut().zip(&x[..n]) {
        *l += a * bf16_to_f32(w);
    }
}

/// The portable loop compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn axpy_avx2(acc: &mut [f32], a: f32, x: &[u16]) {
    axpy_portable(acc, a, x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_gives_the_same_bits() {
        for n in [0usize, 1, 7, 8, 9, 31, 151, 1000] {
            let x: Vec<u16> = (0..n)
                .map(|i| bf16_from_f32((i as f32 * 0.37).sin()))
                .collect();
            let start: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut expected = start.clone();
            for (e, &w) in expected.iter_mut().zip(&x) {
                *e += 0.3 * bf16_to_f32(w);
            }
            let mut dispatched = start.clone();
            axpy_bf16(&mut dispatched, 0.3, &x);
            let mut portable = start.clone();
            axpy_portable(&mut portable, 0.3, &x);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dispatched), bits(&expected), "n = {n}");
            assert_eq!(bits(&portable), bits(&expected), "n = {n}");
        }
        // The shorter slice bounds the loop.
        let one = bf16_from_f32(1.0);
        let mut acc = vec![1.0f32; 3];
        axpy_bf16(&mut acc, 2.0, &[one; 5]);
        assert_eq!(acc, [3.0; 3]);
        let mut acc = vec![1.0f32; 5];
        axpy_bf16(&mut acc, 2.0, &[one; 2]);
        assert_eq!(acc, [3.0, 3.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn bf16_rounds_to_nearest_and_keeps_specials() {
        for x in [0.0f32, -0.0, 1.0, -2.5, 1e-30, 3.0e38, 0.1, -0.003, 123.456] {
            let back = bf16_to_f32(bf16_from_f32(x));
            assert!((back - x).abs() <= x.abs() * (1.0 / 256.0), "{x} -> {back}");
        }
        // Exactly representable values survive unchanged; ties go to even.
        assert_eq!(bf16_to_f32(bf16_from_f32(0.5)), 0.5);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f80_8000)), 0x3f80);
        assert_eq!(bf16_from_f32(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert!(bf16_to_f32(bf16_from_f32(f32::NAN)).is_nan());
        assert_eq!(bf16_to_f32(bf16_from_f32(f32::INFINITY)), f32::INFINITY);
    }
}
