//! Sixteen float32 lanes, written once and compiled three ways: `Avx512` (one `__m512`
//! register) on CPUs with AVX-512F, `Avx2` (two `__m256` with FMA) on CPUs with AVX2, and
//! `Portable` (a `[f32; 16]` the compiler vectorises as it can) everywhere else. The LSTM
//! kernels in `packed_lstm.rs` are generic over `Lanes`, so every machine runs the same
//! algorithm.
//!
//! `exp`, `sigmoid` and `tanh` repeat `fast_math`'s scalar formulas operation for operation
//! (no fused multiply-adds), so every lane gives the scalar function's bits: the tests below
//! check that, and tests/fast_math.rs bounds the scalar functions against f64. Only
//! `mul_add`, used by the matrix products, fuses.

/// Sixteen float32 lanes and the operations the LSTM kernels need.
///
/// # Safety
/// An implementation may execute instructions of a CPU feature (AVX2, AVX-512) in its safe
/// methods. Implementing the trait promises that no value of the type is ever created on a
/// CPU without that feature: the AVX types are nameable only in this folder (`lanes` is a
/// private module and they are `pub(super)`), and the one code that instantiates the kernels
/// with them is `on_lanes!` in `packed_lstm.rs`, which calls them only after detecting the
/// features (`Simd::supported`).
pub unsafe trait Lanes: Copy {
    /// Rows the product kernels keep in registers at once (the register budget differs).
    const ROWS: usize;
    /// Column tiles (of 16) the product kernels keep in registers per row: 4, 2 or 1. With
    /// fewer than 4, the forward step takes a tile's four gates in several passes.
    const COLS: usize;
    /// Depth (inner dimension) of one pass of the product kernels: few register rows reread
    /// the weights for every row, so those passes keep to a block of weights that stays in
    /// the first-level cache. Blocking changes no result: each sum runs in the same order.
    const DEPTH: usize;
    fn splat(x: f32) -> Self;
    fn load(from: &[f32; 16]) -> Self;
    fn store(self, to: &mut [f32; 16]);
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
    /// `self * b + c`, fused where the hardware fuses.
    fn mul_add(self, b: Self, c: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn max(self, other: Self) -> Self;
    fn abs(self) -> Self;
    /// `|self|` with the sign of `sign`.
    fn copysign(self, sign: Self) -> Self;
    /// Per lane: `if a < b { then } else { otherwise }`.
    fn select_lt(a: Self, b: Self, then: Self, otherwise: Self) -> Self;
    /// `2^n` for lanes holding whole numbers in -126..=127.
    fn pow2(n: Self) -> Self;
}

/// The portable lanes: plain arrays, one loop per operation, for CPUs without AVX2.
#[derive(Clone, Copy, Debug)]
pub struct Portable([f32; 16]);

impl Portable {
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        Portable(self.0.map(f))
    }

    #[inline(always)]
    fn zip(self, other: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o = f(*o, b);
        }
        Portable(out)
    }
}

// SAFETY: plain arrays; no CPU feature is needed.
unsafe impl Lanes for Portable {
    // Two rows of one column tile: 8 of the 16 SSE registers of a plain x86-64 build (more
    // spilled, measured: 2 x 2 and 4 x 1 were slower).
    const ROWS: usize = 2;
    const COLS: usize = 1;
    // 64 inputs x 16 lanes: a 4 KB block of weights per column tile.
    const DEPTH: usize = 64;

    #[inline(always)]
    fn splat(x: f32) -> Self {
        Portable([x; 16])
    }
    #[inline(always)]
    fn load(from: &[f32; 16]) -> Self {
        Portable(*from)
    }
    #[inline(always)]
    fn store(self, to: &mut [f32; 16]) {
        *to = self.0;
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self.zip(other, |a, b| a + b)
    }
    #[inline(always)]
    fn sub(self, other: Self) -> Self {
        self.zip(other, |a, b| a - b)
    }
    #[inline(always)]
    fn mul(self, other: Self) -> Self {
        self.zip(other, |a, b| a * b)
    }
    #[inline(always)]
    fn div(self, other: Self) -> Self {
        self.zip(other, |a, b| a / b)
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        // Not fused: `f32::mul_add` is a slow library call on CPUs without FMA.
        self.mul(b).add(c)
    }
    #[inline(always)]
    fn min(self, other: Self) -> Self {
        self.zip(other, |a, b| if b < a { b } else { a })
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        self.zip(other, |a, b| if b > a { b } else { a })
    }
    #[inline(always)]
    fn abs(self) -> Self {
        self.map(f32::abs)
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        self.zip(sign, f32::copysign)
    }
    #[inline(always)]
    fn select_lt(a: Self, b: Self, then: Self, otherwise: Self) -> Self {
        let mut out = otherwise.0;
        for (((o, x), y), t) in out.iter_mut().zip(a.0).zip(b.0).zip(then.0) {
            if x < y {
                *o = t;
            }
        }
        Portable(out)
    }
    #[inline(always)]
    fn pow2(n: Self) -> Self {
        n.map(|v| f32::from_bits(((v as i32 + 127) as u32) << 23))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx2::Avx2;
#[cfg(target_arch = "x86_64")]
pub(super) use avx512::Avx512;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// Two AVX2 registers. Values of this type exist only inside the `avx2,fma` entry points
    /// of `packed_lstm.rs`, which run after detecting both features: that check is what
    /// makes the `unsafe` blocks below sound.
    #[derive(Clone, Copy, Debug)]
    pub(in crate::backend::cpu) struct Avx2([__m256; 2]);

    /// Applies a two-operand intrinsic to both halves (a macro, not a closure: a closure is
    /// compiled without the caller's target features, so its intrinsics would not inline).
    macro_rules! halves {
        ($f:ident, $a:expr, $b:expr) => {{
            let (a, b) = ($a, $b);
            unsafe { Avx2([$f(a.0[0], b.0[0]), $f(a.0[1], b.0[1])]) }
        }};
    }

    // SAFETY: see the type's comment: values exist only after AVX2 and FMA were detected.
    unsafe impl Lanes for Avx2 {
        // 16 registers: two rows of two column tiles (two registers each) take 8, the weights 4.
        const ROWS: usize = 2;
        const COLS: usize = 2;
        // 128 inputs x 2 tiles x 16 lanes: a 16 KB block of weights.
        const DEPTH: usize = 128;

        #[inline(always)]
        fn splat(x: f32) -> Self {
            let v = unsafe { _mm256_set1_ps(x) };
            Avx2([v, v])
        }
        #[inline(always)]
        fn load(from: &[f32; 16]) -> Self {
            unsafe {
                Avx2([
                    _mm256_loadu_ps(from.as_ptr()),
                    _mm256_loadu_ps(from.as_ptr().add(8)),
                ])
            }
        }
        #[inline(always)]
        fn store(self, to: &mut [f32; 16]) {
            unsafe {
                _mm256_storeu_ps(to.as_mut_ptr(), self.0[0]);
                _mm256_storeu_ps(to.as_mut_ptr().add(8), self.0[1]);
            }
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            halves!(_mm256_add_ps, self, other)
        }
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            halves!(_mm256_sub_ps, self, other)
        }
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            halves!(_mm256_mul_ps, self, other)
        }
        #[inline(always)]
        fn div(self, other: Self) -> Self {
            halves!(_mm256_div_ps, self, other)
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            unsafe {
                Avx2([
                    _mm256_fmadd_ps(self.0[0], b.0[0], c.0[0]),
                    _mm256_fmadd_ps(self.0[1], b.0[1], c.0[1]),
                ])
            }
        }
        #[inline(always)]
        fn min(self, other: Self) -> Self {
            // minps(a, b) returns b unless a < b: the same as Portable's `if b < a`.
            halves!(_mm256_min_ps, other, self)
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            halves!(_mm256_max_ps, other, self)
        }
        #[inline(always)]
        fn abs(self) -> Self {
            halves!(
                _mm256_and_ps,
                self,
                Avx2::splat(f32::from_bits(0x7fff_ffff))
            )
        }
        #[inline(always)]
        fn copysign(self, sign: Self) -> Self {
            let signs = halves!(_mm256_and_ps, sign, Avx2::splat(-0.0));
            halves!(_mm256_or_ps, self.abs(), signs)
        }
        #[inline(always)]
        fn select_lt(a: Self, b: Self, then: Self, otherwise: Self) -> Self {
            unsafe {
                let lt0 = _mm256_cmp_ps::<_CMP_LT_OQ>(a.0[0], b.0[0]);
                let lt1 = _mm256_cmp_ps::<_CMP_LT_OQ>(a.0[1], b.0[1]);
                Avx2([
                    _mm256_blendv_ps(otherwise.0[0], then.0[0], lt0),
                    _mm256_blendv_ps(otherwise.0[1], then.0[1], lt1),
                ])
            }
        }
        #[inline(always)]
        fn pow2(n: Self) -> Self {
            unsafe {
                let bias = _mm256_set1_epi32(127);
                let lo = _mm256_add_epi32(_mm256_cvttps_epi32(n.0[0]), bias);
                let hi = _mm256_add_epi32(_mm256_cvttps_epi32(n.0[1]), bias);
                Avx2([
                    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(lo)),
                    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(hi)),
                ])
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// One AVX-512 register. Values of this type exist only inside the `avx512f` entry
    /// points of `packed_lstm.rs`, which run after `is_x86_feature_detected!("avx512f")`:
    /// that check is what makes the `unsafe` blocks below sound.
    #[derive(Clone, Copy, Debug)]
    pub(in crate::backend::cpu) struct Avx512(__m512);

    // SAFETY: see the type's comment: values exist only after AVX-512F was detected.
    unsafe impl Lanes for Avx512 {
        // 32 registers: six rows of four gate accumulators, four for the weights.
        const ROWS: usize = 6;
        const COLS: usize = 4;
        const DEPTH: usize = usize::MAX;

        #[inline(always)]
        fn splat(x: f32) -> Self {
            Avx512(unsafe { _mm512_set1_ps(x) })
        }
        #[inline(always)]
        fn load(from: &[f32; 16]) -> Self {
            Avx512(unsafe { _mm512_loadu_ps(from.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, to: &mut [f32; 16]) {
            unsafe { _mm512_storeu_ps(to.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn add(self, other: Self) -> Self {
            Avx512(unsafe { _mm512_add_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn sub(self, other: Self) -> Self {
            Avx512(unsafe { _mm512_sub_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn mul(self, other: Self) -> Self {
            Avx512(unsafe { _mm512_mul_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn div(self, other: Self) -> Self {
            Avx512(unsafe { _mm512_div_ps(self.0, other.0) })
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            Avx512(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn min(self, other: Self) -> Self {
            // minps(a, b) returns b unless a < b: the same as Portable's `if b < a`.
            Avx512(unsafe { _mm512_min_ps(other.0, self.0) })
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            Avx512(unsafe { _mm512_max_ps(other.0, self.0) })
        }
        #[inline(always)]
        fn abs(self) -> Self {
            Avx512(unsafe { _mm512_abs_ps(self.0) })
        }
        #[inline(always)]
        fn copysign(self, sign: Self) -> Self {
            unsafe {
                let magnitude = _mm512_castps_si512(_mm512_abs_ps(self.0));
                let sign_bit =
                    _mm512_and_si512(_mm512_castps_si512(sign.0), _mm512_set1_epi32(i32::MIN));
                Avx512(_mm512_castsi512_ps(_mm512_or_si512(magnitude, sign_bit)))
            }
        }
        #[inline(always)]
        fn select_lt(a: Self, b: Self, then: Self, otherwise: Self) -> Self {
            unsafe {
                let lt = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a.0, b.0);
                Avx512(_mm512_mask_blend_ps(lt, otherwise.0, then.0))
            }
        }
        #[inline(always)]
        fn pow2(n: Self) -> Self {
            unsafe {
                let biased = _mm512_add_epi32(_mm512_cvttps_epi32(n.0), _mm512_set1_epi32(127));
                Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(biased)))
            }
        }
    }
}

/// `fast_math::exp`, lane by lane (same constants, same operations, same order).
#[inline(always)]
pub fn exp<L: Lanes>(x_in: L) -> L {
    use super::fast_math::consts::*;
    let x = x_in.max(L::splat(EXP_MIN)).min(L::splat(EXP_MAX));
    let rounder = L::splat(ROUNDER);
    let n = x.mul(L::splat(LOG2E)).add(rounder).sub(rounder);
    let r = x.sub(n.mul(L::splat(LN2_HI))).sub(n.mul(L::splat(LN2_LO)));
    let mut p = L::splat(EXP_POLY[0]);
    for &c in &EXP_POLY[1..] {
        p = p.mul(r).add(L::splat(c));
    }
    let y = p.mul(r).mul(r).add(r).add(L::splat(1.0));
    let result = y.mul(L::pow2(n));
    let result = L::select_lt(L::splat(EXP_MAX), x_in, L::splat(f32::INFINITY), result);
    L::select_lt(x_in, L::splat(EXP_MIN), L::splat(0.0), result)
}

/// `fast_math::sigmoid`, lane by lane.
#[inline(always)]
pub fn sigmoid<L: Lanes>(x: L) -> L {
    let one = L::splat(1.0);
    // -0.0 - x is exactly -x, zeros included.
    one.div(one.add(exp(L::splat(-0.0).sub(x))))
}

/// `fast_math::tanh`, lane by lane.
#[inline(always)]
pub fn tanh<L: Lanes>(x: L) -> L {
    use super::fast_math::consts::*;
    let a = x.abs();
    let z = x.mul(x);
    let mut p = L::splat(TANH_POLY[0]);
    for &c in &TANH_POLY[1..] {
        p = p.mul(z).add(L::splat(c));
    }
    let small = p.mul(z).mul(x).add(x);
    let e = exp(L::splat(-2.0).mul(a));
    let one = L::splat(1.0);
    let large = one.sub(e).div(one.add(e)).copysign(x);
    L::select_lt(a, L::splat(TANH_SMALL), small, large)
}

/// Every lane gives the scalar `fast_math` function's bits (whose accuracy
/// tests/fast_math.rs bounds against f64), on the portable lanes and, where the CPU has them,
/// on AVX2 and AVX-512 registers. Here rather than in tests/: the register lanes are private
/// to the crate, as only code that checked the CPU may make them.
#[cfg(test)]
mod tests {
    use super::super::fast_math;
    use super::*;

    /// Inputs across the whole float range: a dense sweep near zero, where the formulas switch,
    /// a log-spaced sweep out to the overflow limits, and the special values.
    fn inputs() -> Vec<f32> {
        let mut xs: Vec<f32> = (-40_000..=40_000).map(|i| i as f32 * 2.5e-4).collect();
        let mut x = 1e-30f32;
        while x < 3e38 {
            xs.extend([x, -x]);
            x *= 1.07;
        }
        xs.extend([
            0.0,
            -0.0,
            0.625,
            -0.625,
            88.376_26,
            -87.336_55,
            88.5,
            -87.5,
            -104.0,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ]);
        while !xs.len().is_multiple_of(16) {
            xs.push(1.0);
        }
        xs
    }

    /// A function's name, its lanes version and its scalar version.
    type Pair<L> = (&'static str, fn(L) -> L, fn(f32) -> f32);

    fn check<L: Lanes>(what: &str) {
        let xs = inputs();
        let functions: [Pair<L>; 3] = [
            ("exp", exp::<L>, fast_math::exp),
            ("sigmoid", sigmoid::<L>, fast_math::sigmoid),
            ("tanh", tanh::<L>, fast_math::tanh),
        ];
        for (name, vector, scalar) in functions {
            let mut out = [0.0f32; 16];
            for chunk in xs.chunks_exact(16) {
                vector(L::load(chunk.try_into().unwrap())).store(&mut out);
                for (&x, &got) in chunk.iter().zip(&out) {
                    let want = scalar(x);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{what} {name}({x:e}): {got:e} vs scalar {want:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn portable_lanes_match_the_scalar_functions_bit_for_bit() {
        check::<Portable>("portable");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_lanes_match_the_scalar_functions_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!(
                "skipped: this CPU has no AVX2 and FMA (the portable lanes are tested above)"
            );
            return;
        }
        check::<Avx2>("avx2");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_lanes_match_the_scalar_functions_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipped: this CPU has no AVX-512F (the portable lanes are tested above)");
            return;
        }
        check::<Avx512>("avx512");
    }
}
