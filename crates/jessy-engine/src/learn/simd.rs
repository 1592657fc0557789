//! The one vector kernel of the query path: `acc += a · x` over a dense model row.
//!
//! A query's frequent features (common character n-grams, function words) have weights for
//! most outputs and are stored dense; adding them is most of the scoring work. The portable
//! loop is vectorized by the compiler for the baseline target (SSE2, 4 lanes). On a CPU with
//! AVX the same loop, compiled for AVX, does 8 lanes. It is a multiply and an add per element
//! either way (no fused multiply-add), so every path gives bit-identical results: a snapshot
//! routes the same on every machine.
//!
//! This module and the memory map are the engine's only `unsafe` code: calling a function
//! compiled for a CPU feature is `unsafe`, and is sound once that feature has been detected.
#![allow(unsafe_code)]

/// `acc[i] += a · x[i]` over the shorter of the two slices.
#[inline]
pub fn axpy(acc: &mut [f32], a: f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: `axpy_avx` only needs AVX, which the CPU has (detected just above).
            unsafe { axpy_avx(acc, a, x) };
            return;
        }
    }
    axpy_portable(acc, a, x);
}

/// The portable loop. Slices as separate, non-aliasing arguments let the compiler vectorize.
#[inline(always)]
fn axpy_portable(acc: &mut [f32], a: f32, x: &[f32]) {
    let n = acc.len().min(x.len());
    for (l, &w) in acc[..n].iter_mut().zip(&x[..n]) {
        *l += a * w;
    }
}

/// The portable loop compiled with AVX enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn axpy_avx(acc: &mut [f32], a: f32, x: &[f32]) {
    axpy_portable(acc, a, x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_gives_the_same_bits() {
        for n in [0usize, 1, 7, 8, 9, 31, 151, 1000] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let start: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut expected = start.clone();
            for (e, &w) in expected.iter_mut().zip(&x) {
                *e += 0.3 * w;
            }
            let mut dispatched = start.clone();
            axpy(&mut dispatched, 0.3, &x);
            let mut portable = start.clone();
            axpy_portable(&mut portable, 0.3, &x);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dispatched), bits(&expected), "n = {n}");
            assert_eq!(bits(&portable), bits(&expected), "n = {n}");
        }
        // The shorter slice bounds the loop.
        let mut acc = vec![1.0f32; 3];
        axpy(&mut acc, 2.0, &[1.0; 5]);
        assert_eq!(acc, [3.0; 3]);
        let mut acc = vec![1.0f32; 5];
        axpy(&mut acc, 2.0, &[1.0; 2]);
        assert_eq!(acc, [3.0, 3.0, 1.0, 1.0, 1.0]);
    }
}
