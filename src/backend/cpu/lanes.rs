//! Sixteen float32 lanes, written once and compiled two ways: `Avx512` (one `__m512`
//! register) on CPUs with AVX-512F, `Portable` (a `[f32; 16]` the compiler vectorises, with
//! AVX2 where the CPU has it) everywhere else. The LSTM kernels in `packed_lstm.rs` are
//! generic over `Lanes`, so both machines run the same algorithm.
//!
//! `exp`, `sigmoid` and `tanh` repeat `fast_math`'s scalar formulas operation for operation
//! (no fused multiply-adds), so every lane gives the scalar function's bits: tests/lanes.rs
//! checks that, and tests/fast_math.rs bounds the scalar functions against f64. Only
//! `mul_add`, used by the matrix products, fuses.

/// Sixteen float32 lanes and the operations the LSTM kernels need.
pub trait Lanes: Copy {
    /// Rows the product kernels keep in registers at once (the register budget differs).
    const ROWS: usize;
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

/// The portable lanes: plain arrays, one loop per operation.
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

impl Lanes for Portable {
    // Sixteen lanes are two AVX2 registers: two rows of four gate accumulators fill the 16.
    const ROWS: usize = 2;

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
pub use avx512::Avx512;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// One AVX-512 register. Values of this type exist only inside the `avx512f` entry
    /// points of `packed_lstm.rs`, which run after `is_x86_feature_detected!("avx512f")`:
    /// that check is what makes the `unsafe` blocks below sound.
    #[derive(Clone, Copy, Debug)]
    pub struct Avx512(__m512);

    impl Lanes for Avx512 {
        // 32 registers: six rows of four gate accumulators, four for the weights.
        const ROWS: usize = 6;

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
