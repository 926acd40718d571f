//! The vector exp, sigmoid and tanh of `lanes.rs` give, lane for lane, the bits of the scalar
//! `fast_math` functions (whose accuracy tests/fast_math.rs bounds against f64), on the
//! portable lanes and, where the CPU has them, on AVX2 and AVX-512 registers.

use dga_lite::backend::cpu::fast_math;
use dga_lite::backend::cpu::lanes::{self, Lanes, Portable};

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
        ("exp", lanes::exp::<L>, fast_math::exp),
        ("sigmoid", lanes::sigmoid::<L>, fast_math::sigmoid),
        ("tanh", lanes::tanh::<L>, fast_math::tanh),
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
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        eprintln!("skipped: this CPU has no AVX2 and FMA (the portable lanes are tested above)");
        return;
    }
    check::<lanes::Avx2>("avx2");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_lanes_match_the_scalar_functions_bit_for_bit() {
    if !std::arch::is_x86_feature_detected!("avx512f") {
        eprintln!("skipped: this CPU has no AVX-512F (the portable lanes are tested above)");
        return;
    }
    check::<lanes::Avx512>("avx512");
}
