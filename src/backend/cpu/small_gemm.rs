//! Matrix products for the few-row blocks of the recurrent loop (names start at different
//! steps, so early steps have 1 to 8 active rows, and scoring one name has 1).
//!
//! `matrixmultiply` packs the whole right-hand matrix (128 x 512, 256 KB) on every call,
//! which costs more than the product itself for a handful of rows. These loops make one pass
//! over the matrix instead. Blocks above `SMALL_ROWS` rows go to `general_mat_mul`.
//! Like every fast path they sum in a different order from the reference (checked to ~1e-5
//! in tests/fast_cpu.rs), and they are deterministic: the same rows give the same bits.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// Blocks with at most this many rows use the loops below.
pub const SMALL_ROWS: usize = 8;

/// `c += a b` with `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]`, all row-major.
pub fn add_product(a: &[f32], b: ArrayView2<f32>, c: &mut [f32], m: usize) {
    let (k, n) = b.dim();
    if m > SMALL_ROWS {
        let av = ArrayView2::from_shape((m, k), &a[..m * k]).expect("block");
        let mut cv = ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).expect("block");
        general_mat_mul(1.0, &av, &b, 1.0, &mut cv);
        return;
    }
    let b = b.as_slice().expect("row-major matrix");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { add_product_avx2(a, b, c, m, k, n) };
    }
    add_product_portable(a, b, c, m, k, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_product_avx2(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    add_product_portable(a, b, c, m, k, n)
}

/// One pass over `b`: each row of `b` is added, scaled, into every row of `c`.
#[inline(always)]
fn add_product_portable(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    for (kk, b_row) in b.chunks_exact(n).enumerate().take(k) {
        for i in 0..m {
            let scale = a[i * k + kk];
            for (cv, &bv) in c[i * n..(i + 1) * n].iter_mut().zip(b_row) {
                *cv += scale * bv;
            }
        }
    }
}

/// `c = a b^T` with `a` `[m, n]`, `b` `[k, n]`, `c` `[m, k]` (the gradient through a recurrent
/// kernel stored `[H, 4H]`): each output is a dot product of two contiguous rows.
pub fn product_transposed(a: &[f32], b: ArrayView2<f32>, c: &mut [f32], m: usize) {
    let (k, n) = b.dim();
    if m > SMALL_ROWS {
        let av = ArrayView2::from_shape((m, n), &a[..m * n]).expect("block");
        let mut cv = ArrayViewMut2::from_shape((m, k), &mut c[..m * k]).expect("block");
        general_mat_mul(1.0, &av, &b.t(), 0.0, &mut cv);
        return;
    }
    let b = b.as_slice().expect("row-major matrix");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { product_transposed_avx2(a, b, c, m, k, n) };
    }
    product_transposed_portable(a, b, c, m, k, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn product_transposed_avx2(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    product_transposed_portable(a, b, c, m, k, n)
}

#[inline(always)]
fn product_transposed_portable(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    const LANES: usize = 8;
    for i in 0..m {
        let a_row = &a[i * n..(i + 1) * n];
        for (kk, b_row) in b.chunks_exact(n).enumerate().take(k) {
            // Eight partial sums so the loop vectorises; combined in a fixed order.
            let mut acc = [0.0f32; LANES];
            let chunks = a_row.chunks_exact(LANES).zip(b_row.chunks_exact(LANES));
            for (x, y) in chunks {
                for l in 0..LANES {
                    acc[l] += x[l] * y[l];
                }
            }
            let tail = n - n % LANES;
            let mut sum =
                (acc[0] + acc[4]) + (acc[1] + acc[5]) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            for j in tail..n {
                sum += a_row[j] * b_row[j];
            }
            c[i * k + kk] = sum;
        }
    }
}

/// `c += a^T b` with `a` `[m, k]`, `b` `[m, n]`, `c` `[k, n]` (the recurrent kernel's gradient).
pub fn add_transposed_product(a: &[f32], b: &[f32], mut c: ArrayViewMut2<f32>, m: usize) {
    let (k, n) = c.dim();
    if m > SMALL_ROWS {
        let av = ArrayView2::from_shape((m, k), &a[..m * k]).expect("block");
        let bv = ArrayView2::from_shape((m, n), &b[..m * n]).expect("block");
        general_mat_mul(1.0, &av.t(), &bv, 1.0, &mut c);
        return;
    }
    let c = c.as_slice_mut().expect("row-major matrix");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { add_transposed_product_avx2(a, b, c, m, k, n) };
    }
    add_transposed_product_portable(a, b, c, m, k, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn add_transposed_product_avx2(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    add_transposed_product_portable(a, b, c, m, k, n)
}

#[inline(always)]
fn add_transposed_product_portable(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    for (kk, c_row) in c.chunks_exact_mut(n).enumerate().take(k) {
        for i in 0..m {
            let scale = a[i * k + kk];
            for (cv, &bv) in c_row.iter_mut().zip(&b[i * n..(i + 1) * n]) {
                *cv += scale * bv;
            }
        }
    }
}
