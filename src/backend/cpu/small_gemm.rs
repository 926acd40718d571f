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

/// `c += a b` in register tiles: `R` rows by `C` columns of `c` stay in registers while all
/// `k` rows of `b` stream past (one pass over `b` per tile row, instead of loading and
/// storing `c` once per row of `b`). Every element still adds its `k` terms in order, so the
/// result is bit-for-bit what the plain loop gives.
#[inline(always)]
fn add_product_portable(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    let mut i = 0;
    while i < m {
        let mut j0 = 0;
        if m - i >= 2 {
            while j0 + 32 <= n {
                tile::<2, 32>(a, b, c, (i, j0), k, n);
                j0 += 32;
            }
            tail(a, b, c, (i, i + 2), j0, k, n);
            i += 2;
        } else {
            while j0 + 128 <= n {
                tile::<1, 128>(a, b, c, (i, j0), k, n);
                j0 += 128;
            }
            tail(a, b, c, (i, i + 1), j0, k, n);
            i += 1;
        }
    }
}

/// One `R x C` tile of `c` at (row, column) `at`.
#[inline(always)]
fn tile<const R: usize, const C: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    (i, j0): (usize, usize),
    k: usize,
    n: usize,
) {
    let mut acc = [[0.0f32; C]; R];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&c[(i + r) * n + j0..][..C]);
    }
    for kk in 0..k {
        let b_row: &[f32; C] = b[kk * n + j0..][..C].try_into().expect("C columns");
        for (r, row) in acc.iter_mut().enumerate() {
            let scale = a[(i + r) * k + kk];
            for (cv, &bv) in row.iter_mut().zip(b_row) {
                *cv += scale * bv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(i + r) * n + j0..][..C].copy_from_slice(row);
    }
}

/// Columns `j0..n` of rows `rows` (what the tiles did not cover), term by term.
#[inline(always)]
fn tail(a: &[f32], b: &[f32], c: &mut [f32], rows: (usize, usize), j0: usize, k: usize, n: usize) {
    for r in rows.0..rows.1 {
        for j in j0..n {
            let mut v = c[r * n + j];
            for kk in 0..k {
                v += a[r * k + kk] * b[kk * n + j];
            }
            c[r * n + j] = v;
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
