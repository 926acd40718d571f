//! Full-precision float32 exp, sigmoid and tanh written so the compiler can vectorise them.
//!
//! libm's scalar `expf`/`tanhf` took three quarters of the LSTM's time. These use the classic
//! Cephes approximations (Cody-Waite range reduction and a degree-6 polynomial for exp; an odd
//! polynomial near zero and the exp form elsewhere for tanh), branch-free, accurate to a few
//! float32 ulps: tests/fast_math.rs bounds them against f64 over the whole range.

/// The constants, shared with the vector versions in `lanes.rs`.
pub mod consts {
    pub const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two for exact range reduction (Cephes).
    pub const LN2_HI: f32 = 0.693_359_4;
    pub const LN2_LO: f32 = -2.121_944_4e-4;
    // exp overflows above 88.72 and is 0 below -103.97; clamping keeps 2^n representable.
    pub const EXP_MAX: f32 = 88.376_26;
    pub const EXP_MIN: f32 = -87.336_55;
    pub const ROUNDER: f32 = 12_582_912.0;
    /// exp's polynomial in r, highest degree first.
    pub const EXP_POLY: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ];
    /// tanh's odd polynomial in x^2 near zero, highest degree first.
    pub const TANH_POLY: [f32; 5] = [
        -5.704_988_7e-3,
        2.063_908_8e-2,
        -5.373_971_6e-2,
        1.333_144_2e-1,
        -3.333_328e-1,
    ];
    /// Below this |x|, tanh uses the polynomial (the exp form would cancel).
    pub const TANH_SMALL: f32 = 0.625;
}
use consts::*;

/// e^x for every float32 `x` (infinity above 88.37, 0 below -87.33).
#[inline(always)]
pub fn exp(x_in: f32) -> f32 {
    let x = x_in.clamp(EXP_MIN, EXP_MAX);
    // n = round(x / ln 2): adding and subtracting 1.5 * 2^23 rounds to the nearest integer in
    // plain float arithmetic (no floor call, so the loop vectorises on any x86-64).
    let n = (x * LOG2E + ROUNDER) - ROUNDER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = EXP_POLY[0];
    for &c in &EXP_POLY[1..] {
        p = p * r + c;
    }
    let y = p * r * r + r + 1.0;
    // 2^n by building the exponent bits directly.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    // Outside the range, overflow to infinity and flush to 0 (as e^x rounds there, give or
    // take subnormals) rather than return the clamp's value: sigmoid(-200) must be 0.
    let result = if x_in > EXP_MAX {
        f32::INFINITY
    } else {
        y * scale
    };
    if x_in < EXP_MIN { 0.0 } else { result }
}

/// 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh x: an odd polynomial for |x| < 0.625 (where the exp form would cancel), the exp form
/// `(1 - e^-2|x|) / (1 + e^-2|x|)` with the sign restored elsewhere. Both are computed and
/// one is selected, so the loop stays branch-free.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let mut p = TANH_POLY[0];
    for &c in &TANH_POLY[1..] {
        p = p * z + c;
    }
    let small = p * z * x + x;
    let e = exp(-2.0 * a);
    let large = ((1.0 - e) / (1.0 + e)).copysign(x);
    if a < TANH_SMALL { small } else { large }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_at_simple_points() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(tanh(20.0), 1.0);
        assert_eq!(tanh(-20.0), -1.0);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
        assert_eq!(exp(1000.0), f32::INFINITY);
        assert_eq!(exp(-1000.0), 0.0);
    }
}
